"""Helpers shared by the workflows."""

from __future__ import annotations

from ..data.model import PERIOD_RE
from ..errors import InputError, Problem

MAX_ROWS = 200_000
PROFILE = {"branch": ("name", "type", "street"), "member": ("branch_id", "name")}


def check_period(period: str, field: str = "period") -> str:
    if not isinstance(period, str) or not PERIOD_RE.match(period):
        raise InputError(Problem(f"bad period {period!r}", column=field, suggestion="write it as YYYY-MM, e.g. 2025-03"))
    return period


