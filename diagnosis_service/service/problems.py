"""Errors as application/problem+json (RFC 9457): status, title, detail, and for validation an
``errors`` list of {path, message} (plus file, line, column, rule_id, suggestion where known)."""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, current_app, g, json, request
from werkzeug.exceptions import HTTPException

from ..errors import (
    CatalogError,
    Conflict,
    DatabaseDown,
    DiagnosisError,
    FileSpan,
    InputError,
    NotFound,
    Problem,
    RuleError,
    Unavailable,
    left_out,
)
from ..store.errors import SQLAlchemyError
from ..store.errors import describe as describe_store
from .page_errors import PageProblem, error_page, wants_page
from .session import CsrfError

log = logging.getLogger("diagnosis_service.http")
RETRY_AFTER = "5"  # seconds a client waits before retrying a 503


def problem_item(p: Problem) -> dict:
    """One problem for the ``errors`` list: ``path`` (a path into the request, or ``file:line:column`` of
    a rule file, with ``file``, ``line`` and ``column`` too), ``message``, and a suggestion or rule id."""
    where = p.where
    item: dict = {"path": "" if where is None else str(where), "message": p.message}
    if isinstance(where, FileSpan):
        item["file"] = where.file
        for key in ("line", "column"):
            if getattr(where, key) is not None:
                item[key] = getattr(where, key)
    for key in ("rule_id", "suggestion"):
        if getattr(p, key):
            item[key] = getattr(p, key)
    return item


MAX_LISTED = 1000  # problems listed in one answer (a file of 60,000 bad lines answered 11 MB of them)


def problem_items(problems: list[Problem]) -> list[dict]:
    """The first MAX_LISTED problems as ``errors`` items; past that, one more item saying how many were
    left out (the count is in the answer's ``detail`` too)."""
    if len(problems) == MAX_LISTED + 1 and left_out(problems):  # the last says how many more (a capped list)
        return [problem_item(p) for p in problems]
    items = [problem_item(p) for p in problems[:MAX_LISTED]]
    if len(problems) > MAX_LISTED:
        items.append({"path": "", "message": f"{len(problems) - MAX_LISTED} more problems not listed",
                      "suggestion": "mend those listed and check again"})
    return items


def _count(problems: list[Problem]) -> int:
    """How many problems there are: those listed, a capped list's last one standing for those it left out."""
    more = left_out(problems)
    return len(problems) - 1 + more if more else len(problems)


def _not_a_number(app: Flask, path: str) -> str | None:
    """For an address that would match a route but for a number it must hold (``/v1/rules/versions/abc``),
    what that number is; None otherwise (the generic "not found" stands)."""
    given = path.split("/")
    for rule in app.url_map.iter_rules():
        wanted = rule.rule.split("/")
        if "<int:" not in rule.rule or len(wanted) != len(given):
            continue
        bad = None
        for want, got in zip(wanted, given, strict=True):
            variable = re.fullmatch(r"<(?:(\w+):)?(\w+)>", want)
            if variable is None and want != got:
                break
            if variable is not None and variable.group(1) == "int" and not got.isdigit() and bad is None:
                bad = variable.group(2).replace("_", " "), got
        else:
            if bad is not None:
                return f"no {bad[0]} {bad[1][:40]!r}: {bad[0]}s are whole numbers"
    return None


def problem(status: int, title: str, detail: str, errors: list[dict] | None = None, **extra) -> Response:
    body = {"type": "about:blank", "status": status, "title": title, "detail": detail, **extra}
    if errors is not None:
        body["errors"] = errors
    if "request_id" in g:
        body["request_id"] = g.request_id
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json")
    return resp


STATUS = [(NotFound, 404, "Not Found"), (Conflict, 409, "Conflict"), (InputError, 422, "Unprocessable Content"),
          (RuleError, 422, "Unprocessable Content"), (CatalogError, 422, "Unprocessable Content"),
          (Unavailable, 503, "Service Unavailable")]


def register(app: Flask) -> None:
    @app.errorhandler(DiagnosisError)
    def _diagnosis_error(exc: DiagnosisError):
        status, title = next(((s, t) for cls, s, t in STATUS if isinstance(exc, cls)), (422, "Unprocessable Content"))
        items = problem_items(exc.problems)
        if wants_page():
            resp = error_page(status, details=[f"{i['path']}: {i['message']}" if i["path"] else i["message"]
                                               for i in items])
        else:
            detail = items[0]["message"] if len(exc.problems) == 1 else f"{_count(exc.problems)} problems; see errors"
            resp = problem(status, title, detail, errors=items)
        if status == 503:
            resp.headers["Retry-After"] = "1" if isinstance(exc, DatabaseDown) else RETRY_AFTER
        return resp

    @app.errorhandler(SQLAlchemyError)
    def _database_error(exc: SQLAlchemyError):
        """The database down, slow or without a schema: 503 with Retry-After; a lost race: 409."""
        known = describe_store(exc, strict=True)
        if known is None:
            return _unexpected(exc)
        if isinstance(known, DatabaseDown):
            current_app.extensions["diagnosis"].database_down()
        log.warning("database: %s %s: %s", request.method, request.path, known.problems[0],
                    extra={"request_id": g.get("request_id")})
        return _diagnosis_error(known)

    @app.errorhandler(PageProblem)
    def _page_problem(exc: PageProblem):
        return error_page(exc.status, exc.text, exc.links)

    @app.errorhandler(CsrfError)
    def _csrf_error(_exc: CsrfError):
        return error_page(400)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        detail = exc.description or exc.name
        if exc.code == 404 and request.url_rule is None:
            detail = _not_a_number(app, request.path) or detail
        if exc.code == 413:
            detail = f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes"
        resp = error_page(exc.code or 500) if wants_page() else problem(exc.code or 500, exc.name, detail)
        if exc.code == 405 and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        if exc.code == 401 and not wants_page():  # RFC 6750: how to authenticate, and whether a token failed
            from .auth import bearer_given

            resp.headers["WWW-Authenticate"] = 'Bearer realm="diagnosis-service"' + (
                ', error="invalid_token"' if bearer_given() else "")
        return resp

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        if wants_page():
            return error_page(500)
        return problem(500, "Internal Server Error", "an unexpected error; the request id identifies it in the log")
