"""Reading requests: the JSON body and query parameters, with clear 400/422 problems."""

from __future__ import annotations

import json
import re

from flask import abort, request

from ..data.text import id_problem, text_problem
from ..errors import InputError, NotFound, Problem, unknown_fields
from ..periods import check_period

MAX_DEPTH = 32  # objects and lists inside each other; no request of the API needs more than 4
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")  # an escaped NUL or surrogate


def json_body() -> object:
    """The parsed JSON body, whatever the Content-Type says (curl -d sends a form type). 400 when it is
    missing, not UTF-8 JSON, nested deeper than MAX_DEPTH, holds NaN or Infinity (not JSON: a missing
    value is null) or names a field twice in one object; 422 naming the field where a string holds a NUL or a lone surrogate."""
    raw = request.get_data(cache=True)  # read before any form parsing could consume it
    if not raw:
        abort(400, description="a JSON body is required")
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_not_json, parse_int=_int, object_pairs_hook=_unique)
    except RecursionError:
        body = None  # nested deeper than the parser goes: far deeper than MAX_DEPTH
    except _Repeated as exc:
        abort(400, description=f"the body names the field {exc.args[0]!r} twice in one object (which one "
                               "was meant cannot be told)")
    except (UnicodeDecodeError, ValueError):
        abort(400, description="the body is not valid JSON (UTF-8; no NaN or Infinity: a missing value is null)")
    if body is None and raw.strip() != b"null" or _depth(body) > MAX_DEPTH:
        abort(400, description=f"the body is nested more than {MAX_DEPTH} levels deep")
    if _SUSPECT.search(raw):
        problems = list(_bad_strings(body, ()))
        if problems:
            raise InputError(problems[:100])
    return body


def object_body(allowed: tuple[str, ...], shape: str) -> dict:
    """The JSON body as an object whose fields are among ``allowed``; 422 otherwise: for another type,
    saying the ``shape`` expected; for fields it does not know, naming each (and what it may have meant)."""
    body = json_body()
    if not isinstance(body, dict):
        raise InputError(Problem(f"the body must be an object: {shape}", field=()))
    unknown = unknown_fields(body, allowed)
    if unknown:
        raise InputError(unknown)
    return body


class _Repeated(Exception):
    pass


def _unique(pairs: list[tuple[str, object]]) -> dict:
    """An object of the body; a field named twice is refused (JSON parsers differ on which one wins)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _Repeated(next(k for k, _ in pairs if k in seen or seen.add(k))[:100])
    return out


def _depth(value: object) -> int:
    """How deep objects and lists nest in a parsed body (counted up to MAX_DEPTH + 1, no further)."""
    if type(value) not in (dict, list):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break
        for child in node.values() if type(node) is dict else node:
            if type(child) in (dict, list):
                stack.append((child, depth + 1))
    return deepest


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _int(text: str) -> int | float:
    # Beyond 18 digits an integer is no id and no count: as a float it is out of every range (422).
    return int(text) if len(text) <= 18 else float(text)


def _bad_strings(value: object, path: tuple):
    """Problems of every string (keys included) holding a NUL or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            yield Problem("text must not contain NUL characters or lone surrogates", field=path)
    elif isinstance(value, dict):
        for k, v in value.items():
            key = k if not any("\ud800" <= ch <= "\udfff" for ch in k) else k.encode("utf-8", "replace").decode()
            yield from _bad_strings(k, (*path, key))
            yield from _bad_strings(v, (*path, key))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _bad_strings(v, (*path, i))


def period_arg(name: str = "period", required: bool = True) -> str | None:
    value = request.args.get(name)
    if value is None:
        if required:
            raise InputError(Problem(f"query parameter '{name}' is required (YYYY-MM)", field=("query", name)))
        return None
    return check_period(value, "query", name)


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
    # ASCII digits only: int() also takes " 10", "+10", "1_0" and "１０", which a client did not mean to send
    number = int(value) if re.fullmatch(r"[0-9]{1,18}", value) else None
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


MAX_QUERY_VALUE = 1000


def check_request_text() -> None:
    """before_request: ids in the path that cannot exist (control characters, too long) are 404 at once,
    query values with control characters 422; neither reaches the database."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and name != "period" and id_problem(value):
            raise NotFound(Problem(f"no such {name}", field=(name,)))
    for name, value in request.args.items(multi=True):
        problem = text_problem(value, MAX_QUERY_VALUE) or text_problem(name, 100)
        if problem:
            raise InputError(Problem(f"query parameter {problem}", field=("query", name[:100])))
