"""Limits shared by the pipeline steps that take requests, and writing in one transaction that is run
again when a concurrent one wrote the same rows first."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..store.connect import sqlite_write_turn

MAX_ROWS = 200_000
PROFILE = {"branch": ("name", "type", "street"), "member": ("branch_id", "name")}
ATTEMPTS = 3
RETRYABLE_PGCODES = ("40001", "40P01", "55P03")  # serialization failure, deadlock, lock not available
BACKOFF = 0.05  # seconds before the second attempt, twice that before the third
RETRY_WITHIN = 1.0  # a race is lost quickly; a transaction that failed after longer waited on a lock: no retry

T = TypeVar("T")


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True  # e.g. two first writes of the same period: the second now finds the rows and updates
    if not isinstance(exc, DBAPIError):
        return False
    # SQLite: another writer committed since this transaction began reading (or held the lock too long).
    return getattr(exc.orig, "pgcode", None) in RETRYABLE_PGCODES or "database is locked" in str(exc.orig)


def in_transaction(engine: Engine, step: Callable[[Connection], T]) -> T:
    """``step(conn)`` in one transaction, run again (at most ``ATTEMPTS`` times in all) when it lost a race
    to a concurrent transaction; the last failure is raised (the service answers 409, or 503 for a
    database that stayed locked)."""
    attempt, start = 1, time.monotonic()
    while True:
        try:
            turn = time.monotonic()
            with sqlite_write_turn(engine), engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    # Take the write lock now, waiting for it if need be: a transaction that reads first
                    # and writes later fails at once when another writer committed in between. The wait for
                    # this process's turn and for the lock share one bound (another thread of this process
                    # waiting on a lock another process holds made a write wait twice, 10 s).
                    busy_ms = int(conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
                    left_ms = max(50, busy_ms - int((time.monotonic() - turn) * 1000))
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {left_ms}")
                    try:
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    finally:
                        conn.exec_driver_sql(f"PRAGMA busy_timeout = {busy_ms}")
                return step(conn)
        except DBAPIError as exc:
            if attempt >= ATTEMPTS or not _retryable(exc) or time.monotonic() - start > RETRY_WITHIN:
                raise
            time.sleep(BACKOFF * attempt)
            attempt += 1


__all__ = ["ATTEMPTS", "MAX_ROWS", "PROFILE", "in_transaction"]
