"""Validation of raw tables (from CSV or a JSON body), shared by every way data comes in.

Checks are vectorised per column: a clean district month is validated in well under a second,
and only broken columns are looked at cell by cell to say exactly where the problem is.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import Problem, did_you_mean, more_problems
from ..periods import is_period, parse_period
from ..rules.model import Indicator, Registry
from .model import BRANCH_COLUMNS, KEYS, MEMBER_COLUMNS
from .text import ID_FORBIDDEN, ID_RULE, visible

MAX_PROBLEMS = 1000

# Maps a 0-based row position to (file, line) for messages; CSV counts the header as line 1.
Locator = Callable[[int], tuple[str, int | str]]


class Problems:
    """A bounded list of problems: bad input can have millions of bad cells; we keep the first ones."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.dropped = 0

    def add(self, problem: Problem) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(problem)
        else:
            self.dropped += 1

    def more(self, count: int) -> None:
        """``count`` more problems found, beyond those worth keeping: counted, not listed."""
        self.dropped += count

    def final(self) -> list[Problem]:
        """The problems kept, those of each file in line order (checks run column by column, so they are
        found out of order; files in the order their first problem was found); the others after them as
        found."""
        files: dict[str, int] = {}
        for item in self.items:
            if item.file is not None:
                files.setdefault(item.file, len(files))
        items = sorted(self.items, key=lambda p: (1, 0, 0) if p.file is None else
                       (0, files[p.file], p.line if isinstance(p.line, int) else 0))
        if self.dropped:
            return items + [more_problems(self.dropped)]
        return items

    def __bool__(self) -> bool:
        return bool(self.items)


def check_header(columns: list[str], required: tuple[str, ...], optional: tuple[str, ...], file: str,
                 problems: Problems, derived: tuple[str, ...] = ()) -> None:
    seen = set()
    known = required + optional
    for col in columns:
        # pandas renames a repeated column 'x' to 'x.1', 'x.2': told as the user wrote it
        mangled = re.fullmatch(r"(.+)\.[1-9][0-9]*", col) if col not in known else None
        if col in seen or (mangled and mangled.group(1) in seen):
            name = col if col in seen else mangled.group(1)
            problems.add(Problem(f"duplicate column '{name}'", file=file, line=1, column=name,
                                 suggestion="each column once"))
            continue
        seen.add(col)
        if col in derived:
            problems.add(Problem(f"'{col}' is derived by the service and must not be sent", file=file, line=1,
                                 column=col, suggestion="remove the column"))
        elif col not in known:
            problems.add(Problem(f"unknown column '{col}'", file=file, line=1, column=col,
                                 suggestion=did_you_mean(col, known) or "expected: " + ", ".join(required)))
    for col in required:
        if col not in seen:
            problems.add(Problem(f"missing column '{col}'", file=file, line=1, column=col))


class KeyColumn:
    """A key column (ids, periods) as codes into its distinct stripped values.

    Keys repeat a lot (12 periods; one id per month), so checks run once per distinct value and are
    mapped back through the codes: a district's half a million rows cost what 47,000 do.
    """

    def __init__(self, raw: pd.Series):
        codes, uniques = pd.factorize(raw.to_numpy(dtype=object), use_na_sentinel=True)
        values = uniques.tolist()
        if all(type(u) is str for u in values):
            values = pd.Series(values, dtype=object).str.strip().tolist()
        else:
            values = ["" if isinstance(u, float) else str(u).strip() for u in values]
        # Values that differ only in spaces around them are one key: " M1" and "M1" are the same member.
        recodes, merged = pd.factorize(np.array(values, dtype=object))
        self.uniques = np.array([*merged.tolist(), ""], dtype=object)  # code -1 (a missing cell) maps to ""
        self.codes = np.where(codes >= 0, recodes[codes] if len(recodes) else codes, -1)

    def per_row(self, per_unique: np.ndarray) -> np.ndarray:
        """Spread a per-distinct-value array (one extra slot for missing) over the rows."""
        return per_unique[self.codes]

    def values(self) -> np.ndarray:
        return self.uniques[self.codes]

    def text(self, pos: int) -> str:
        return self.uniques[self.codes[pos]]

    def empty(self) -> np.ndarray:
        return self.per_row(self.uniques == "")

    def sorted_codes(self) -> np.ndarray:
        """Codes whose order is the order of the values (for sortedness checks in integers)."""
        rank = np.empty(len(self.uniques), dtype=np.int64)
        rank[np.argsort(self.uniques, kind="stable")] = np.arange(len(self.uniques))
        return rank[self.codes]


def key_text(frame: pd.DataFrame, col: str) -> pd.Series:
    """A key column as stripped text."""
    return pd.Series(KeyColumn(frame[col]).values(), index=frame.index, dtype=object)


def check_ids(frame: pd.DataFrame, col: str, file: str, where: Locator, problems: Problems,
              known: pd.Index | None = None, known_what: str = "", unique: bool = False,
              key: KeyColumn | None = None) -> None:
    key = KeyColumn(frame[col]) if key is None else key
    for pos in np.flatnonzero(key.empty()):
        f, line = where(int(pos))
        problems.add(Problem(f"{col} is empty", file=f, line=line, column=col))
    if col.endswith("_id"):  # names, also required here, may hold anything
        # Checked once per distinct id: what an address could not carry (text.id_problem says why).
        shaped = pd.Series(key.uniques, dtype=object)
        bad_unique = ((shaped.str.contains(ID_FORBIDDEN, regex=True) | (shaped.str.strip(".") == "")).to_numpy(bool)
                      & (key.uniques != ""))
        for pos in np.flatnonzero(key.per_row(bad_unique))[:MAX_PROBLEMS]:
            f, line = where(int(pos))
            problems.add(Problem(f"{col} '{visible(key.text(pos)[:40])}' is not a usable id", file=f, line=line, column=col,
                                 suggestion=f"ids are {ID_RULE}"))
    if unique:
        dup = pd.Series(key.codes).duplicated(keep="first").to_numpy() & ~key.empty()
        for pos in np.flatnonzero(dup):
            f, line = where(int(pos))
            first = int(np.flatnonzero(key.codes == key.codes[pos])[0])
            problems.add(Problem(f"duplicate {col} '{visible(key.text(pos))}' (first at line {where(first)[1]})",
                                 file=f, line=line, column=col))
    if known is not None:
        # Plain objects: an Index of pandas' Arrow strings makes a scalar of each known id in ``isin``.
        unknown_unique = ~pd.Index(key.uniques, dtype=object).isin(known) & (key.uniques != "")
        for pos in np.flatnonzero(key.per_row(unknown_unique)):
            f, line = where(int(pos))
            problems.add(Problem(f"unknown {known_what} '{visible(key.text(pos))}'", file=f, line=line, column=col,
                                 suggestion=did_you_mean(key.text(pos), known[:5000])))


def check_choice(frame: pd.DataFrame, col: str, allowed: list[str], file: str, where: Locator,
                 problems: Problems) -> None:
    values = key_text(frame, col)
    for pos in np.flatnonzero((~values.isin(allowed)).to_numpy()):
        f, line = where(int(pos))
        problems.add(Problem(f"{col} '{values.iloc[pos]}' is not valid", file=f, line=line, column=col,
                             suggestion="one of " + ", ".join(allowed)))


def check_periods(periods: KeyColumn, where: Locator, problems: Problems) -> np.ndarray:
    """Validate a period column; returns month indexes, -1 where the period is bad."""
    index = np.array([parse_period(u) if is_period(u) else -1 for u in periods.uniques], dtype=np.int64)
    pidx = periods.per_row(index)
    for pos in np.flatnonzero(pidx < 0):
        f, line = where(int(pos))
        problems.add(Problem(f"bad period '{periods.text(pos)}'", file=f, line=line, column="period",
                             suggestion="write it as YYYY-MM, e.g. 2025-03"))
    return pidx


def numeric_column(frame: pd.DataFrame, ind: Indicator, where: Locator, problems: Problems) -> np.ndarray:
    """The column as float64 (NaN = missing); bad numbers and out-of-range values become problems.

    Clean columns (the common case) cost a few whole-array reductions; per-cell work happens only
    in a column that has a problem.
    """
    raw = frame[ind.id]
    kind = raw.dtype.kind
    if kind in "iu":
        arr = raw.to_numpy(dtype=np.float64)
    elif kind == "f":
        arr = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        arr = _parse_text_column(raw, ind, where, problems)
    finite = ~np.isnan(arr)
    if not finite.any():
        return arr
    lo, hi = np.min(arr[finite]), np.max(arr[finite])
    if lo < ind.min or (ind.max is not None and hi > ind.max) or np.isinf(lo) or np.isinf(hi):
        out = np.zeros(len(arr), dtype=bool)
        out[finite] = arr[finite] < ind.min
        if ind.max is not None:
            out[finite] |= arr[finite] > ind.max
        out |= np.isinf(arr)
        rng = valid_range(ind)
        for pos in np.flatnonzero(out):
            f, line = where(int(pos))
            problems.add(Problem(f"{ind.id} = {fmt_number(arr[pos])} is out of range ({ind.unit}: {rng})", file=f,
                                 line=line, column=ind.id))
    if ind.integer and kind not in "iu":
        safe = np.where(finite & ~np.isinf(arr), arr, 0.0)
        frac = safe != np.floor(safe)
        for pos in np.flatnonzero(frac):
            f, line = where(int(pos))
            problems.add(Problem(f"{ind.id} = {fmt_number(arr[pos])} must be a whole number ({ind.unit})", file=f,
                                 line=line, column=ind.id))
    return arr


def _parse_text_column(raw: pd.Series, ind: Indicator, where: Locator, problems: Problems) -> np.ndarray:
    """A column that did not parse as numbers (or came from JSON): find and report the bad cells."""
    cells = raw.to_numpy(dtype=object)
    if all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in cells):
        # Numbers and nulls already (JSON bodies, rule tests' YAML): nothing to parse or report. Writing each
        # as text to parse it back was most of the time of the rule tests.
        try:
            return np.array([np.nan if v is None else float(v) for v in cells], dtype=np.float64)
        except OverflowError:  # an integer beyond any float: reported as the text path reports it
            pass
    return _parse_as_text(raw, ind, where, problems)


def _parse_as_text(raw: pd.Series, ind: Indicator, where: Locator, problems: Problems) -> np.ndarray:
    """Each cell as text, parsed back: a bad cell is reported with what it says."""
    text = raw.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").to_numpy(dtype=np.float64,
                                                                                    na_value=np.nan, copy=True)
    bools = raw.map(lambda v: isinstance(v, bool)).to_numpy(dtype=bool)
    bad = (np.isnan(values) & (text != "").to_numpy()) | bools
    values[bools] = np.nan
    for pos in np.flatnonzero(bad):
        f, line = where(int(pos))
        problems.add(Problem(f"bad number '{text.iloc[pos]}' for {ind.id} ({ind.unit})", file=f, line=line,
                             column=ind.id, suggestion=number_wanted(ind)))
    return values


def fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def valid_range(ind: Indicator) -> str:
    """What the indicator takes, as its out-of-range problems say it: ``0 to 100``, ``0 to any``."""
    return f"{fmt_number(ind.min)} to {fmt_number(ind.max) if ind.max is not None else 'any'}"


def number_wanted(ind: Indicator) -> str:
    """The suggestion for a cell that is not a number: what would be valid there."""
    number = "a whole number" if ind.integer else "a plain number"
    span = (f"from {fmt_number(ind.min)} to {fmt_number(ind.max)}" if ind.max is not None
            else f"{fmt_number(ind.min)} or more")
    return f"write {number}, {span}, or leave the cell empty for a missing value"


def metric_columns(registry: Registry, subject: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required columns, derived indicator ids) of a metrics table."""
    reported = tuple(i.id for i in registry.reported(subject))
    derived = tuple(i.id for i in registry.derived(subject))
    return ("period", KEYS[subject]) + reported, derived


__all__ = [
    "KeyColumn",
    "key_text",
    "BRANCH_COLUMNS",
    "MEMBER_COLUMNS",
    "Problems",
    "check_choice",
    "check_header",
    "check_ids",
    "check_periods",
    "metric_columns",
    "number_wanted",
    "numeric_column",
    "valid_range",
]
