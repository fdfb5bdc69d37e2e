"""One place that opens the database per request (as flaskr's ``get_db``), and the request's snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy.engine import Connection

from ..pipeline.snapshot import Snapshot
from .runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["diagnosis"]


def snapshot(force: bool = False) -> Snapshot:
    """The active rules, catalog and ranker for this request: read once, the same to its end."""
    if "snapshot" not in g or force:
        g.snapshot = runtime().snapshot(force)
    return g.snapshot


def get_db() -> Connection:
    """The request's connection for reads, opened on first use and closed when the request ends.

    In autocommit mode: a read needs no BEGIN and ROLLBACK round trips (on PostgreSQL they cost as much
    as the query itself). Writes go through ``transaction()``.
    """
    if "db" not in g:
        g.db = runtime().read_engine.connect()
    return g.db


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection inside one transaction: committed at the end, rolled back on any error."""
    with runtime().engine.begin() as conn:
        yield conn


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()
