"""Database engines that never wait on the database for long.

A database that is down refuses connections at once; one that hangs (a frozen server, a stalled
network) would keep every thread of the service waiting. So no call waits longer than ``timeout``
seconds of silence: on PostgreSQL a psycopg2 wait callback polls the connection's socket with that
timeout (connecting included) and fails the call with ``DatabaseTimeout``, and the connection is
discarded; the server also ends statements that run longer than ``statement_timeout``. SQLite, whose
one write lock writers take in turns, waits for it at most ``SQLITE_BUSY_TIMEOUT`` (or ``timeout``).
A pooled connection the server closed meanwhile (a restart) is replaced when it is next taken from
the pool, one that breaks in use when it fails, so the service recovers by itself, from its first
call, when the database comes back.

The writers of one process take SQLite's lock in turns through ``sqlite_write_turn``: SQLite's own
wait polls with sleeps that grow to 100 ms, so under a steady stream of short writes from many threads
one waiter can lose every race for seconds while the others go through.
"""

from __future__ import annotations

import logging
import math
import select
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError, OperationalError

DEFAULT_TIMEOUT = 60.0  # seconds of silence a command-line job accepts (the service sets its own)
SQLITE_BUSY_TIMEOUT = 5.0  # seconds at least that a write waits for SQLite's one write lock
_local = threading.local()  # the timeout of the connection being made in this thread
_timeouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # psycopg2 connection -> timeout
_turns: dict[str, threading.RLock] = {}  # SQLite database file -> the lock its writers in this process share
_turns_guard = threading.Lock()
log = logging.getLogger("diagnosis_service.store")


def _psycopg2_timeout_error():
    import psycopg2

    class DatabaseTimeout(psycopg2.OperationalError):
        """The database stayed silent for longer than the engine's timeout."""

    return DatabaseTimeout


_DatabaseTimeout = None


def database_timeout() -> type[Exception]:
    global _DatabaseTimeout
    if _DatabaseTimeout is None:
        _DatabaseTimeout = _psycopg2_timeout_error()
    return _DatabaseTimeout


def _wait(conn) -> None:
    """psycopg2's wait callback: the blocking calls, driven by ``poll`` with a timeout per wait."""
    from psycopg2 import extensions

    timeout = _timeouts.get(conn) or getattr(_local, "timeout", DEFAULT_TIMEOUT)
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        if state == extensions.POLL_READ:
            ready = _ready(conn.fileno(), select.POLLIN, timeout)
        elif state == extensions.POLL_WRITE:
            ready = _ready(conn.fileno(), select.POLLOUT, timeout)
        else:
            raise database_timeout()(f"unexpected state {state} from the database connection")
        if not ready:
            raise database_timeout()(f"the database did not answer within {timeout:g} s")


def _ready(fd: int, events: int, timeout: float) -> bool:
    """Whether ``fd`` is ready for ``events`` within ``timeout`` seconds (``poll``, not ``select``: a
    process with a thousand files open has sockets past select's limit of 1024)."""
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))


def _with_driver(url: str) -> str:
    """``postgresql://`` (the form psql and libpq take) means the driver this package installs,
    psycopg2: SQLAlchemy's own default for it is psycopg 3, which is not installed."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, as SQLAlchemy reads it (without its query, %-escapes decoded); None
    for another database, memory or a ``file:`` URI."""
    if not url.startswith("sqlite"):
        return None
    try:
        path = make_url(url).database
    except ArgumentError:  # malformed: left for create_engine to say so
        return None
    return Path(path) if path and path != ":memory:" and not path.startswith("file:") else None


def make_engine(url: str, autocommit: bool = False, timeout: float = DEFAULT_TIMEOUT,
                statement_timeout: float = 300.0, bulk: bool = False) -> Engine:
    """An engine for ``url``. SQLite: threads may share it, foreign keys and WAL on. PostgreSQL: a pool
    whose callers wait at most ``timeout`` seconds for a connection, and no call waits longer than
    ``timeout`` seconds of silence from the server.

    ``autocommit``: an engine for reads only, whose connections are in autocommit mode from the
    start (switching a pooled connection's mode costs a round trip on PostgreSQL, per request).

    ``bulk``: for a command that loads data and nothing else (``import``): on PostgreSQL without the
    driver's wait callback that bounds each wait, because COPY does not work with it (the callback is
    per process: never in a serving process). The statement timeout still bounds every statement.
    """
    extra = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # One writer at a time is SQLite's way: a writer may hold the lock for a few seconds (a month's
        # results), so the wait for it is longer than for a silent server.
        busy = max(timeout, SQLITE_BUSY_TIMEOUT)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy}, **extra)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # No pre-ping (a round trip per checkout, and on a frozen server a wait for the ping and another for
    # a new connection): a pooled connection the server closed is told at checkout without a round trip
    # (``_closed_while_idle``), one that broke in use is discarded when it fails, and connections older
    # than 30 minutes are replaced.
    try:
        engine = create_engine(_with_driver(url), pool_size=10, max_overflow=10, pool_recycle=1800,
                               pool_timeout=timeout, **extra)
    except ModuleNotFoundError as exc:  # a driver SQLAlchemy knows of, not installed: the same error as an unknown one
        raise NoSuchModuleError(f"Can't load plugin: the driver module {exc.name} is not installed") from None
    if engine.dialect.driver == "psycopg2":
        _guard_psycopg2(engine, timeout, statement_timeout, wait_callback=not bulk)
    return engine


@contextmanager
def sqlite_write_turn(engine: Engine, timeout: float = SQLITE_BUSY_TIMEOUT) -> Iterator[None]:
    """This thread's turn to write to ``engine``'s SQLite database, one thread of this process at a
    time: waited for at most ``timeout`` seconds, then the same "database is locked" error SQLite gives.
    Re-entrant; nothing to wait for on other databases."""
    if engine.dialect.name != "sqlite":
        yield
        return
    key = str(engine.url.database or ":memory:")
    with _turns_guard:
        turn = _turns.setdefault(key, threading.RLock())
    start = time.monotonic()
    if not turn.acquire(timeout=timeout):
        waited = time.monotonic() - start
        raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
            f"database is locked (other writers of this process held it for {waited:.1f} s)"))
    try:
        yield
    finally:
        turn.release()


def _guard_psycopg2(engine: Engine, timeout: float, statement_timeout: float, wait_callback: bool = True) -> None:
    from psycopg2 import extensions

    if wait_callback and extensions.get_wait_callback() is not _wait:
        extensions.set_wait_callback(_wait)
    if not getattr(sys.excepthook, "quiets_psycopg2", False):
        sys.excepthook = _quiet_driver_prints(sys.excepthook)
    timeout_error = database_timeout()

    @event.listens_for(engine, "do_connect")
    def _connecting(_dialect, _record, _cargs, _cparams) -> None:
        _local.timeout = timeout  # read by _wait while the connection is being made

    @event.listens_for(engine, "connect")
    def _connected(dbapi_conn, _record) -> None:
        _timeouts[dbapi_conn] = timeout
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET statement_timeout = {int(statement_timeout * 1000)}")
        dbapi_conn.autocommit = autocommit

    @event.listens_for(engine, "checkout")
    def _closed_while_idle(dbapi_conn, _record, _proxy) -> None:
        if _server_closed(dbapi_conn):
            raise DisconnectionError("the server closed this pooled connection while it was idle")

    @event.listens_for(engine, "handle_error")
    def _timed_out(ctx) -> None:
        if isinstance(ctx.original_exception, timeout_error):
            ctx.is_disconnect = True  # the connection is mid-call: discard it, never reuse it


def _quiet_driver_prints(previous):
    """``sys.excepthook`` less what psycopg2 prints itself (through ``PyErr_Print``) when a connection dies
    in a COPY: decoding the server's message with an error already set, it prints a SystemError chained to
    that error, whose context is the row being copied (a member's id and values), before raising the error
    to its caller anyway (where it is told in one line). Anything else goes to ``previous``."""

    def hook(exc_type, exc, tb) -> None:
        cause = None if exc is None else (exc.__cause__ or exc.__context__)
        if (exc_type is SystemError and cause is not None and type(cause).__module__.startswith("psycopg2")
                and "returned a result with an e" in str(exc)):  # "... an exception set", "... an error set"
            log.debug("psycopg2 printed an error it raises too (%s)", type(cause).__name__)
            return
        previous(exc_type, exc, tb)

    hook.quiets_psycopg2 = True  # type: ignore[attr-defined]
    return hook


def _server_closed(dbapi_conn) -> bool:
    """Whether the server closed this idle psycopg2 connection (a restart, ``pg_terminate_backend``, an
    idle timeout): an idle connection has nothing to read, so a readable socket holds the server's last
    words (FATAL, then the end of the stream). Told by a poll of the socket, with no round trip; the pool
    then connects afresh, and only a server that is really down fails the call. Otherwise the first call
    after a restart failed on each dead connection, and its 503 held every call back for a second
    (``service.runtime.DOWN_FOR``). A message the server sends an idle session unasked (a setting it
    reports, changed by a reload) also reads as closed: that connection is replaced, which costs a connect."""
    if dbapi_conn.closed:
        return True
    try:
        return _ready(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI, 0)  # (a hang-up is POLLHUP: ready too)
    except OSError:  # no socket any more
        return True


__all__ = ["DEFAULT_TIMEOUT", "SQLITE_BUSY_TIMEOUT", "database_timeout", "make_engine", "sqlite_write_turn"]
