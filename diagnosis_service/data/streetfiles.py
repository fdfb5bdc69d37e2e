"""A dataset's street files: each street's organisations and metric rows written as Parquet, the names
they go by, and the inventory of them that ``_dataset.json`` keeps (``columnar`` has the layout)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .carried import folder as carry_folder
from .model import KEYS


def inventory(*roots: Path, carry_set: str | None = None) -> dict[str, list[list[int]]]:
    """``_dataset.json``'s ``files``: the street files each folder of a dataset holds (the union over
    ``roots``: a dataset being written, and the one an append adds to), as ranges of street indexes
    (``[[0, 16]]``: s0000 to s0016). A street with no rows in a month has no file there, so without this
    a reader could not tell such a street from a file lost on the way (an interrupted copy or sync) and
    diagnosed the month without it, exit 0. ``carry_set``: the kept values' set to list too."""
    found: dict[str, set[int]] = {}

    def add(key: str, directory: Path) -> None:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            stem = entry.name[:-len(".parquet")]
            if entry.name.endswith(".parquet") and stem[:1] == "s" and stem[1:].isdigit():
                found.setdefault(key, set()).add(int(stem[1:]))

    for root in map(Path, roots):
        folders = ["branches", "members"]
        for base in ["branch_metrics", "member_metrics",
                     *((carry_folder(carry_set, s) for s in ("branch", "member")) if carry_set else ())]:
            if (root / base).is_dir():
                folders += [f"{base}/{month.name}" for month in sorted((root / base).iterdir()) if month.is_dir()]
        for key in folders:
            add(key, root / key)
    return {key: _ranges(sorted(indexes)) for key, indexes in sorted(found.items())}


def inventory_ok(listed: object) -> bool:
    """Whether ``listed`` has the shape ``inventory`` gives: folder -> [[first, last], ...]."""
    return isinstance(listed, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(i, int) and not isinstance(i, bool) for i in r)
            for r in v) for k, v in listed.items())


def _ranges(indexes: list[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in indexes:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def _street(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def street_file(index: int) -> str:
    """The file of the street at ``index`` in the dataset's list of streets ("" is no street)."""
    return f"s{index:04d}"


def _table(frame: pd.DataFrame):
    """``frame`` as an Arrow table. Column by column, not ``Table.from_pandas``: the same types and bytes
    without building the pandas metadata that ``_write`` drops (a quarter of the time of writing)."""
    import pyarrow as pa

    return pa.Table.from_arrays([pa.array(frame[c], from_pandas=True) for c in frame.columns],
                                names=[str(c) for c in frame.columns])


def _write(data, path: Path) -> None:
    """``data`` (a frame, or a table ``_table`` made) as a Parquet file at ``path``."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    # No pandas or Arrow schema in the footer (Parquet's types suffice): a month's read opens 800 files,
    # and decoding their 12 KB of base64 each cost more than reading what they hold.
    pq.write_table(_table(data) if isinstance(data, pd.DataFrame) else data, path, store_schema=False)


def write_street_orgs(root: Path, street: str, branches: pd.DataFrame, members: pd.DataFrame,
                      street_of: pd.Series, member_street: pd.Series) -> int:
    """The branches and members files of one street (``street``: its file name) under ``root``; returns its
    members. ``street_of``: each branch's street file; ``member_street``: each member's (aligned)."""
    mine = members[member_street.to_numpy() == street]
    _write(branches[street_of.to_numpy() == street].sort_values("branch_id", kind="stable"),
           root / "branches" / f"{street}.parquet")
    _write(mine.sort_values("member_id", kind="stable"), root / "members" / f"{street}.parquet")
    return int(len(mine))


def write_street_metrics(root: Path, subject: str, frame: pd.DataFrame, columns: list[str], street_of: pd.Series,
                         member_street: pd.Series, members: pd.DataFrame) -> None:
    """A subject's metric rows under ``root``, a file per month and street, each sorted by id."""
    key = KEYS[subject]
    streets = frame[key].map(street_of) if subject == "branch" else \
        frame[key].map(pd.Series(member_street.to_numpy(), index=members["member_id"]))
    # Converted to Arrow once and each file's rows taken from it: converting each file's columns on their
    # own was most of the time of writing a dataset (its files are many and small: a month x a street).
    table = _table(frame[["period", key, *columns]])
    ids = frame[key].to_numpy()
    for (period, f), rows in sorted(frame.groupby([frame["period"], streets], sort=True).indices.items()):
        rows = rows[np.argsort(ids[rows], kind="stable")]  # by id, as sort_values(key, kind="stable")
        _write(table.take(rows), root / f"{subject}_metrics" / str(period) / f"{f}.parquet")


__all__ = ["inventory", "inventory_ok", "street_file", "write_street_metrics", "write_street_orgs"]
