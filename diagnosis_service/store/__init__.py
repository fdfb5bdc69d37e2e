"""Persistence through SQLAlchemy: SQLite (embedded, the default) or PostgreSQL, chosen by a URL.

Modules: ``schema`` (tables), ``migrate`` (Alembic), ``metrics`` (organisations and monthly metrics),
``results`` (stored diagnoses), ``served`` (prescriptions served and feedback), ``rulesets`` (rule-set
versions), ``tokens`` (API tokens). The store keeps rows and gives rows back: it imports nothing of
the package but ``errors`` and ``periods``, and what a row *means* (a result, a decision, a dataset)
is decided above it. Every write runs in the caller's transaction: a rejected request stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine

from .schema import METRICS


def make_engine(url: str, autocommit: bool = False) -> Engine:
    """An engine for ``url``; for SQLite, one that threads may share, with foreign keys and WAL on.

    ``autocommit``: an engine for reads only, whose connections are in autocommit mode from the
    start (switching a pooled connection's mode costs a round trip on PostgreSQL, per request).
    """
    extra = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **extra)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # No pre-ping (a round trip per checkout); connections older than 30 minutes are replaced instead.
    return create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800, **extra)


def ping(engine: Engine) -> None:
    """One round trip to the database (raises what the driver raises when it does not answer)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def now() -> datetime:
    """UTC, without tzinfo (SQLite has no time zones), to the second."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def missing_columns(engine: Engine, wanted: Mapping[str, Sequence[str]]) -> list[str]:
    """Columns of ``wanted`` (subject -> indicator ids) that the metric tables lack (a migration is needed)."""
    insp = inspect(engine)
    out = []
    for subject, (table, _, _) in METRICS.items():
        if not insp.has_table(table.name):
            return [f"table {table.name}"]
        have = {c["name"] for c in insp.get_columns(table.name)}
        out += [f"{table.name}.{c}" for c in wanted.get(subject, ()) if c not in have]
    return out


__all__ = ["make_engine", "ping", "missing_columns", "now"]
