"""One place that opens the database per request (as flaskr's ``get_db``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy.engine import Connection

from ..runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["diagnosis"]


def get_db() -> Connection:
    """The request's connection, opened on first use and closed when the request ends."""
    if "db" not in g:
        g.db = runtime().engine.connect()
    return g.db


@contextmanager
def transaction() -> Iterator[Connection]:
    """The request's connection inside one transaction: committed at the end, rolled back on error."""
    conn = get_db()
    if conn.in_transaction():
        conn.commit()  # ends the read-only transaction that token lookup began
    with conn.begin():
        yield conn


def close_db(_exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()
