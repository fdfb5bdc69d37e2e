"""Query parameters an operation does not take, or takes once given twice: refused (422), not ignored.

A misspelt filter (``colour=red`` for ``color=red``) answered the whole district as if asked for it, and
``color=red&color=green`` silently used the first. The names an operation takes are the OpenAPI
document's (``openapi.document``): what the document promises is what is checked.
"""

from __future__ import annotations

import functools
import re

from flask import request

from ..errors import InputError, Problem, did_you_mean

_FLASK_ARG = re.compile(r"<[^>]+>")
_OPENAPI_ARG = re.compile(r"\{[^}]+\}")
MAX_NAMED = 20  # problems named for one request (the query is untrusted: it may hold thousands)


@functools.cache
def _query_names() -> dict[tuple[str, str], frozenset[str]]:
    """(path with its parameters as ``{}``, method) -> the query parameters the document gives it."""
    from .openapi import document  # imported late: the document names the views' roles (auth imports this)

    out = {}
    for path, operations in document()["paths"].items():
        for method, op in operations.items():
            names = frozenset(p["name"] for p in op.get("parameters", []) if p.get("in") == "query")
            out[(_OPENAPI_ARG.sub("{}", path), method.upper())] = names
    return out


def check_query() -> None:
    """InputError naming each query parameter the request's operation does not take (with what may have
    been meant) and each given more than once; nothing for an operation the document does not describe."""
    rule = request.url_rule
    if rule is None or not request.args:
        return
    method = "GET" if request.method == "HEAD" else request.method
    allowed = _query_names().get((_FLASK_ARG.sub("{}", rule.rule), method))
    if allowed is None:
        return
    problems = []
    for name in list(request.args)[:MAX_NAMED]:
        said = name[:100]
        if name not in allowed:
            problems.append(Problem(f"unknown query parameter {said!r}", field=("query", said),
                                    suggestion=did_you_mean(said, allowed) or (
                                        "this operation takes " + ", ".join(sorted(allowed)) if allowed
                                        else "this operation takes no query parameters")))
        elif len(request.args.getlist(name)) > 1:
            problems.append(Problem(f"query parameter {said!r} given {len(request.args.getlist(name))} times",
                                    field=("query", said), suggestion="give it once"))
    if problems:
        raise InputError(problems)


__all__ = ["check_query"]
