"""Reading requests: the JSON body and query parameters, with clear 400/422 problems."""

from __future__ import annotations

import json

from flask import abort, request

from ..errors import InputError, NotFound, Problem
from ..periods import is_period


def json_body() -> object:
    """The parsed JSON body, whatever the Content-Type says (curl -d sends a form type); 400 when it is
    missing or not JSON."""
    raw = request.get_data(cache=True)  # read before any form parsing could consume it
    if not raw:
        abort(400, description="a JSON body is required")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        abort(400, description="the body is not valid JSON (UTF-8)")


def period_arg(name: str = "period", required: bool = True) -> str | None:
    value = request.args.get(name)
    if value is None:
        if required:
            raise InputError(Problem(f"query parameter '{name}' is required (YYYY-MM)", field=("query", name)))
        return None
    if not is_period(value):
        raise InputError(Problem(f"bad period {value!r}"[:200], field=("query", name),
                                 suggestion="write it as YYYY-MM, e.g. 2025-03"))
    return value


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in choices:
        raise InputError(Problem(f"{name} must be one of {', '.join(choices)}, got {value!r}"[:300],
                                 field=("query", name)))
    return value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise InputError(Problem(f"{name} must be a whole number from {low} to {high}, got {value!r}"[:300],
                                 field=("query", name)))
    return number


MAX_ID = 2**31 - 1  # ids are 32-bit in the store


def check_id(value: int, what: str) -> int:
    """A path id the store can hold; larger ones cannot exist (404, not a database overflow)."""
    if value > MAX_ID:
        raise NotFound(Problem(f"no {what} {value}", field=(what,)))
    return value
