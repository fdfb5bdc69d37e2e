"""SQLite has one write lock, and its own wait for it polls with growing sleeps, so that one of many
threads writing in a steady stream could lose every race for longer than the busy timeout (a 503 in
the soak test). The writers of a process take their turns through ``sqlite_write_turn`` instead."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from diagnosis_service.errors import StoreError
from diagnosis_service.pipeline.common import in_transaction
from diagnosis_service.store.connect import SQLITE_BUSY_TIMEOUT, make_engine, sqlite_write_turn
from diagnosis_service.store.errors import describe

THREADS, WRITES = 8, 50
HOLD, GAP = 0.005, 0.01  # seconds of Python work inside each write transaction, and between two


@pytest.fixture()
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counted (thread INTEGER, n INTEGER)")
    yield engine
    engine.dispose()


def _spin(seconds: float) -> None:
    """Work that holds the GIL, as ranking and JSON do in the service's threads."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_many_threads_writing_at_once_all_get_their_turn_soon(sqlite_engine):
    """Measured on 2 cores: with SQLite's own wait alone the longest wait grew with the run (2.5 s in
    4 s, 5.2 s in 11 s: past the busy timeout, a 503); in turns it stays near 0.1 s."""
    failures: list[BaseException] = []
    waits: list[float] = []

    def writer(thread: int) -> None:
        for n in range(WRITES):
            def step(conn, n=n):
                conn.execute(text("SELECT count(*) FROM counted")).scalar()
                _spin(HOLD)
                conn.execute(text("INSERT INTO counted VALUES (:t, :n)"), {"t": thread, "n": n})
            start = time.monotonic()
            try:
                in_transaction(sqlite_engine, step)
            except OperationalError as exc:  # what the service would have answered 503 for
                failures.append(exc)
            waits.append(time.monotonic() - start)
            _spin(GAP)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    with sqlite_engine.connect() as conn:
        rows = conn.execute(text("SELECT thread, count(*) FROM counted GROUP BY thread ORDER BY thread")).all()
    assert [tuple(r) for r in rows] == [(t, WRITES) for t in range(THREADS)]
    # A bound on fairness, not a speed target: half the busy timeout, 20 times what turns give here.
    assert max(waits) < SQLITE_BUSY_TIMEOUT / 2, f"a write waited {max(waits):.2f} s for its turn"


def test_a_turn_not_had_in_time_is_the_error_sqlite_gives_and_the_service_answers_503_for(sqlite_engine):
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with sqlite_write_turn(sqlite_engine):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        start = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked") as caught, \
                sqlite_write_turn(sqlite_engine, timeout=0.2):
            pass
        assert 0.15 < time.monotonic() - start < 5
    finally:
        release.set()
        thread.join(10)
    problem = describe(caught.value, strict=True)
    assert isinstance(problem, StoreError)
    assert "too slow to answer" in str(problem.problems[0])
    with sqlite_write_turn(sqlite_engine, timeout=0.2):  # free again once the holder is done
        pass


def test_turns_are_reentrant_and_per_database(sqlite_engine, tmp_path):
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with sqlite_write_turn(sqlite_engine):
            with sqlite_write_turn(sqlite_engine, timeout=0.1):  # the same thread: no wait on itself
                pass
            got: list[bool] = []
            thread = threading.Thread(target=lambda: got.append(_take(other)))
            thread.start()
            thread.join(10)
            assert got == [True]  # another database's writers do not wait for this one's
            thread = threading.Thread(target=lambda: got.append(_take(sqlite_engine)))
            thread.start()
            thread.join(10)
            assert got == [True, False]  # this database's do
    finally:
        other.dispose()


def _take(engine) -> bool:
    try:
        with sqlite_write_turn(engine, timeout=0.1):
            return True
    except OperationalError:
        return False
