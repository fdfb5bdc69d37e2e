"""Metric tables read from a columnar dataset (Arrow, whole months) as the frames a diagnosis takes:
sorted by month and id, the indicators one float64 block."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _order(table, key: str) -> np.ndarray:
    """The rows of a metrics table (``ParquetDir._months``) in order of month, then id by code point, as the
    CSV reader sorts them. Ids are ranked among their distinct values and the (month, rank) pairs sorted as
    integers: the rows come month by month and in id order within each file, so the sort mostly finds
    runs, where a sort on (month, id string) costs 2.5x that."""
    import pyarrow.compute as pc

    ids = table.column(key)
    distinct = pc.unique(ids)
    distinct = distinct.take(pc.sort_indices(distinct))
    rank = pc.index_in(ids, value_set=distinct).to_numpy()
    return np.argsort(table.column("pidx").to_numpy() * len(distinct) + rank, kind="stable")


def stacked(parts: list, key: str, indicators: list[str]) -> pd.DataFrame:
    """Metric tables (``ParquetDir._months``, each of whole months, in month order) as one frame sorted by
    month and id: pidx, period, the key, then ``indicators`` as float64, NaN where a part has not read one.
    The indicators are written into one float block, straight from Arrow (a pandas take and concat of the
    frames cost three times that)."""
    import pyarrow as pa

    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "pidx" else object if c in ("period", key)
                                          else np.float64) for c in ["pidx", "period", key, *indicators]})
    orders = [_order(part, key) for part in parts]
    total = sum(len(order) for order in orders)
    block = np.empty((len(indicators), total))
    for row, name in enumerate(indicators):
        start = 0
        for part, order in zip(parts, orders, strict=True):
            end = start + len(order)
            if name in part.column_names:
                np.take(part.column(name).to_numpy(), order, out=block[row, start:end])
            else:
                block[row, start:end] = np.nan
            start = end
    frame = pd.DataFrame(block.T, columns=indicators, copy=False)
    frame.insert(0, "pidx", np.concatenate([part.column("pidx").to_numpy()[order]
                                            for part, order in zip(parts, orders, strict=True)]))
    for at, name in ((1, "period"), (2, key)):
        # One string type for both parts: this writer's files hold ``string`` ids, an earlier version's
        # (or pandas 3's) ``large_string`` (a scan matches later files to the first, two scans do not).
        frame.insert(at, name, pa.chunked_array([part.column(name).combine_chunks().cast(pa.large_string())
                                                 .take(pa.array(order))
                                                 for part, order in zip(parts, orders, strict=True)]).to_pandas())
    return frame


__all__ = ["stacked"]
