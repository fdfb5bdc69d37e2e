"""Persistence through SQLAlchemy: SQLite (embedded, the default) or PostgreSQL, chosen by a URL.

Modules: ``schema`` (tables), ``migrate`` (Alembic), ``metrics`` (organisations and monthly metrics),
``blocks`` (each month's metrics once more as one columnar block, for the monthly job),
``results`` (stored diagnoses), ``served`` (prescriptions served and feedback), ``rulesets`` (rule-set
versions), ``tokens`` (API tokens). The store keeps rows and gives rows back: it imports nothing of
the package but ``errors`` and ``periods``, and what a row *means* (a result, a decision, a dataset)
is decided above it. Every write runs in the caller's transaction: a rejected request stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from .connect import make_engine
from .schema import METRICS


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
