"""The monthly job on PostgreSQL under concurrency and outages: two months stored at once one after the
other, a job whose connections the database dropped run again (not failed), and a job left in an outage
given back by its worker once the database answers."""

from __future__ import annotations

import contextlib
import time

import pytest
from sqlalchemy import func, select

from diagnosis_service.pipeline.jobs import JobConfig, run_next, submit_diagnosis
from diagnosis_service.store import jobs as jobs_store
from diagnosis_service.store.schema import results


@pytest.mark.parametrize("fresh_service", [pytest.param("postgresql", marks=pytest.mark.postgresql)],
                         indirect=True)  # PostgreSQL's own: concurrent writers, dropped connections
def test_two_months_stored_at_once_are_stored_one_after_the_other(fresh_service):
    """On PostgreSQL two processes may store two months at the same moment (a job and a request, two
    servers): the second waits for the first's commit, so its lamp.changed events compare with the month
    before as stored, as GET /v1/lamps/changes does, not with nothing."""
    import json
    import threading

    from sqlalchemy import text

    from diagnosis_service.pipeline.diagnoses import diagnose_period, lamp_changes
    from diagnosis_service.store import webhooks as webhooks_store
    from diagnosis_service.store.schema import webhook_events

    svc = fresh_service
    with svc.engine.begin() as conn:
        webhooks_store.create(conn, url="http://127.0.0.1:9/hook", salt="s", events=["lamp.changed"],
                              street=None, branches=None, description="", created_by="test")
    runtime = svc.app.extensions["diagnosis"]
    snapshot = runtime.snapshot()
    later: dict = {}
    # The service's own engine, which reads a database silent for DIAGNOSIS_DB_TIMEOUT (1.5 s) as an outage:
    # the wait for the other's storing (held 2 s below) must not look like one.
    worker = threading.Thread(target=lambda: later.update(diagnose_period(snapshot, runtime.engine, "2025-06",
                                                                          "test")))

    def while_the_month_before_is_stored(conn, summary) -> None:
        worker.start()  # reads, diagnoses, then waits for this transaction to end before storing
        deadline = time.monotonic() + 60
        with svc.engine.connect() as watch:
            while time.monotonic() < deadline and worker.is_alive():  # bounded: a small district's month
                waiting = watch.execute(text(  # the other store tried the lock (and tries again): it waits
                    "select count(*) from pg_stat_activity where query like '%pg_try_advisory_xact_lock%' "
                    "and state = 'idle in transaction' and pid <> pg_backend_pid()")).scalar()
                watch.rollback()
                if waiting:
                    time.sleep(runtime.settings.db_timeout + 0.5)  # a storing longer than the silence timeout
                    return
                time.sleep(0.05)
        raise AssertionError("the second month was stored while the first was still being stored")

    diagnose_period(snapshot, svc.engine, "2025-05", "test", finish=while_the_month_before_is_stored)
    worker.join(timeout=120)
    assert later["period"] == "2025-06"
    with svc.engine.connect() as conn:
        sent = [json.loads(b) for b in conn.execute(select(webhook_events.c.body)
                                                     .where(webhook_events.c.type == "lamp.changed")).scalars()]
        expected = lamp_changes(conn, "2025-06", None)
    june = [e for e in sent if e["data"]["period"] == "2025-06"]
    assert expected["previous_diagnosed"] and len(june) == expected["count"] < later["branches"] + later["members"]


@contextlib.contextmanager
def _connections_dropped_as_the_job_starts(svc):
    """(the job's engine, a snapshot function, reopen): once the job has started (it asks for its snapshot),
    the database refuses the job engine's connections and drops those it has, once; reopen lets them in
    again (and is done on leaving, whatever happened)."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    from diagnosis_service.store import make_engine

    tagged = make_url(svc.db.url).update_query_dict({"application_name": "job-under-test"})
    engine = make_engine(tagged.render_as_string(hide_password=False))
    admin = create_engine(make_url(svc.db.url).set(database="postgres"), poolclass=NullPool,
                          isolation_level="AUTOCOMMIT")  # beside the test's own database, to close and open it
    runtime = svc.app.extensions["diagnosis"]
    drops: list[int] = []
    database = make_url(svc.db.url).database

    def snapshot():
        if not drops:
            with admin.connect() as conn:
                conn.execute(text(f'alter database "{database}" with allow_connections false'))
                drops.append(conn.execute(text("select count(pg_terminate_backend(pid)) from pg_stat_activity "
                                               "where application_name = 'job-under-test'")).scalar())
        return runtime.snapshot()

    def reopen() -> None:
        assert drops and drops[0] > 0, "the job's connections were dropped"
        with admin.connect() as conn:
            conn.execute(text(f'alter database "{database}" with allow_connections true'))

    try:
        yield engine, snapshot, reopen
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'alter database "{database}" with allow_connections true'))
        engine.dispose()
        admin.dispose()


def _left_as_it_was(svc, job_id: int) -> dict:
    with svc.engine.connect() as conn:
        left = jobs_store.get(conn, job_id)
        kept = conn.execute(select(func.count()).select_from(results).where(results.c.period == "2025-03")).scalar()
    assert left["state"] == "running" and kept == 0, left
    return left


@pytest.mark.parametrize("fresh_service", [pytest.param("postgresql", marks=pytest.mark.postgresql)],
                         indirect=True)  # PostgreSQL's own: concurrent writers, dropped connections
def test_a_job_the_database_failed_under_runs_again_not_failed(fresh_service, caplog):
    """The database dropping its connections as a job starts (a restart, a failover) is an outage, not the
    job's failure: nothing is kept, the job is left to its lease and run again (it was failed for good as an
    "internal error (OperationalError)")."""
    svc = fresh_service
    job, _ = submit_diagnosis(svc.engine, "2025-03", "test")
    config = JobConfig(lease=0.5, max_attempts=3)
    with caplog.at_level("WARNING", logger="diagnosis_service"), \
            _connections_dropped_as_the_job_starts(svc) as (engine, snapshot, reopen):
        assert run_next(engine, snapshot, "worker-a", config)
        _left_as_it_was(svc, job["id"])
        reopen()  # the database is back
        deadline = time.monotonic() + 30
        while not run_next(engine, snapshot, "worker-b", config):  # bounded: until its lease (0.5 s) runs out
            assert time.monotonic() < deadline, "the job was never run again"
            time.sleep(0.1)
    with svc.engine.connect() as conn:
        done = jobs_store.get(conn, job["id"])
    assert done["state"] == "succeeded" and done["attempts"] == 2 and done["owner"] == "worker-b"
    assert "the database failed while it ran" in caplog.text


@pytest.mark.parametrize("fresh_service", [pytest.param("postgresql", marks=pytest.mark.postgresql)],
                         indirect=True)
@pytest.mark.parametrize("max_attempts", [3, 1])
def test_a_job_left_in_an_outage_is_given_back_once_the_database_answers(fresh_service, max_attempts):
    """The worker that left a job in an outage gives it back as soon as the database answers: it runs again
    at once, not after its lease (two minutes by default, the job showing "running" meanwhile); on its last
    allowed attempt it fails saying the database failed it (it said "the worker running it stopped 1
    times without finishing", which the worker knew to be untrue)."""
    svc = fresh_service
    job, _ = submit_diagnosis(svc.engine, "2025-03", "test")
    config = JobConfig(lease=600, max_attempts=max_attempts)
    left: list[dict] = []
    with _connections_dropped_as_the_job_starts(svc) as (engine, snapshot, reopen):
        assert run_next(engine, snapshot, "worker-a", config, left)
        _left_as_it_was(svc, job["id"])
        assert [x["id"] for x in left] == [job["id"]]
        reopen()
        run_next(engine, snapshot, "worker-a", config, left)  # gives it back, then claims what is queued
    assert left == []
    with svc.engine.connect() as conn:
        done = jobs_store.get(conn, job["id"])
    if max_attempts > 1:
        assert done["state"] == "succeeded" and done["attempts"] == 2, done
    else:
        assert done["state"] == "failed" and done["attempts"] == 1, done
        assert done["error"]["message"].startswith("the database failed while it ran, in its last allowed attempt "
                                                   "(1 of 1): OperationalError"), done["error"]
