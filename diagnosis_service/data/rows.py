"""Validation of a few metric rows given as mappings (an event's history), in plain Python.

The CSV and bulk JSON paths validate whole tables with numpy (``csvdir.validate_metrics``); for the
handful of rows of one subject that costs milliseconds in table building alone. The checks and their
messages here are the same (tests hold the two to it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from ..errors import InputError, Problem, did_you_mean
from ..periods import is_period, parse_period
from ..rules.model import Registry
from .model import KEYS
from .validate import MAX_PROBLEMS, fmt_number, number_wanted, valid_range

# What a metrics cell may hold as text: a plain decimal number (no "nan", "inf" or "1_000").
NUMBER_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def check_rows(rows: Sequence[object], subject: str, registry: Registry,
               file: str = "history") -> dict[int, dict[str, float]]:
    """Month index -> {indicator: value (NaN = missing)} for every reported indicator, or InputError
    listing every problem as ``file:row:field``."""
    reported = {i.id: i for i in registry.reported(subject)}
    derived = {i.id for i in registry.derived(subject)}
    allowed = ("period", KEYS[subject])
    problems: list[Problem] = []
    out: dict[int, dict[str, float]] = {}

    def add(message: str, line: int, column: str | None, suggestion: str | None = None) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(message, file=file, line=line, column=column, suggestion=suggestion))

    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        raise InputError(Problem("expected a list of rows", file=file))
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            add("a row must be an object of field: value", n, None)
            continue
        period = row.get("period")
        text = period.strip() if isinstance(period, str) else ""
        pidx = parse_period(text) if is_period(text) else -1
        if pidx < 0:
            add(f"bad period '{'' if period is None else period}'", n, "period",
                "write it as YYYY-MM, e.g. 2025-03")
        elif pidx in out:
            add(f"duplicate row for period {text}", n, "period", "one row per subject and period")
        values: dict[str, float] = {}
        for name, raw in row.items():
            if name in allowed:
                continue
            ind = reported.get(name)
            if ind is None:
                if name in derived:
                    add(f"'{name}' is derived by the service and must not be sent", n, name, "remove the column")
                else:
                    add(f"unknown {subject} indicator '{name}'", n, name,
                        did_you_mean(str(name), tuple(reported)) or "expected indicator ids of the registry")
                continue
            value = _number(raw)
            if value is None:
                add(f"bad number '{raw}' for {ind.id} ({ind.unit})", n, ind.id, number_wanted(ind))
                continue
            if math.isnan(value):
                values[name] = value
                continue
            if math.isinf(value) or value < ind.min or (ind.max is not None and value > ind.max):
                add(f"{ind.id} = {fmt_number(value)} is out of range ({ind.unit}: {valid_range(ind)})", n, ind.id)
            if ind.integer and not math.isinf(value) and not value.is_integer():
                add(f"{ind.id} = {fmt_number(value)} must be a whole number ({ind.unit})", n, ind.id)
            values[name] = value
        if pidx >= 0 and pidx not in out:
            out[pidx] = {name: values.get(name, math.nan) for name in reported}
    if problems:
        raise InputError(problems)
    return out


def _number(raw: object) -> float | None:
    """A cell as a float (NaN for missing), or None when it is not a number."""
    if raw is None:
        return math.nan
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return math.nan
        return float(text) if NUMBER_RE.match(text) else None
    return None
