"""A columnar, partitioned dataset (Parquet): the district's data as typed columns, checked once when
written, so that a diagnosis reads only the months and columns it needs and checks nothing again.

Layout of a dataset directory (``diagnosis-service data convert DIR OUT`` writes it from a CSV
directory, ``simulate --scale K`` a simulated province straight away)::

    _dataset.json                        format, periods, streets (and members in each), columns, counts,
                                         and which street files each folder holds (``files``)
    branches/s0003.parquet               branch_id, name, type, street: the street's branches
    members/s0003.parquet                member_id, branch_id, name: their members
    branch_metrics/<period>/s0003.parquet      period, branch_id, one float64 column per indicator
    member_metrics/<period>/s0003.parquet      period, member_id, ...
    carry/<set>/<subject>/<period>/s0003.parquet   derived values kept with the month (``carried``)

A street is a partition: its branches with all their members, so a part of the district can be
diagnosed from its own files (``engine.partitioned``, ``diagnose --engine dask``). A street's files are
named by its place in ``_dataset.json``'s list (a street name may be longer than a file name can be,
or differ from another only by case), and a month is one directory per subject, so appending a month
writes new files only. The whole directory is written next to its place and renamed into it: a reader
sees the old dataset or the new one.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..periods import months_before, parse_period, require_period_in
from ..rules.model import Registry
from .arrowframes import stacked
from .carried import usable, with_carried
from .files import one_writer, replace_dir, temp_dir
from .locations import MARKER, filesystem, is_dataset, is_url
from .model import KEYS, Dataset
from .months import InMemoryMonths, Months
from .sources import HISTORY_MONTHS, Carry, Lookback
from .streetfiles import (
    _street,
    inventory,
    inventory_ok,
    street_file,
    write_street_metrics,
    write_street_orgs,
)

FORMAT = 3  # 2: street files named by their place in the list; 3: organisations per street too


class DatasetWriter:
    """Writes a dataset part by part (``add``: whole streets, e.g. a district at a time) into a directory
    beside ``out``, renamed into place by ``commit``; a writer left without it leaves nothing behind.
    Memory is one part's: what was added is on disk. Used as a context manager, it holds a dataset already
    at ``out`` for itself from start to commit (``files.one_writer``): an append still writing there
    would otherwise go on renaming its files into the new directory."""

    def __init__(self, out: Path, what: str = "data convert"):
        self.out = Path(out)
        self.what = what
        self._held = ExitStack()
        # Renamed into place: with the mode any new directory gets (workers of another user read it).
        self.tmp = temp_dir(self.out)
        self.streets: list[str] = []
        self.street_members: list[int] = []
        self.periods: set[str] = set()
        self.columns: dict[str, list[str]] | None = None
        self.rows = {"branch": 0, "member": 0}
        self.branches = self.members = 0

    def __enter__(self) -> DatasetWriter:
        try:
            self._held.enter_context(one_writer(self.out, self.what, MARKER))
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            shutil.rmtree(self.tmp, ignore_errors=True)  # after commit the directory is gone already
        finally:
            self._held.close()

    def add(self, dataset: Dataset) -> None:
        """Write every street of ``dataset`` (streets sorted by name); a street already written is refused."""
        self.add_months(InMemoryMonths(dataset))

    def add_months(self, source: Months) -> None:
        """``add`` from a source read a month at a time (e.g. a CSV directory checked and spilled to disk):
        memory is the organisations and one month."""
        dataset = source.orgs
        branches = dataset.branches.reset_index()[["branch_id", "name", "type", "street"]]
        members = dataset.members.reset_index()[["member_id", "branch_id", "name"]]
        names = sorted({_street(s) for s in branches["street"]})
        again = sorted(set(names) & set(self.streets))
        if again:
            raise ValueError(f"street {again[0]!r} was written by an earlier part")
        file_of = {name: street_file(len(self.streets) + i) for i, name in enumerate(names)}
        street_of = pd.Series([file_of[_street(s)] for s in branches["street"]], index=branches["branch_id"])
        member_street = members["branch_id"].map(street_of)
        for name in names:
            self.street_members.append(write_street_orgs(self.tmp, file_of[name], branches, members, street_of,
                                                         member_street))
        self.streets += names
        columns = source.columns()
        if self.columns is not None and columns != self.columns:
            raise ValueError("a part has other indicator columns than the parts before it")
        self.columns = columns
        for period in source.periods:
            for subject, frame in source.month(period):
                self.rows[subject] += int(len(frame))
                write_street_metrics(self.tmp, subject, frame, columns[subject], street_of, member_street, members)
        self.periods |= set(source.periods)
        self.branches += int(len(branches))
        self.members += int(len(members))

    def commit(self) -> dict:
        """Describe what was written and put it in place (replacing a dataset there). Returns the description."""
        description = {"format": FORMAT, "periods": sorted(self.periods), "streets": self.streets,
                       "street_members": self.street_members, "columns": self.columns or {},
                       "rows": self.rows, "branches": self.branches, "members": self.members,
                       "files": inventory(self.tmp)}
        (self.tmp / MARKER).write_text(description_text(description), encoding="utf-8")
        replace_dir(self.tmp, self.out)
        return description


def description_text(description: dict) -> str:
    """``_dataset.json``'s text for ``description`` (every writer of a dataset writes it this way)."""
    return json.dumps(description, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def write_dataset(dataset: Dataset | Months, out: Path, registry: Registry) -> dict:
    """Write a validated dataset (or a source read a month at a time) as a partitioned Parquet directory,
    whole or not at all. Returns the description kept in ``_dataset.json``."""
    with DatasetWriter(out) as writer:
        writer.add_months(InMemoryMonths(dataset) if isinstance(dataset, Dataset) else dataset)
        return writer.commit()


class ParquetDir:
    """A dataset written by ``data convert``: the months a diagnosis needs, read as typed columns. It is a
    directory, or an fsspec URL (``s3://bucket/province``, ``file:///mnt/shared/province``: workers of a
    cluster read it from shared storage), read only."""

    def __init__(self, directory: str | Path):
        self.name = str(directory)
        if is_url(directory):
            self.fs, root = filesystem(str(directory))
            self.root = root.rstrip("/")
        else:
            self.fs, self.root = None, os.fspath(directory)
        self.directory = Path(self.root) if self.fs is None else self.root
        self._listed: dict | None = None  # the description's ``files`` (None: a dataset written before it)
        self._expected: dict[str, set[int]] = {}

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts]) if self.fs is not None else os.path.join(self.root, *parts)

    def _files(self, key: str, names: list[str]) -> list[str]:
        """The files ``<name>.parquet`` of the folder ``key`` (``branch_metrics/2025-12``) that exist: a
        street may have no rows in a month. InputError when one the description lists is missing."""
        parts = key.split("/")
        folder = self._path(*parts)
        if self.fs is None:
            there = {n for n in names if os.path.isfile(os.path.join(folder, f"{n}.parquet"))}
        else:
            try:
                listing = {posixpath.basename(p) for p in self.fs.ls(folder, detail=False)}
            except FileNotFoundError:
                listing = set()
            there = {n for n in names if f"{n}.parquet" in listing}
        if self._listed is not None:
            if key not in self._expected:
                self._expected[key] = {i for a, b in self._listed.get(key, ()) for i in range(a, b + 1)}
            lost = [n for n in names if int(n[1:]) in self._expected[key] and n not in there]
            if lost:
                first = self._path(*parts, f"{lost[0]}.parquet")
                raise InputError(Problem(
                    f"{len(lost)} file{'s' if len(lost) != 1 else ''} of the dataset missing, that its description "
                    f"lists ({', '.join(f'{n}.parquet' for n in lost[:5])}{', ...' if len(lost) > 5 else ''})",
                    file=first, suggestion="copy the dataset again whole (an interrupted copy or sync leaves files "
                                           "out), or write it again: diagnosis-service data convert DIR OUT"))
        return [self._path(*parts, f"{n}.parquet") for n in names if n in there]

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """A file that is not Parquet (cut short, overwritten) as an InputError, not pyarrow's traceback."""
        import pyarrow as pa

        try:
            yield
        except (pa.ArrowInvalid, OSError) as exc:
            text = " ".join(str(exc).split())
            raise InputError(Problem(f"a file of the dataset cannot be read: {text[:400]}", file=self.name,
                                     suggestion="copy the dataset again whole, or write it again: "
                                                "diagnosis-service data convert DIR OUT")) from None

    def describe(self) -> dict:
        marker = self._path(MARKER)
        try:
            if self.fs is None:
                text = Path(marker).read_text(encoding="utf-8")
            else:
                text = self.fs.cat_file(marker).decode("utf-8")
            description = json.loads(text)
        except FileNotFoundError:
            where = self.root if self.fs is not None or Path(self.root).exists() else None
            raise InputError(Problem("not a dataset: it has no description file" if where else
                                     "dataset directory not found", file=marker if where else str(self.root),
                                     suggestion="write one with: diagnosis-service data convert DIR OUT")) from None
        except (OSError, ValueError) as exc:
            raise InputError(Problem(f"unreadable dataset description ({exc.__class__.__name__})", file=marker,
                                     suggestion="write the dataset again: diagnosis-service data convert DIR OUT")) from None
        if not isinstance(description, dict):
            raise InputError(Problem(f"unreadable dataset description (a JSON {type(description).__name__}, not an "
                                     "object)", file=marker,
                                     suggestion="write the dataset again: diagnosis-service data convert DIR OUT"))
        if description.get("format") != FORMAT:
            raise InputError(Problem(f"dataset format {description.get('format')!r}; this version reads {FORMAT}",
                                     file=marker, suggestion="convert the data again"))
        listed = description.get("files")
        if listed is not None and not inventory_ok(listed):
            raise InputError(Problem("unreadable dataset description: 'files' is not a map of folders to ranges "
                                     "of street indexes ([[first, last], ...])", file=marker,
                                     suggestion="write the dataset again: diagnosis-service data convert DIR OUT"))
        self._listed, self._expected = listed, {}
        return description

    def partitions(self) -> list[tuple[int, int]]:
        """Every street as (its index, its members): the parts ``load(streets=...)`` reads."""
        description = self.describe()
        return list(enumerate(description["street_members"]))

    def _months(self, subject: str, months: list[str], names: list[str], columns: list[str],
                folder: str | None = None):
        """The metric rows of ``months`` (the streets ``names``) as one Arrow table: pidx, period, then
        ``columns``; None when there are none. One scan over every file (a file costs about a
        millisecond of its own, and a district has a thousand). A row's month is its folder's name, so
        the stored ``period`` column is not read: a month index and a month name a folder, not a row.
        ``folder``: another folder of month folders than the subject's metrics (``data.carried``)."""
        import pyarrow as pa
        import pyarrow.dataset as pads

        base = self._path(folder or f"{subject}_metrics")
        found = [(p, self._files(f"{folder or f'{subject}_metrics'}/{p}", names)) for p in months]
        found = [(p, files) for p, files in found if files]
        if not found:
            return None
        dictionary = pa.array([p for p, _ in found], pa.string())
        partitioning = pads.partitioning(pa.schema([("month", pa.dictionary(pa.int32(), pa.string()))]),
                                         dictionaries={"month": dictionary})
        with self._reading():
            table = pads.dataset([f for _, files in found for f in files], format="parquet", filesystem=self.fs,
                                 partitioning=partitioning, partition_base_dir=base).to_table(columns=[*columns, "month"])
        month = table.column("month").combine_chunks()
        which = month.indices.to_numpy(zero_copy_only=False)
        pidx = np.array([parse_period(p) for p in month.dictionary.to_pylist()], dtype=np.int64)[which]
        table = table.drop_columns(["month"])
        return (table.add_column(0, "period", month.dictionary.take(month.indices).cast(pa.large_string()))
                .add_column(0, "pidx", pa.array(pidx)))

    def load(self, registry: Registry, period: str | None = None, months: int = HISTORY_MONTHS,
             streets: list[int] | None = None, metrics: tuple[str, ...] = ("branch", "member"),
             organisations: bool = True, lookback: Lookback | None = None, carry: Carry | None = None) -> Dataset:
        """The dataset (``streets``: only those streets, by index), with the months up to ``period``;
        the metric rows of the subjects in ``metrics`` only (the others' tables are empty), and without
        the organisations' files when ``organisations`` is false (their tables are empty then).
        ``lookback`` (with ``period``): of the months before it, only these indicators per subject are
        read, the others are missing (``Dataset.complete_from``). ``carry`` (with ``lookback``): when the
        dataset keeps those derived values for ``period`` under the same fingerprints (``data.carried``),
        they are read as columns of the month and the months before it only as far as ``Carry`` says."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        description = self.describe()
        have = description["periods"]
        if period is not None:  # else an empty month, and "periods in the data: none" said of it
            require_period_in(period, have)
        wanted = [p for p in (months_before(period, months) if period else have) if p in set(have)]
        names = [street_file(i) for i in (range(len(description["streets"])) if streets is None else streets)]

        def read(folder: str, columns: list[str] | None = None) -> pa.Table | None:
            files = self._files(folder, names)
            if not files:
                return None
            with self._reading():
                return pq.ParquetDataset(files, filesystem=self.fs).read(columns=columns)

        frames = {}
        pruned = lookback is not None and period is not None
        kept = usable(description, carry, period) if pruned and carry is not None else None
        if kept is not None:
            lookback = carry.lookback
        for subject in ("branch", "member"):
            key = KEYS[subject]
            missing = [i.id for i in registry.reported(subject) if i.id not in description["columns"][subject]]
            if missing:
                raise InputError(Problem(f"the dataset has no column for {', '.join(missing[:5])}",
                                         file=self._path(MARKER),
                                         suggestion="the registry changed since it was written: convert the data "
                                                    "again"))
            indicators = description["columns"][subject]
            months_read = wanted if subject in metrics else []
            extra: list[str] = []
            if pruned:  # every earlier month comes before the period: two parts, stacked in that order
                earlier = [p for p in months_read if p != period]
                if kept is not None:
                    earlier = [] if subject in carry.skip_earlier else \
                        earlier[max(0, len(earlier) - carry.depth.get(subject, len(earlier))):]
                month = self._months(subject, [p for p in months_read if p == period], names, [key, *indicators])
                if kept is not None and carry.indicators(subject):
                    extra = carry.indicators(subject)  # NaN, with the rest, when the month has no rows
                    if month is not None:
                        month = with_carried(self, kept, subject, period, names, month, key, extra)
                parts = [self._months(subject, earlier, names,
                                      [key, *(c for c in indicators if c in lookback[subject])]), month]
            else:
                parts = [self._months(subject, months_read, names, [key, *indicators])]
            frame = stacked([p for p in parts if p is not None], key, [*indicators, *extra])
            frames[subject] = frame.reset_index(drop=True)
        orgs = {}
        for kind, key, cols in (("branches", "branch_id", ["branch_id", "name", "type", "street"]),
                                ("members", "member_id", ["member_id", "branch_id", "name"])):
            table = read(kind) if organisations else None
            frame = (table.sort_by([(key, "ascending")]).to_pandas() if table is not None
                     else pd.DataFrame({c: pd.Series(dtype=object) for c in cols}))
            # As the CSV reader gives them: plain objects, the ids in the index.
            frame = frame.set_index(key).astype(object)
            frame.index = frame.index.astype(object)
            orgs[kind] = frame
        carried = {} if kept is None else {s: frozenset(carry.indicators(s)) for s in ("branch", "member")
                                           if carry.indicators(s)}
        return Dataset(orgs["branches"], orgs["members"], frames["branch"], frames["member"],
                       source=str(self.directory), complete_from=parse_period(period) if pruned else None,
                       carried=carried)


__all__ = ["FORMAT", "MARKER", "DatasetWriter", "description_text", "inventory", "ParquetDir", "is_dataset", "is_url",
           "street_file", "write_dataset",
           "write_street_metrics", "write_street_orgs"]
