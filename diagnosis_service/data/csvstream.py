"""A CSV data directory checked a chunk at a time, its clean rows spilled to disk a file per month.

``load_dir`` holds a directory's metrics in memory whole (about 0.9 GiB for a district's 24 months).
``stream_dir`` checks the same things reading each metrics file ``chunk_rows`` rows at a time, and
writes the rows to a work directory, a file per subject and month (Arrow IPC, lz4): its memory is a
chunk's, and a month's when ``Spilled.month`` reads one back. Duplicate rows, which may lie chunks
apart, are looked for in the spilled months once every chunk is read. A problem anywhere raises
InputError listing every problem found, as ``load_dir`` does (in the order found: a chunk at a time,
duplicates last), so that an import stores nothing from a directory with a bad row in it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..periods import parse_period, period_str
from ..rules.model import Registry
from .csvdir import check_metric_rows, duplicate_row, metrics_header_ok, read_chunks, read_orgs
from .csvlines import Lines
from .model import KEYS, Dataset
from .validate import MAX_PROBLEMS, Problems

CHUNK_ROWS = 100_000
# Streamed files are never held whole, so their bound is the disk's rather than memory's.
MAX_STREAMED_CSV_BYTES = 200_000_000_000
POS = "_pos"  # a spilled row's position in its CSV file (0 = the first row after the header)


class Spilled:
    """A directory checked by ``stream_dir``: its organisations, and its months on disk."""

    def __init__(self, orgs: Dataset, workdir: Path, registry: Registry, rows: dict[str, int], periods: list[str]):
        self.orgs = orgs  # branches and members; the metric tables are empty
        self.workdir = workdir
        self.registry = registry
        self.rows = rows  # metric rows in all, by subject
        self.periods = periods

    def columns(self) -> dict[str, list[str]]:
        """The indicator columns of each subject, as ``load_dir``'s tables have them."""
        return {s: [i.id for i in self.registry.reported(s)] for s in ("branch", "member")}

    def month(self, period: str) -> list[tuple[str, pd.DataFrame]]:
        """(subject, the month's rows) for each subject with rows in ``period``: columns pidx, period, the
        key and the indicators, sorted by id, as ``load_dir`` gives them."""
        import pyarrow.compute as pc

        out = []
        for subject in ("branch", "member"):
            table = _read_month(self.workdir, subject, parse_period(period))
            if table is None:
                continue
            key = KEYS[subject]
            table = table.take(pc.sort_indices(table, sort_keys=[(key, "ascending")]))
            frame = pd.DataFrame({"pidx": np.full(table.num_rows, parse_period(period), dtype=np.int64),
                                  "period": np.full(table.num_rows, period, dtype=object),
                                  key: table.column(key).to_numpy(zero_copy_only=False).astype(object)})
            values = pd.DataFrame({i.id: table.column(i.id).to_numpy(zero_copy_only=False)
                                   for i in self.registry.reported(subject)})
            out.append((subject, pd.concat([frame, values], axis=1)))
        return out


def stream_dir(directory: Path, registry: Registry, workdir: Path, chunk_rows: int = CHUNK_ROWS,
               progress: Callable[[int, int], None] | None = None) -> Spilled:
    """Check a data directory as ``load_dir`` does, a chunk of each metrics file at a time, spilling its rows
    into ``workdir`` (which the caller removes). Raises InputError with every problem found.
    ``progress(bytes read, bytes in all)`` after each chunk."""
    directory = Path(directory)
    problems = Problems()
    orgs = read_orgs(directory, registry, problems)
    paths = {s: directory / f"{s}_metrics.csv" for s in ("branch", "member")}
    total = sum(p.stat().st_size for p in paths.values() if p.is_file())
    done = 0
    rows = {"branch": 0, "member": 0}
    spill = _Spill(workdir)
    try:
        for subject, path in paths.items():
            where = Lines(path)
            checked_header = False
            read = 0
            for chunk, read in read_chunks(path, problems, ("period", KEYS[subject]), chunk_rows,
                                           MAX_STREAMED_CSV_BYTES):
                if not checked_header:
                    checked_header = True
                    if not metrics_header_ok(list(chunk.columns), subject, registry, str(path), problems):
                        break
                offset = int(chunk.index[0]) if len(chunk) else 0

                def at(pos: int, offset: int = offset, where: Lines = where) -> tuple[str, int | str]:
                    return where(pos + offset)

                checked = check_metric_rows(chunk.reset_index(drop=True), subject, registry, str(path), at, problems,
                                            orgs.known[subject])
                spill.add(subject, checked.frame[checked.good], offset + np.flatnonzero(checked.good))
                rows[subject] += len(chunk)
                if progress is not None:
                    progress(done + read, total)
            done += read
    finally:
        spill.close()
    for subject in ("branch", "member"):
        _duplicates(spill, subject, Lines(paths[subject]), problems)
    if problems:
        raise InputError(problems.final())
    empty = {s: pd.DataFrame(columns=["pidx", "period", KEYS[s], *(i.id for i in registry.reported(s))])
             for s in ("branch", "member")}
    return Spilled(orgs.dataset(empty["branch"], empty["member"], str(directory)), workdir, registry, rows,
                   [period_str(p) for p in sorted({p for _, p in spill.written})])


def _read_month(workdir: Path, subject: str, pidx: int):
    """A subject's spilled month (its parts in the order written), or None."""
    import pyarrow as pa

    parts = sorted(workdir.glob(f"{subject}-{pidx}-*.arrow"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    tables = []
    for path in parts:
        with pa.memory_map(str(path)) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    return pa.concat_tables(tables) if tables else None


class _Spill:
    """Spill files, appended to a chunk's rows at a time: one per subject and month, until more than
    ``MAX_OPEN`` are open (rows of many months at once), when all are closed and later rows of a month
    go to its next part."""

    MAX_OPEN = 64

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.writers: dict[tuple[str, int], object] = {}
        self.written: set[tuple[str, int]] = set()
        self.part = 0

    def add(self, subject: str, frame: pd.DataFrame, positions: np.ndarray) -> None:
        import pyarrow as pa

        if not len(frame):
            return
        key = KEYS[subject]
        pidx = frame["pidx"].to_numpy()
        order = np.argsort(pidx, kind="stable")  # a chunk in file order holds a month or two, in order
        starts = np.flatnonzero(np.r_[True, pidx[order][1:] != pidx[order][:-1]])
        for start, end in zip(starts, [*starts[1:], len(order)], strict=True):
            rows = order[start:end]
            part = frame.iloc[rows]
            table = pa.table({POS: pa.array(positions[rows], type=pa.int64()),
                              key: pa.array(part[key].to_numpy(), type=pa.string()),
                              **{c: pa.array(part[c].to_numpy(dtype=np.float64), type=pa.float64())
                                 for c in frame.columns if c not in ("pidx", "period", key)}})
            self._writer(subject, int(pidx[rows[0]]), table.schema).write_table(table)

    def _writer(self, subject: str, pidx: int, schema):
        import pyarrow as pa

        if (subject, pidx) not in self.writers:
            if len(self.writers) >= self.MAX_OPEN:
                self.close()
                self.part += 1
            self.written.add((subject, pidx))
            self.writers[(subject, pidx)] = pa.ipc.new_file(
                str(self.workdir / f"{subject}-{pidx}-{self.part}.arrow"), schema,
                options=pa.ipc.IpcWriteOptions(compression="lz4"))
        return self.writers[(subject, pidx)]

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def _duplicates(spill: _Spill, subject: str, where: Lines, problems: Problems) -> None:
    """A problem for each row whose (subject, period) an earlier row of the file has, in file order; past
    MAX_PROBLEMS only counted (a file written twice over has a million)."""
    key = KEYS[subject]
    found: list[tuple[int, str, str]] = []
    total = 0
    for s, pidx in sorted(spill.written):
        if s != subject:
            continue
        table = _read_month(spill.workdir, subject, pidx).select([POS, key])
        ids = pd.Series(table.column(key).to_numpy(zero_copy_only=False))
        positions = table.column(POS).to_numpy()
        again = np.flatnonzero(ids.duplicated(keep="first").to_numpy())
        total += len(again)
        # A month's rows are in file order: its first MAX_PROBLEMS are its earliest.
        found += [(int(positions[i]), ids.iloc[i], period_str(pidx)) for i in again[:MAX_PROBLEMS]]
        found = sorted(found)[:MAX_PROBLEMS]
    for pos, subject_id, period in found:
        problems.add(duplicate_row(key, subject_id, period, *where(pos)))
    problems.more(total - len(found))


__all__ = ["CHUNK_ROWS", "Spilled", "stream_dir"]
