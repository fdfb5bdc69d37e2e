"""One place that opens the database per request (as flaskr's ``get_db``), and the request's snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request
from sqlalchemy.engine import Connection

from ..errors import DatabaseDown, Problem
from ..pipeline.common import in_transaction
from ..pipeline.snapshot import Snapshot
from .runtime import Runtime

T = TypeVar("T")


def runtime() -> Runtime:
    return current_app.extensions["diagnosis"]


def fail_fast() -> None:
    """before_request: while the database is known to be down (it just did not answer), a call that needs
    it answers 503 at once; /healthz and /readyz (which looks for itself) are not held back."""
    if request.endpoint not in ("health.healthz", "health.readyz", "static") and runtime().database_seems_down():
        raise DatabaseDown(Problem("the database does not answer", suggestion="try again in a moment"))


def snapshot(force: bool = False) -> Snapshot:
    """The active rules, catalog and ranker for this request: read once, the same to its end."""
    if "snapshot" not in g or force:
        g.snapshot = runtime().snapshot(force)
    return g.snapshot


def get_db() -> Connection:
    """The request's connection for reads, opened on first use and closed when the request ends.

    In autocommit mode: a read needs no BEGIN and ROLLBACK round trips (on PostgreSQL they cost as much
    as the query itself). Writes go through ``write()``.
    """
    if "db" not in g:
        g.db = runtime().read_engine.connect()
    return g.db


def write(step: Callable[[Connection], T]) -> T:
    """``step(conn)`` in one transaction, committed at the end, rolled back on any error, and run again
    when it lost a race to a concurrent write (``pipeline.common.in_transaction``)."""
    return in_transaction(runtime().engine, step)


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()
