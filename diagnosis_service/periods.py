"""The one period parser: ``YYYY-MM`` in ASCII digits, months as integers, calendar quarters and years.

A period is stored and exchanged as text (``2025-03``); arithmetic uses a month index (year x 12 +
month - 1), so that periods can be subtracted and compared. Every face (CSV, JSON, query strings, the
command line) checks periods here, so that one rule decides what a period is: exactly seven ASCII
characters, years 1900 to 2099 (``\\d`` would also take full-width digits, and ``$`` a trailing
newline; neither is a period).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from .errors import InputError, Problem

PERIOD_RE = re.compile(r"(19|20)[0-9]{2}-(0[1-9]|1[0-2])", re.ASCII)  # use with fullmatch
EXAMPLE = "2025-03"
HINT = f"write it as YYYY-MM, e.g. {EXAMPLE}"


def is_period(text: object) -> bool:
    """True for a well-formed period (never raises)."""
    return isinstance(text, str) and PERIOD_RE.fullmatch(text) is not None


# The periods parsed so far: replaying a district's history parses the same few dozen periods millions of
# times (a tenth of an offline evaluation's time). Only valid periods are kept: at most 2,400 of them.
_INDEX: dict[str, int] = {}
_INDEX_MAX = 2400


def parse_period(text: str) -> int:
    """'YYYY-MM' -> a month index (year * 12 + month - 1); ValueError for anything else."""
    if type(text) is str:  # a str subclass or another type is checked every time
        index = _INDEX.get(text)
        if index is not None:
            return index
    if not is_period(text):
        raise ValueError(f"bad period {text!r}: expected YYYY-MM, e.g. {EXAMPLE}")
    index = int(text[:4]) * 12 + int(text[5:7]) - 1
    if type(text) is str and len(_INDEX) < _INDEX_MAX:
        _INDEX[text] = index
    return index


def period_str(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_month(index: int) -> int:
    """The calendar month (1 to 12) of a month index."""
    return index % 12 + 1


def months_before(period: str, months: int, include: bool = True) -> list[str]:
    """The ``months`` periods ending at ``period`` (with it) or just before it (without), oldest first."""
    last = parse_period(period) - (0 if include else 1)
    return [period_str(p) for p in range(last - months + 1, last + 1)]


def quarter_start(index: int) -> int:
    """Month index of the first month of the calendar quarter that holds ``index``."""
    return index - (index % 12) % 3


def year_start(index: int) -> int:
    """Month index of January of the year that holds ``index``."""
    return index - index % 12


def check_period(value: object, *field: str | int) -> str:
    """``value`` if it is a period, else InputError located at ``field`` (a field path such as
    ``("query", "period")``; ``("period",)`` by default)."""
    if is_period(value):
        return value  # type: ignore[return-value]
    if value is None or value == "":
        raise InputError(Problem("period is required", field=field or ("period",), suggestion=HINT))
    shown = value if isinstance(value, str | int | float | None) else type(value).__name__
    raise InputError(Problem(f"bad period {shown!r}: {why_not_period(value)}"[:300], field=field or ("period",),
                             suggestion=HINT))


def why_not_period(value: object) -> str:
    """What is wrong with a value that is not a period (``is_period``), for a person."""
    if not isinstance(value, str):
        return f"a period is text, not {type(value).__name__}"
    shape = re.fullmatch(r"([0-9]{4})-([0-9]{2})", value, re.ASCII)
    if shape is None:
        return "a period is four digits of the year, a hyphen, two digits of the month"
    if not 1 <= int(shape[2]) <= 12:
        return f"the month is {shape[2]}: months are 01 to 12"
    return f"the year is {shape[1]}: years are 1900 to 2099"


def require_period_in(period: object, have: list[str]) -> str:
    """``period`` if it is one of ``have`` (the periods with data, in order), else InputError saying which
    periods there are."""
    check_period(period, "period")
    if period not in have:
        raise InputError(Problem(f"no data for period {period}", field=("period",),
                                 suggestion=f"periods in the data: {have[0]} to {have[-1]}" if have else "none"))
    return period  # type: ignore[return-value]


DAY_RE = re.compile(r"(19|20)[0-9]{2}-[0-9]{2}-[0-9]{2}", re.ASCII)


def this_month(now: datetime | None = None) -> str:
    """The current month by the server's clock, in UTC (``now``: another instant)."""
    return (now or datetime.now(UTC)).strftime("%Y-%m")


def months_ahead(period: str, now: datetime | None = None) -> int:
    """How many months ``period`` lies after ``this_month`` (0 or less: not ahead)."""
    return parse_period(period) - parse_period(this_month(now))


def parse_day(text: object) -> date | None:
    """A calendar day written YYYY-MM-DD (ASCII digits, a real date), or None."""
    if not isinstance(text, str) or not DAY_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2025-02-30
        return None


__all__ = ["EXAMPLE", "HINT", "PERIOD_RE", "check_period", "is_period", "months_ahead", "months_before", "parse_day",
           "parse_period", "period_month", "period_str", "quarter_start", "this_month", "why_not_period", "year_start"]
