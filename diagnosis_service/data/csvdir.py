"""The CSV directory format: branches.csv, members.csv, branch_metrics.csv, member_metrics.csv."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..rules.model import Registry
from .csvlines import MAX_CSV_BYTES, Lines, ShortRows
from .files import not_a_directory, temp_dir
from .model import BRANCH_COLUMNS, KEYS, MEMBER_COLUMNS, Dataset
from .validate import (
    KeyColumn,
    Problems,
    check_choice,
    check_header,
    check_ids,
    check_periods,
    key_text,
    metric_columns,
    numeric_column,
)

FILES = ("branches.csv", "members.csv", "branch_metrics.csv", "member_metrics.csv")



def _read(path: Path, problems: Problems, text_columns: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    """A CSV file read whole (None, with the problem added, when it cannot be read)."""
    return next((frame for frame, _ in read_chunks(path, problems, text_columns)), None)


def read_chunks(path: Path, problems: Problems, text_columns: tuple[str, ...] | None = None,
                chunk_rows: int | None = None, limit: int = MAX_CSV_BYTES) -> Iterator[tuple[pd.DataFrame, int]]:
    """A CSV file as (frame, bytes read so far): whole, or ``chunk_rows`` rows at a time (a chunk's index
    goes on from the last one's, so positions are the file's). A file that cannot be read, or stops
    parsing half-way, ends the chunks with the problem added."""
    name = str(path)
    if not path.is_file():
        problems.add(Problem("file not found", file=name, suggestion="a data directory holds " + ", ".join(FILES)))
        return
    size = path.stat().st_size
    if size > limit:
        problems.add(Problem(f"file is over the limit of {limit} bytes", file=name))
        return
    if size == 0:
        problems.add(Problem("file is empty; it needs at least a header line", file=name, line=1))
        return
    dtype: object = object if text_columns is None else dict.fromkeys(text_columns, object)
    short = ShortRows(path)
    try:
        with path.open("rb") as fh:
            with _mixed_types_quiet():
                read = pd.read_csv(fh, dtype=dtype, keep_default_na=False, na_values=[""], encoding="utf-8",
                                   skipinitialspace=False, chunksize=chunk_rows)
            if chunk_rows is None:
                yield short.check(_columns_stripped(read), problems), size
                return
            with read as reader:
                while True:
                    with _mixed_types_quiet():
                        frame = next(reader, None)
                    if frame is None:
                        break
                    yield short.check(_columns_stripped(frame), problems), min(fh.tell(), size)
    except UnicodeDecodeError:
        line, column = _first_bad_utf8(path)
        problems.add(Problem("not UTF-8 text", file=name, line=line, column=column,
                             suggestion="save the file as UTF-8"))
    except pd.errors.ParserError as exc:
        text = str(exc).strip()
        # The C parser counts "line"s from 1 as the file's lines, and "row"s (an unterminated quote's
        # start) as records from 0: the header, blank lines, a quoted cell over several lines as one.
        match = re.search(r"line (\d+)", text)
        row = re.search(r"starting at row (\d+)", text)
        line = int(match.group(1)) if match else _record_line(path, int(row.group(1))) if row else None
        if row:
            text = "a quoted field is never closed (a \" without its pair)"
        problems.add(Problem(f"malformed CSV: {text.removeprefix('Error tokenizing data. C error: ')}", file=name,
                             line=line))
    except pd.errors.EmptyDataError:
        problems.add(Problem("file is empty; it needs at least a header line", file=name, line=1))
    except ValueError as exc:
        # e.g. a text column asked for that the header lacks: reported by the header check instead
        problems.add(Problem(f"cannot read: {exc}", file=name))



@contextlib.contextmanager
def _mixed_types_quiet() -> Iterator[None]:
    """pandas' DtypeWarning (a column's chunks guessed as different types) says nothing here: every value is
    checked after reading, and a bad number is reported with its row and column."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.DtypeWarning)
        yield


def _record_line(path: Path, record: int) -> int | None:
    """The line (from 1) where record ``record`` (from 0, the header and blank lines counted, as pandas
    counts its rows) starts. Only on the way to an error."""
    csv.field_size_limit(MAX_CSV_BYTES)
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh)
        start = 1
        try:
            for number, _ in enumerate(reader):
                if number == record:
                    return start
                start = reader.line_num + 1
        except csv.Error:
            return None
    return None


def _first_bad_utf8(path: Path) -> tuple[int | None, int | None]:
    """(line, column: the character in that line, both from 1) of the first bytes of ``path`` that are not
    UTF-8. Line by line: only on the way to an error, and a newline never splits a character."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return number, len(raw[:exc.start].decode("utf-8")) + 1
    return None, None


def _columns_stripped(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.columns.size and frame.columns[0].startswith("\ufeff"):
        frame.columns = [frame.columns[0].lstrip("\ufeff")] + list(frame.columns[1:])
    return frame


def load_dir(directory: Path, registry: Registry) -> Dataset:
    """Read and validate a data directory; raise InputError listing every problem found."""
    directory = Path(directory)
    problems = Problems()
    orgs = read_orgs(directory, registry, problems)
    frames: dict[str, pd.DataFrame | None] = {}
    for subject in ("branch", "member"):
        frames[subject] = _read(directory / f"{subject}_metrics.csv", problems,
                                text_columns=("period", KEYS[subject]))
    clean: dict[str, pd.DataFrame] = {}
    for subject, frame in frames.items():
        if frame is None:
            continue
        path = directory / f"{subject}_metrics.csv"
        clean_frame = validate_metrics(frame, subject, registry, str(path), Lines(path), problems,
                                       orgs.known[subject])
        if clean_frame is not None:
            clean[subject] = clean_frame
    if problems:
        raise InputError(problems.final())
    return orgs.dataset(clean["branch"], clean["member"], str(directory))


class Orgs:
    """A directory's branches and members, read and checked (``known``: each subject's ids, or None
    when either file could not be read, so that no metric row is called unknown for it)."""

    def __init__(self, branches: pd.DataFrame | None, members: pd.DataFrame | None, branch_ids: pd.Index,
                 member_ids: pd.Index):
        self.branches, self.members = branches, members
        both = branches is not None and members is not None
        self.known: dict[str, pd.Index | None] = {"branch": branch_ids if both else None,
                                                  "member": member_ids if both else None}

    def dataset(self, branch_metrics: pd.DataFrame, member_metrics: pd.DataFrame, source: str) -> Dataset:
        """The organisations (stripped, indexed by id) with these metric tables."""
        return Dataset(
            branches=_strip(self.branches).set_index("branch_id")[["name", "type", "street"]],
            members=_strip(self.members).set_index("member_id")[["branch_id", "name"]],
            branch_metrics=branch_metrics,
            member_metrics=member_metrics,
            source=source,
        )


def read_orgs(directory: Path, registry: Registry, problems: Problems) -> Orgs:
    """branches.csv and members.csv, read whole (a district's are a few MB) and checked."""
    if not directory.is_dir():
        raise InputError(not_a_directory(directory, "data directory", "data is a directory of CSV files or a columnar dataset"))
    branches = _read(directory / "branches.csv", problems)
    members = _read(directory / "members.csv", problems)
    branch_ids = pd.Index([])
    if branches is not None:
        file = str(directory / "branches.csv")
        check_header(list(branches.columns), BRANCH_COLUMNS, (), file, problems)
        if set(BRANCH_COLUMNS) <= set(branches.columns):
            where = Lines(directory / "branches.csv")
            check_ids(branches, "branch_id", file, where, problems, unique=True)
            check_ids(branches, "name", file, where, problems)
            check_choice(branches, "type", list(registry.branch_types), file, where, problems)
            branch_ids = pd.Index(branches["branch_id"].fillna("").str.strip())
    member_ids = pd.Index([])
    if members is not None:
        file = str(directory / "members.csv")
        check_header(list(members.columns), MEMBER_COLUMNS, (), file, problems)
        if set(MEMBER_COLUMNS) <= set(members.columns):
            where = Lines(directory / "members.csv")
            check_ids(members, "member_id", file, where, problems, unique=True)
            if branches is not None:
                check_ids(members, "branch_id", file, where, problems, known=branch_ids, known_what="branch")
            member_ids = pd.Index(members["member_id"].fillna("").str.strip())
    return Orgs(branches, members, branch_ids, member_ids)


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({col: key_text(frame, col) for col in frame.columns})


def metrics_header_ok(columns: list[str], subject: str, registry: Registry, file: str, problems: Problems) -> bool:
    """Check a metrics table's header; True when its rows can be checked (every required column, once)."""
    required, derived = metric_columns(registry, subject)
    check_header(columns, required, (), file, problems, derived=derived)
    return set(required) <= set(columns) and not pd.Index(columns).duplicated().any()


def validate_metrics(frame: pd.DataFrame, subject: str, registry: Registry, file: str, where,
                     problems: Problems, known_ids: pd.Index | None) -> pd.DataFrame | None:
    """Validate one metrics table; return it as (pidx, period, key, indicators...) or None."""
    if not metrics_header_ok(list(frame.columns), subject, registry, file, problems):
        return None
    rows = check_metric_rows(frame, subject, registry, file, where, problems, known_ids)
    key = KEYS[subject]
    # Codes ranked like the ids themselves: the duplicate and order checks stay in integers.
    id_codes = rows.ids.sorted_codes()
    dup = np.zeros(len(rows.pidx), dtype=bool)
    if rows.good.any():
        combined = rows.pidx * (len(rows.ids.uniques) + 1) + id_codes
        dup = pd.Series(combined).duplicated(keep="first").to_numpy() & rows.good
    for pos in np.flatnonzero(dup):
        problems.add(duplicate_row(key, rows.ids.text(pos), rows.periods.text(pos), *where(int(pos))))
    if problems:
        return None
    result, pidx = rows.frame, rows.pidx
    ordered = len(pidx) < 2 or bool(np.all((pidx[1:] > pidx[:-1])
                                           | ((pidx[1:] == pidx[:-1]) & (id_codes[1:] > id_codes[:-1]))))
    if ordered:
        return result
    return result.sort_values(["pidx", key], kind="stable").reset_index(drop=True)


def duplicate_row(key: str, subject_id: str, period: str, file: str, line: int | str) -> Problem:
    return Problem(f"duplicate row for {key} '{subject_id}' in period {period}", file=file, line=line, column=key,
                   suggestion="one row per subject and period")


class CheckedRows:
    """A metrics table's rows checked one by one (``check_metric_rows``): everything but duplicates."""

    def __init__(self, frame: pd.DataFrame, periods: KeyColumn, ids: KeyColumn, pidx: np.ndarray):
        self.frame, self.periods, self.ids, self.pidx = frame, periods, ids, pidx
        self.good = (pidx >= 0) & ~ids.empty()  # rows with a period and an id: the ones duplicates are among


def check_metric_rows(frame: pd.DataFrame, subject: str, registry: Registry, file: str, where,
                      problems: Problems, known_ids: pd.Index | None) -> CheckedRows:
    """Check every row of a metrics table whose header passed (periods, ids, values; not duplicates, which
    span rows): the rows as (pidx, period, key, indicators...) in the table's order, bad cells as NaN."""
    key = KEYS[subject]
    periods = KeyColumn(frame["period"])
    ids = KeyColumn(frame[key])
    pidx = check_periods(periods, where, problems)
    check_ids(frame, key, file, where, problems, known=known_ids, known_what=subject, key=ids)
    reported = registry.reported(subject)
    # One float block for all indicators: building a frame from many columns costs more than the checks.
    matrix = np.empty((len(frame), len(reported)), dtype=np.float64, order="F")
    for j, ind in enumerate(reported):
        matrix[:, j] = numeric_column(frame, ind, where, problems)
    result = pd.DataFrame(matrix, columns=[i.id for i in reported], copy=False)
    result.insert(0, key, ids.values())
    result.insert(0, "period", periods.values())
    result.insert(0, "pidx", pidx)
    return CheckedRows(result, periods, ids, pidx)


# --------------------------------------------------------------------------------------------- writing

def write_dir(dataset: Dataset, directory: Path, registry: Registry) -> None:
    """Write a dataset as a CSV directory, atomically: a temp directory renamed into place."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir(directory)  # renamed into place: with the mode any new directory gets, not mkdtemp's private one
    try:
        dataset.branches.reset_index()[list(BRANCH_COLUMNS)].to_csv(tmp / "branches.csv", index=False)
        dataset.members.reset_index()[list(MEMBER_COLUMNS)].to_csv(tmp / "members.csv", index=False)
        for subject in ("branch", "member"):
            required, _ = metric_columns(registry, subject)
            _csv_ready(dataset.metrics(subject)[list(required)]).to_csv(
                tmp / f"{subject}_metrics.csv", index=False, float_format="%.10g")
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(directory, old)
            os.replace(tmp, directory)
            shutil.rmtree(old)
        else:
            os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole-number float columns as nullable integers: '3' instead of '3.0', and much faster to write."""
    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if values.dtype.kind == "f":
            arr = values.to_numpy()
            finite = arr[~np.isnan(arr)]
            if np.all(finite == np.floor(finite)) and (not len(finite) or np.abs(finite).max() < 2**53):
                out[col] = values.astype("Int64")
    return out
