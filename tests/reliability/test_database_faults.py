"""A database that is down, frozen or locked: /healthz answers at once, /readyz and every API call answer
503 with Retry-After within 2 s, the service starts whatever the database does, and it recovers by
itself when the database comes back. PostgreSQL behind a proxy on 127.0.0.1 that the test freezes and
takes down; SQLite held by an exclusive lock."""

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from diagnosis_service.service import create_app
from tests.support.http import call, free_port, wait_until_up
from tests.support.proxy import Proxy
from tests.support.service import make_service, settings_for

DEADLINE = 2.0  # seconds within which a call must answer while the database does not


def timed(call):
    start = time.perf_counter()
    response = call()
    return response, time.perf_counter() - start


def until_ok(call, attempts: int = 40, pause: float = 0.25):
    """The call again until it answers 2xx (bounded); the last answer."""
    for _ in range(attempts):
        r = call()
        if r.status_code < 300:
            return r
        time.sleep(pause)
    return r


@pytest.fixture()
def proxied(postgres_server, tmp_path):
    svc = make_service("postgresql", tmp_path, diagnose=("2025-12",))
    proxy = Proxy(5432)
    url = svc.db.url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    app = create_app({"SETTINGS": settings_for(tmp_path), "DATABASE_URL": url, "TESTING": True})
    yield svc, proxy, app, url
    proxy.close()
    for engine in (app.extensions["diagnosis"].engine, app.extensions["diagnosis"].read_engine):
        engine.dispose()
    svc.close()


def answers_503_quickly(client, headers):
    for method, path, body in (("get", "/v1/lamps?period=2025-12", None), ("get", "/readyz", None),
                               ("post", "/v1/diagnoses", {"period": "2025-12"}),
                               ("get", "/v1/branches/B00002/diagnosis?period=2025-12", None)):
        r, seconds = timed(lambda m=method, p=path, b=body: getattr(client, m)(p, json=b, headers=headers))
        assert r.status_code == 503, (path, r.status_code, r.get_data(as_text=True)[:300])
        assert seconds < DEADLINE, (path, seconds)
        if path != "/readyz":
            assert r.mimetype == "application/problem+json" and r.headers["Retry-After"]
    r, seconds = timed(lambda: client.get("/healthz"))
    assert r.status_code == 200 and seconds < 0.2


@pytest.mark.postgresql
@pytest.mark.parametrize("outage", ["freeze", "down"])
def test_postgresql_frozen_or_down_then_back(proxied, outage):
    """Frozen: connections stay open and nothing passes. Down: connections closed, new ones refused."""
    svc, proxy, app, _ = proxied
    client, h = app.test_client(), svc.h("admin")
    assert client.get("/v1/lamps?period=2025-12", headers=h).status_code == 200
    getattr(proxy, outage)()
    time.sleep(1.1)  # past the one-second identity cache
    answers_503_quickly(client, h)
    assert client.get("/readyz").get_json() == {"status": "not ready", "reason": "database"}
    proxy.up()
    assert until_ok(lambda: client.get("/v1/lamps?period=2025-12", headers=h)).status_code == 200, "recovered"
    assert client.get("/readyz").status_code == 200


@pytest.mark.postgresql
@pytest.mark.parametrize("how", ["terminated", "down and up"])
def test_the_first_calls_after_a_postgresql_restart_succeed(proxied, how):
    """A restart while the service is idle leaves its pooled connections dead: the server ended them
    (as at shutdown: terminated) or they were cut and the server is back (down and up). The first calls
    after it find them closed at checkout and connect afresh: none answers 503, and none holds the
    others back (a dead connection found in use opened the one-second fail-fast window: ten calls 503)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    svc, proxy, app, _ = proxied
    client, h = app.test_client(), svc.h("admin")
    for path in ("/v1/lamps?period=2025-12", "/v1/branches/B00002/diagnosis?period=2025-12"):
        assert client.get(path, headers=h).status_code == 200  # both engines now hold pooled connections
    assert client.post("/v1/diagnoses?wait=true", json={"period": "2025-12"},
                       headers=svc.h("platform")).status_code == 201
    if how == "terminated":
        admin = create_engine(make_url(svc.db.url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            ended = conn.execute(text("select count(pg_terminate_backend(pid)) from pg_stat_activity where "
                                      "datname = current_database() and pid <> pg_backend_pid()")).scalar()
        admin.dispose()
        assert ended >= 2
    else:
        proxy.down()
        time.sleep(0.5)  # the proxy's listener is gone (its accept loop wakes every 0.2 s)
        proxy.up()
    time.sleep(0.3)  # the ends reach the service's sockets
    statuses = [client.get(path, headers=h).status_code for path in
                ("/v1/lamps?period=2025-12", "/v1/branches/B00002/diagnosis?period=2025-12") * 4]
    assert statuses == [200] * 8, statuses
    assert client.post("/v1/diagnoses?wait=true", json={"period": "2025-12"},
                       headers=svc.h("platform")).status_code == 201


@pytest.mark.postgresql
def test_the_service_starts_while_postgresql_is_frozen_and_becomes_ready(proxied, tmp_path):
    svc, proxy, _, url = proxied
    proxy.freeze()
    start = time.perf_counter()
    app = create_app({"SETTINGS": settings_for(tmp_path / "second"), "DATABASE_URL": url, "TESTING": True})
    assert time.perf_counter() - start < 10, "create_app does not wait on the database for long"
    client = app.test_client()
    r, seconds = timed(lambda: client.get("/readyz"))
    assert r.status_code == 503 and seconds < DEADLINE
    proxy.up()
    assert until_ok(lambda: client.get("/readyz")).status_code == 200
    assert client.get("/v1/lamps?period=2025-12", headers=svc.h("admin")).status_code == 200
    for engine in (app.extensions["diagnosis"].engine, app.extensions["diagnosis"].read_engine):
        engine.dispose()


@pytest.mark.postgresql
@pytest.mark.server
def test_a_real_server_stays_responsive_while_postgresql_is_frozen(proxied, tmp_path):
    """waitress with 2 threads: calls held by the frozen database end within the timeout, so /healthz
    and the next calls are answered within 2 s, and the server recovers without a restart."""
    svc, proxy, _, url = proxied
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "DIAGNOSIS_VAR": str(tmp_path / "var"), "DIAGNOSIS_LOG_LEVEL": "ERROR"}
    exe = str(Path(sys.executable).parent / "diagnosis-service")
    server = subprocess.Popen([exe, "serve", "--port", str(port), "--threads", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    token = svc.tokens["admin"]
    try:
        wait_until_up(base)
        assert call(f"{base}/v1/lamps?period=2025-12", token)[0] == 200
        proxy.freeze()
        time.sleep(1.1)
        for path in ("/v1/lamps?period=2025-12", "/readyz", "/healthz", "/v1/lamps?period=2025-12"):
            start = time.perf_counter()
            status = call(f"{base}{path}", token)[0]
            assert time.perf_counter() - start < DEADLINE, path
            assert status == (200 if path == "/healthz" else 503), (path, status)
        # Twelve calls at once on two threads: the first ones find the database silent, the others are
        # answered at once while it is known to be down; none waits past the deadline.
        latencies: list[tuple[int, float]] = []

        def one() -> None:
            start = time.perf_counter()
            status = call(f"{base}/v1/branches/B00002/diagnosis?period=2025-12", token)[0]
            latencies.append((status, time.perf_counter() - start))

        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert len(latencies) == 12 and {s for s, _ in latencies} == {503}, latencies
        assert max(seconds for _, seconds in latencies) < DEADLINE, latencies
        proxy.up()
        for _ in range(40):
            if call(f"{base}/v1/lamps?period=2025-12", token)[0] == 200:
                break
            time.sleep(0.25)
        assert call(f"{base}/v1/lamps?period=2025-12", token)[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.postgresql
@pytest.mark.server
def test_serve_starts_and_listens_while_postgresql_is_down(proxied, tmp_path):
    svc, proxy, _, url = proxied
    proxy.down()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "DIAGNOSIS_VAR": str(tmp_path / "var"), "DIAGNOSIS_LOG_LEVEL": "ERROR"}
    exe = str(Path(sys.executable).parent / "diagnosis-service")
    server = subprocess.Popen([exe, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        assert call(f"{base}/readyz")[:3:2] == (503, {"status": "not ready", "reason": "database"})
        proxy.up()
        for _ in range(40):
            if call(f"{base}/readyz")[0] == 200:
                break
            time.sleep(0.25)
        assert call(f"{base}/v1/lamps?period=2025-12", svc.tokens["admin"])[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow  # waits out the lock timeout
def _suppress_locked(engine) -> None:
    """A write that waits for the lock, then gives up (as the job worker's claim would)."""
    from sqlalchemy.exc import OperationalError

    from diagnosis_service.pipeline.common import in_transaction

    with contextlib.suppress(OperationalError):
        in_transaction(engine, lambda conn: conn.exec_driver_sql("UPDATE jobs SET progress = progress"))


def test_a_locked_sqlite_answers_writes_with_503_and_keeps_reading(tmp_path):
    svc = make_service("sqlite", tmp_path, diagnose=("2025-12",))
    try:
        path = svc.db.url.split("///", 1)[1]
        holder = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            r, seconds = timed(lambda: svc.client.put(
                "/v1/periods/2025-12/metrics", json={"branches": [{"branch_id": "B00002", "theory_study_sessions": 4}]},
                headers=svc.h("platform")))
            # SQLite's writers take its one lock in turns: a write waits for it up to 5 s, then 503.
            assert r.status_code == 503 and r.headers["Retry-After"] and seconds < 6, (r.status_code, seconds)
            read = svc.client.get("/v1/branches/B00002/diagnosis?period=2025-12", headers=svc.h("admin"))
            assert read.status_code == 200, "readers are not blocked by a writer (WAL)"
            # Another thread of this process already waiting for the lock (the job worker, say): a write
            # still answers within the one bound, not after waiting for that thread and then for the lock.
            engine = svc.app.extensions["diagnosis"].engine  # the service's own, as its job worker's
            waiting = threading.Thread(target=lambda: _suppress_locked(engine), daemon=True)
            waiting.start()
            time.sleep(0.5)
            r, seconds = timed(lambda: svc.client.put(
                "/v1/periods/2025-12/metrics", json={"branches": [{"branch_id": "B00002", "theory_study_sessions": 4}]},
                headers=svc.h("platform")))
            assert r.status_code == 503 and seconds < 6, (r.status_code, seconds)
            waiting.join(10)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        r = svc.client.put("/v1/periods/2025-12/metrics", json={"branches": [{"branch_id": "B00002",
                                                                             "theory_study_sessions": 4}]},
                           headers=svc.h("platform"))
        assert r.status_code == 200
    finally:
        svc.close()


@pytest.mark.postgresql
def test_a_connection_dying_in_a_copy_prints_no_row_of_data(postgres_server):
    """psycopg2, decoding the server's message when a connection dies in a COPY, prints (PyErr_Print,
    through sys.excepthook) a SystemError chained to that error, the row being copied in its context (a
    member's id and values), then raises the error to its caller anyway. A real COPY cut by
    pg_terminate_backend: its caller gets the error, and nothing else reaches stderr."""
    import textwrap

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from tests.support.service import PG_SERVER

    url = make_url(PG_SERVER).update_query_dict({"application_name": "copy-under-test"})
    script = textwrap.dedent(f"""
        import io, sys, time
        from diagnosis_service.store import make_engine
        engine = make_engine({url.render_as_string(hide_password=False)!r}, bulk=True)

        class Slow(io.RawIOBase):  # rows, slowly: the test ends the connection meanwhile (10 s at most)
            def __init__(self): self.n = 0
            def readable(self): return True
            def readinto(self, b):
                time.sleep(0.01)
                self.n += 1
                if self.n > 1000:
                    return 0
                line = f'"2025-12","M{{self.n:06d}}",1.5,secret-looking-value\\n'.encode()
                b[:len(line)] = line
                return len(line)

        with engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()
            cur.execute("CREATE TEMP TABLE t (period text, id text, x float8, y text)")
            try:
                cur.copy_expert("COPY t FROM STDIN WITH (FORMAT csv)", io.BufferedReader(Slow()))
                print("copied")
            except Exception as exc:
                print("raised", type(exc).__name__)
        """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    admin = create_engine(make_url(PG_SERVER), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    ended = 0
    try:
        for _ in range(100):  # bounded: until the COPY runs (10 s at most)
            time.sleep(0.1)
            with admin.connect() as conn:
                ended = conn.execute(text("select count(pg_terminate_backend(pid)) from pg_stat_activity where "
                                          "application_name = 'copy-under-test' and query like 'COPY%'")).scalar()
            if ended:
                break
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
        admin.dispose()
    assert ended and out.startswith("raised "), (out, err)
    assert "secret-looking-value" not in err and "SystemError" not in err, err


@pytest.mark.postgresql
@pytest.mark.parametrize("bulk", [False, True])
def test_a_process_with_a_thousand_files_open_still_talks_to_postgresql(postgres_server, bulk):
    """The waits and the check of a pooled connection poll its socket: ``select`` refuses a descriptor
    past 1024 (a server with many clients, an import with many files open), which made every call fail."""
    import resource

    from sqlalchemy import text

    from diagnosis_service.store import make_engine
    from tests.support.service import PG_SERVER

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # (the machines here allow 20,000; a soft limit of 1,024 is raised, as a server's would be)
    assert hard == resource.RLIM_INFINITY or hard >= 1200, f"a process may open only {hard} files here"
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while len(held) < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        engine = make_engine(PG_SERVER, bulk=bulk)
        try:
            for _ in range(3):  # a new connection, then pooled ones (checked at checkout)
                with engine.connect() as conn:
                    assert conn.connection.dbapi_connection.fileno() > 1024
                    assert conn.execute(text("select 1")).scalar() == 1
        finally:
            engine.dispose()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.postgresql
def test_a_connection_ended_under_a_call_is_told_apart_from_a_database_out_of_reach(postgres_server):
    """Both are outages (503, a job run again), but one says the database closed the connection (it was
    there: try again) and the other that it cannot be reached (check that it runs and the URL): a restart
    was told as "check that it runs and that DATABASE_URL is right"."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from diagnosis_service.errors import DatabaseDown
    from diagnosis_service.store import make_engine
    from diagnosis_service.store.errors import describe
    from tests.support.service import PG_SERVER

    engine = make_engine(make_url(PG_SERVER).update_query_dict({"application_name": "ended-under-test"})
                         .render_as_string(hide_password=False))
    admin = create_engine(make_url(PG_SERVER), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            with admin.connect() as other:
                assert other.execute(text("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                          "where application_name = 'ended-under-test'")).scalar() == 1
            with pytest.raises(DBAPIError) as ended:
                conn.execute(text("select 1"))
        with pytest.raises(DBAPIError) as refused:
            make_engine("postgresql://postgres@127.0.0.1:1/test", timeout=2).connect()
    finally:
        engine.dispose()
        admin.dispose()
    closed, away = describe(ended.value, "db"), describe(refused.value, "db")
    assert isinstance(closed, DatabaseDown) and isinstance(away, DatabaseDown)
    assert closed.problems[0].message.startswith("the database (db) closed the connection: ")
    assert "try again in a moment" in closed.problems[0].suggestion
    assert away.problems[0].message.startswith("cannot reach the database (db): ")
    assert "DATABASE_URL" in away.problems[0].suggestion
