"""Derived indicators kept with each month of a columnar dataset (``data carry``): the runs, windows and
year-to-date sums a diagnosis of that month computes from its history, so that it reads the month
instead (``sources.Carry``, planned by ``engine.lookback.carry_plan``, computed by ``pipeline.carry``).

Layout, beside the metrics (``columnar``)::

    carry/<set>/<subject>/<period>/s0003.parquet   the key, one float64 column per kept indicator

``<set>`` names the fingerprints the values were computed under, and ``_dataset.json`` says which
months hold them::

    "carry": {"set": "<set>", "fingerprints": {subject: {indicator: fingerprint}}, "periods": [...]}

A reader uses them only when every indicator it would keep has the same fingerprint there and its month
is listed; otherwise it reads the history, as without them. Files of a new set are written under a new
folder and the description replaced last, so a reader never mixes two sets.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, Problem
from .sources import Carry

if TYPE_CHECKING:
    from .columnar import ParquetDir

FOLDER = "carry"


def set_id(fingerprints: dict) -> str:
    """A short name for a set of fingerprints (a folder name)."""
    text = json.dumps(fingerprints, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def folder(setname: str, subject: str) -> str:
    return f"{FOLDER}/{setname}/{subject}"


def usable(description: dict, carry: Carry, period: str | None) -> str | None:
    """The set whose files hold every indicator ``carry`` keeps, under the same fingerprints, for ``period``;
    None when the dataset has none such (it is then read with its history)."""
    held = description.get("carry")
    if not held or period not in held.get("periods", ()):
        return None
    have = held.get("fingerprints", {})
    for subject, wanted in carry.fingerprints.items():
        for indicator, fingerprint in wanted.items():
            if have.get(subject, {}).get(indicator) != fingerprint:
                return None
    return held.get("set")


def with_carried(source: ParquetDir, setname: str, subject: str, period: str, names: list[str], month,
                 key: str, indicators: list[str]):
    """``month`` (an Arrow table of the period's rows, ``ParquetDir._months``) with the kept ``indicators``
    added as columns, matched by id."""
    import pyarrow.compute as pc

    kept = source._months(subject, [period], names, [key, *indicators], folder=folder(setname, subject))
    where = pc.index_in(month.column(key), value_set=kept.column(key)) if kept is not None else None
    if where is None or where.null_count:
        raise InputError(Problem(f"the derived indicators kept for {period} miss some {subject}s of that month",
                                 file=source._path(folder(setname, subject), period),
                                 suggestion="compute them again: diagnosis-service data carry DATASET"))
    for name in indicators:
        month = month.append_column(name, kept.column(name).take(where))
    return month


def write_month(root: Path, setname: str, subject: str, period: str, street: str, key: str, ids: np.ndarray,
                values: dict[str, np.ndarray]) -> None:
    """One month and street of kept indicators: the subjects' ``ids`` and each indicator's ``values``
    (float64, aligned; a reader matches them by id)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = root / folder(setname, subject) / period / f"{street}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({key: pa.array(ids, pa.string()),
                      **{name: pa.array(np.asarray(column, dtype=np.float64), pa.float64(), from_pandas=False)
                         for name, column in values.items()}})
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp, store_schema=False)
    os.replace(tmp, target)


def stale_dropped(description: dict, added: list[str]) -> dict:
    """``description`` after months ``added``: kept values of later months counted without them, so they
    are no longer listed (``data carry`` computes them again)."""
    held = description.get("carry")
    if not held or not added:
        return description
    first = min(added)
    return {**description, "carry": {**held, "periods": [p for p in held.get("periods", []) if p < first]}}


__all__ = ["FOLDER", "folder", "set_id", "stale_dropped", "usable", "with_carried", "write_month"]
