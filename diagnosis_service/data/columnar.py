"""A columnar, partitioned dataset (Parquet): the district's data as typed columns, checked once when
written, so that a diagnosis reads only the months and columns it needs and checks nothing again.

Layout of a dataset directory (``diagnosis-service data convert DIR OUT`` writes it from a CSV
directory)::

    _dataset.json                        format, periods, streets, indicator columns, row counts
    branches.parquet                     branch_id, name, type, street
    members.parquet                      member_id, branch_id, name
    branch_metrics/<period>/s0003.parquet      period, branch_id, one float64 column per indicator
    member_metrics/<period>/s0003.parquet      period, member_id, ...: a branch's members in its street

A month is one directory per subject and a street one file in it (named by the street's place in
``_dataset.json``'s list: a street name may be longer than a file name can be, or differ from another
only by case), so appending a month writes new files only. The whole directory is written next to its
place and renamed into it: a reader sees the old dataset or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..periods import months_before, parse_period
from ..rules.model import Registry
from .model import KEYS, Dataset
from .sources import HISTORY_MONTHS

FORMAT = 2  # 2: street files named by their place in the list
MARKER = "_dataset.json"


def is_dataset(path: Path) -> bool:
    return (Path(path) / MARKER).is_file()


def _street(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def street_file(index: int) -> str:
    """The file of the street at ``index`` in the dataset's list of streets ("" is no street)."""
    return f"s{index:04d}"


def write_dataset(dataset: Dataset, out: Path, registry: Registry) -> dict:
    """Write a validated dataset as a partitioned Parquet directory, whole or not at all. Returns the
    description kept in ``_dataset.json``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        branches = dataset.branches.reset_index()[["branch_id", "name", "type", "street"]]
        members = dataset.members.reset_index()[["member_id", "branch_id", "name"]]
        pq.write_table(pa.Table.from_pandas(branches, preserve_index=False), tmp / "branches.parquet")
        pq.write_table(pa.Table.from_pandas(members, preserve_index=False), tmp / "members.parquet")
        streets_list = sorted({_street(s) for s in dataset.branches["street"]})
        file_of = {name: street_file(i) for i, name in enumerate(streets_list)}
        street_of = {b: file_of[_street(s)] for b, s in dataset.branches["street"].items()}
        member_branch = dataset.members["branch_id"].to_dict()
        columns, counts = {}, {}
        for subject in ("branch", "member"):
            key = KEYS[subject]
            frame = dataset.metrics(subject)
            cols = [c for c in frame.columns if c not in ("pidx", "period", key)]
            columns[subject] = cols
            counts[subject] = int(len(frame))
            branch = frame[key] if subject == "branch" else frame[key].map(member_branch)
            streets = branch.map(street_of)
            for (period, street), part in frame.groupby([frame["period"], streets], sort=True):
                folder = tmp / f"{subject}_metrics" / str(period)
                folder.mkdir(parents=True, exist_ok=True)
                table = pa.Table.from_pandas(part[["period", key, *cols]].sort_values(key, kind="stable"),
                                             preserve_index=False)
                pq.write_table(table, folder / f"{street}.parquet")
        periods = dataset.periods()
        description = {"format": FORMAT, "periods": periods,
                       "streets": streets_list,
                       "columns": columns, "rows": counts, "branches": int(len(branches)),
                       "members": int(len(members))}
        (tmp / MARKER).write_text(json.dumps(description, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                  encoding="utf-8")
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)  # left by a convert that stopped between its two renames
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return description


class ParquetDir:
    """A dataset written by ``data convert``: the months a diagnosis needs, read as typed columns."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.name = str(directory)

    def describe(self) -> dict:
        try:
            description = json.loads((self.directory / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(Problem(f"not a dataset directory ({exc.__class__.__name__})",
                                     file=str(self.directory / MARKER),
                                     suggestion="write one with: diagnosis-service data convert DIR OUT")) from None
        if description.get("format") != FORMAT:
            raise InputError(Problem(f"dataset format {description.get('format')!r}; this version reads {FORMAT}",
                                     file=str(self.directory / MARKER), suggestion="convert the data again"))
        return description

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS) -> Dataset:
        import pyarrow as pa
        import pyarrow.parquet as pq

        description = self.describe()
        have = description["periods"]
        wanted = [p for p in (months_before(period, months) if period else have) if p in set(have)]
        frames = {}
        for subject in ("branch", "member"):
            key = KEYS[subject]
            missing = [i.id for i in registry.reported(subject) if i.id not in description["columns"][subject]]
            if missing:
                raise InputError(Problem(f"the dataset has no column for {', '.join(missing[:5])}",
                                         file=str(self.directory / MARKER),
                                         suggestion="the registry changed since it was written: convert the data "
                                                    "again"))
            cols = ["period", key, *description["columns"][subject]]
            tables = []
            for p in wanted:  # a month's files at a time: its month index is one number, not a lookup a row
                files = sorted(str(f) for f in (self.directory / f"{subject}_metrics" / p).glob("*.parquet"))
                if files:
                    table = pq.ParquetDataset(files).read(columns=cols)
                    tables.append(table.add_column(0, "pidx", pa.array(np.full(table.num_rows, parse_period(p),
                                                                                  dtype=np.int64))))
            if tables:
                # Sorted by Arrow (month, then id by code point: as the CSV reader sorts), then to pandas.
                frame = pa.concat_tables(tables).sort_by([("pidx", "ascending"), (key, "ascending")]).to_pandas()
            else:
                frame = pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "pidx" else object if c in ("period", key)
                                                   else np.float64) for c in ["pidx", *cols]})
            frames[subject] = frame.reset_index(drop=True)
        branches = pq.read_table(self.directory / "branches.parquet").to_pandas().set_index("branch_id")
        members = pq.read_table(self.directory / "members.parquet").to_pandas().set_index("member_id")
        # As the CSV reader gives them: plain objects, the ids in the index.
        branches, members = branches.astype(object), members.astype(object)
        branches.index = branches.index.astype(object)
        members.index = members.index.astype(object)
        return Dataset(branches, members, frames["branch"], frames["member"], source=str(self.directory))


__all__ = ["FORMAT", "MARKER", "ParquetDir", "is_dataset", "street_file", "write_dataset"]
