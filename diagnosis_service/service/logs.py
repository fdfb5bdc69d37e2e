"""Structured logs: one JSON object per line on stderr, each request's with its request id.

Never logged: the Authorization header, cookies, tokens, request bodies. A request is logged with
method, path (no query string), status, duration and who (token name and role); a request that served
a list of prescriptions also with the ranker that made it (``learned:<fingerprint>``, ``prior``, ...)
and the list's id, as the store keeps them (``served_lists``).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from ..pipeline import signing
from ..store import tickets as tickets_store
from ..store import tokens as tokens_store

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A caller's request id is logged as given: one shaped like a secret of ours (a token sent in the wrong
# header) is replaced, never written to the log.
SECRET_PREFIXES = (tokens_store.PREFIX, tickets_store.PREFIX, signing.PREFIX)
log = logging.getLogger("diagnosis_service.http")


class JsonFormatter(logging.Formatter):
    FIELDS = ("request_id", "method", "path", "status", "ms", "who", "ranker", "list_id")

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for key in self.FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: str) -> None:
    """One JSON object per line on stderr, for this package's loggers and for waitress's (its queue depth
    and its errors are the server's own news: they were plain text among the JSON)."""
    for name, at in (("diagnosis_service", level), ("waitress", "INFO")):
        logger = logging.getLogger(name)
        if not any(getattr(h, "_diagnosis", False) for h in logger.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            handler._diagnosis = True  # type: ignore[attr-defined]
            logger.addHandler(handler)
        logger.setLevel(at if name == "waitress" else level)
        logger.propagate = False


SECRET_PATHS = ("pages.ticket_login", "pages.ticket_post")  # their path carries a login ticket


def register(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if REQUEST_ID_RE.fullmatch(given) and not given.startswith(SECRET_PREFIXES) \
            else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        identity = g.get("identity")
        log.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method,
            # A login ticket is a secret (once): its route is logged, not its value.
            "path": request.url_rule.rule if request.endpoint in SECRET_PATHS else request.path,
            "status": response.status_code, "ms": round((time.perf_counter() - g.get("started", time.perf_counter()))
                                                        * 1000, 1),
            "who": f"{identity.role}:{identity.name}" if identity else None,
            **{key: g.get(key) for key in ("ranker", "list_id") if g.get(key) is not None}})
        return response
