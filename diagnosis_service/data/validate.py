"""Validation of raw tables (from CSV or a JSON body), shared by every way data comes in.

Checks are vectorised per column: a clean district month is validated in well under a second,
and only broken columns are looked at cell by cell to say exactly where the problem is.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..errors import Problem, did_you_mean
from ..rules.model import Indicator, Registry
from .model import BRANCH_COLUMNS, KEYS, MEMBER_COLUMNS, PERIOD_RE, parse_period

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

    def final(self) -> list[Problem]:
        if self.dropped:
            return self.items + [Problem(f"... and {self.dropped} more problems not listed")]
        return self.items

    def __bool__(self) -> bool:
        return bool(self.items)


def check_header(columns: list[str], required: tuple[str, ...], optional: tuple[str, ...], file: str,
                 problems: Problems, derived: tuple[str, ...] = ()) -> None:
    seen = set()
    known = required + optional
    for col in columns:
        if col in seen:
            problems.add(Problem(f"duplicate column '{col}'", file=file, line=1, column=col))
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


def key_text(frame: pd.DataFrame, col: str) -> pd.Series:
    """A key column as stripped text. Keys repeat a lot (12 periods, one id per month), so the
    work is done once per distinct value and mapped back."""
    codes, uniques = pd.factorize(frame[col], use_na_sentinel=True)
    cleaned = np.array(["" if isinstance(u, float) else str(u).strip() for u in uniques] + [""], dtype=object)
    return pd.Series(cleaned[codes], index=frame.index, dtype=object)


def check_ids(frame: pd.DataFrame, col: str, file: str, where: Locator, problems: Problems,
              known: pd.Index | None = None, known_what: str = "", unique: bool = False,
              values: pd.Series | None = None) -> None:
    values = key_text(frame, col) if values is None else values
    for pos in np.flatnonzero((values == "").to_numpy()):
        f, line = where(int(pos))
        problems.add(Problem(f"{col} is empty", file=f, line=line, column=col))
    if unique:
        dup = values.duplicated(keep="first") & (values != "")
        for pos in np.flatnonzero(dup.to_numpy()):
            f, line = where(int(pos))
            first = int(np.flatnonzero((values == values.iloc[pos]).to_numpy())[0])
            problems.add(Problem(f"duplicate {col} '{values.iloc[pos]}' (first at line {where(first)[1]})",
                                 file=f, line=line, column=col))
    if known is not None:
        unknown = ~values.isin(known) & (values != "")
        for pos in np.flatnonzero(unknown.to_numpy()):
            f, line = where(int(pos))
            problems.add(Problem(f"unknown {known_what} '{values.iloc[pos]}'", file=f, line=line, column=col,
                                 suggestion=did_you_mean(values.iloc[pos], known[:5000])))


def check_choice(frame: pd.DataFrame, col: str, allowed: list[str], file: str, where: Locator,
                 problems: Problems) -> None:
    values = key_text(frame, col)
    for pos in np.flatnonzero((~values.isin(allowed)).to_numpy()):
        f, line = where(int(pos))
        problems.add(Problem(f"{col} '{values.iloc[pos]}' is not valid", file=f, line=line, column=col,
                             suggestion="one of " + ", ".join(allowed)))


def check_periods(periods: pd.Series, where: Locator, problems: Problems) -> np.ndarray:
    """Validate a period column (stripped text); returns month indexes, -1 where the period is bad."""
    codes, uniques = pd.factorize(periods)
    index = np.array([parse_period(u) if PERIOD_RE.match(u) else -1 for u in uniques] + [-1], dtype=np.int64)
    pidx = index[codes]
    for pos in np.flatnonzero(pidx < 0):
        f, line = where(int(pos))
        problems.add(Problem(f"bad period '{periods.iloc[pos]}'", file=f, line=line, column="period",
                             suggestion="write it as YYYY-MM, e.g. 2025-03"))
    return pidx


def numeric_column(frame: pd.DataFrame, ind: Indicator, where: Locator, problems: Problems) -> pd.Series:
    """The column as float64 (NaN = missing); bad numbers and out-of-range values become problems."""
    raw = frame[ind.id]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
    else:
        text = raw.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
        values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype("float64")
        bad = values.isna() & (text != "")
        bools = raw.map(lambda v: isinstance(v, bool))
        bad |= bools
        values[bools] = np.nan
        for pos in np.flatnonzero(bad.to_numpy()):
            f, line = where(int(pos))
            problems.add(Problem(f"bad number '{text.iloc[pos]}' for {ind.id} ({ind.unit})", file=f, line=line,
                                 column=ind.id, suggestion="write a plain number, or leave the cell empty "
                                                           "for a missing value"))
    arr = values.to_numpy()
    finite = ~np.isnan(arr)
    out = np.zeros(len(arr), dtype=bool)
    out[finite] = arr[finite] < ind.min
    if ind.max is not None:
        out[finite] |= arr[finite] > ind.max
    out |= np.isinf(arr)
    rng = f"{_n(ind.min)} to {_n(ind.max) if ind.max is not None else 'any'}"
    for pos in np.flatnonzero(out):
        f, line = where(int(pos))
        problems.add(Problem(f"{ind.id} = {_n(arr[pos])} is out of range ({ind.unit}: {rng})", file=f, line=line,
                             column=ind.id))
    if ind.integer:
        frac = finite & ~np.isinf(arr) & (np.floor(np.where(finite, arr, 0)) != np.where(finite, arr, 0))
        for pos in np.flatnonzero(frac):
            f, line = where(int(pos))
            problems.add(Problem(f"{ind.id} = {_n(arr[pos])} must be a whole number ({ind.unit})", file=f,
                                 line=line, column=ind.id))
    return values


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def metric_columns(registry: Registry, subject: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required columns, derived indicator ids) of a metrics table."""
    reported = tuple(i.id for i in registry.reported(subject))
    derived = tuple(i.id for i in registry.derived(subject))
    return ("period", KEYS[subject]) + reported, derived


__all__ = [
    "key_text",
    "BRANCH_COLUMNS",
    "MEMBER_COLUMNS",
    "Problems",
    "check_choice",
    "check_header",
    "check_ids",
    "check_periods",
    "metric_columns",
    "numeric_column",
]
