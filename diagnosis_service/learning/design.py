"""The effect fits' one-hot design: the rows' features (``features.one_hot``) as a sparse matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from .features import FEATURES, NUMBERS, numbers, on_site_value, onsite_name

# Columns a frame from before them may lack, and what they then are: no repeats, nothing on site, no
# earlier list for the weakness.
ADDED_LATER = ("repeat", "repeat_kind", "on_site", "repeat_adopted", "weakness_months")


def feature_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The FEATURES columns of ``X``; without ``repeat``, ``repeat_kind``, ``on_site``,
    ``repeat_adopted`` or ``weakness_months`` (a frame from before them), no repeats, nothing on site
    and no earlier list for the weakness."""
    return X.assign(**{c: 0.0 for c in ADDED_LATER if c not in X.columns})[list(FEATURES)]


# What features.numbers reads.
_NUMBER_SOURCES = ("shortfall", "members", "repeat", "repeat_kind", "repeat_adopted", "weakness_months")


def one_hot_design(rows: pd.DataFrame, left_out: Sequence[str] = ()) -> tuple[list[str], sparse.csr_matrix]:
    """The names of the one-hot design's columns (every one_hot feature of ``rows``, sorted) and the
    design: the matrix ``DictVectorizer(sort=True).fit_transform`` makes of the rows' one_hot dicts, the
    same to the bit (a feature whose value is 0 is stored too). Built from the names, column by column:
    a dict a row through the vectorizer took a third of a fit. ``left_out``: NUMBERS features not in the
    design at all (a model fitted without them is the one fitted before they existed, to the bit)."""
    frame = feature_frame(rows)
    if frame.empty:
        raise ValueError("Sample sequence X is empty.")  # as the vectorizer says it
    kind, btype, topic = (frame[c].to_numpy(dtype=object) for c in ("kind", "branch_type", "topic"))
    # categorical_names' texts, one column each, in its order.
    columns = [[f"resource={v}" for v in frame["resource_id"].to_numpy(dtype=object)],
               [f"kind={v}" for v in kind],
               [f"kind_type={k}|{b}" for k, b in zip(kind, btype, strict=True)],
               [f"topic={v}" for v in topic],
               [f"kind_topic={k}|{t}" for k, t in zip(kind, topic, strict=True)],
               [f"main={bool(v)}" for v in frame["main_topic"].to_numpy(dtype=object)],
               [f"street={v if isinstance(v, str) else ''}" for v in frame["street"].to_numpy(dtype=object)]]
    # The street x on-site feature: its name for every row, its value 1.0 or 0.0 (stored either way).
    columns.append([onsite_name(v) for v in frame["street"].to_numpy(dtype=object)])
    kept = [k for k, name in enumerate(NUMBERS) if name not in left_out]
    names = sorted({*(NUMBERS[k] for k in kept), *(name for column in columns for name in column)})
    at = pd.Index(names)
    n, width = len(frame), len(columns) + len(kept)
    indices = np.empty((n, width), dtype=np.int64)
    for j, column in enumerate(columns):
        indices[:, j] = at.get_indexer(column)
    indices[:, len(columns):] = at.get_indexer([NUMBERS[k] for k in kept])
    values = np.ones((n, width))
    values[:, len(columns) - 1] = [on_site_value(v) for v in frame["on_site"].to_numpy(dtype=object)]
    values[:, len(columns):] = np.array([numbers(r) for r in frame[list(_NUMBER_SOURCES)].itertuples(index=False)],
                                        dtype=float).reshape(n, len(NUMBERS))[:, kept]
    order = np.argsort(indices, axis=1)  # a row's columns ascending, as the vectorizer's sorted matrix has them
    matrix = sparse.csr_matrix((np.take_along_axis(values, order, axis=1).ravel(),
                                np.take_along_axis(indices, order, axis=1).ravel(),
                                np.arange(0, n * width + 1, width)), shape=(n, len(names)))
    # scipy narrows the index arrays where it can; the vectorizer's column selection leaves them 64-bit.
    matrix.indices, matrix.indptr = matrix.indices.astype(np.int64), matrix.indptr.astype(np.int64)
    return names, matrix


__all__ = ["ADDED_LATER", "feature_frame", "one_hot_design"]
