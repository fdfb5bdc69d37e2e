"""The monthly job as a job: 202 and a job to follow, its progress and result, one job per period at a
time, visible failure, and a job taken over when its worker stopped (its lease expired)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from diagnosis_service.pipeline.jobs import JobConfig, JobWorker, run_next, submit_diagnosis
from diagnosis_service.store import jobs as jobs_store
from diagnosis_service.store.schema import branch_metrics, member_metrics, metric_blocks, results


def _wait(c, h, job_id: int, limit: float = 60.0) -> dict:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:  # bounded: a small district's month takes about a second
        job = c.get(f"/v1/jobs/{job_id}", headers=h).get_json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {limit} s")


def test_a_diagnosis_is_a_job_to_follow(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    r = c.post("/v1/diagnoses", json={"period": "2025-10"}, headers=h("platform"))
    job = r.get_json()
    assert r.status_code == 202 and r.headers["Location"] == f"/v1/jobs/{job['job_id']}"
    assert job["state"] in ("queued", "running", "succeeded") and job["params"] == {"period": "2025-10"}
    done = _wait(c, h("platform"), job["job_id"])
    assert done["state"] == "succeeded" and done["progress"] == 1.0 and done["stage"] == "done"
    assert done["attempts"] == 1 and done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert done["lease_until"] is None  # held by no worker once done
    assert done["result"]["branches"] == 24 and done["result"]["period"] == "2025-10"
    sync = c.post("/v1/diagnoses?wait=true", json={"period": "2025-10"}, headers=h("platform")).get_json()
    assert {k: v for k, v in sync.items() if k not in ("run_id", "seconds")} == {
        k: v for k, v in done["result"].items() if k not in ("run_id", "seconds")}
    with fresh_service.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(results).where(results.c.period == "2025-10")).scalar()
    assert stored == done["result"]["branches"] + done["result"]["members"]
    listed = c.get("/v1/jobs?state=succeeded", headers=h("admin")).get_json()["jobs"]
    assert listed[0]["job_id"] == job["job_id"]
    assert c.get(f"/v1/jobs/{job['job_id']}", headers=h("secretary")).status_code == 403
    assert c.get("/v1/jobs/999999", headers=h("platform")).status_code == 404
    typo = c.get("/v1/jobs/abc", headers=h("platform"))
    assert typo.status_code == 404 and "job ids are numbers" in typo.get_json()["detail"]
    assert c.get("/v1/jobs?state=lost", headers=h("platform")).status_code == 422
    assert c.post("/v1/diagnoses?wait=maybe", json={"period": "2025-10"}, headers=h("platform")).status_code == 422


def test_a_bad_or_unknown_period_is_answered_at_once(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    assert c.post("/v1/diagnoses", json={"period": "2025-13"}, headers=h("platform")).status_code == 422
    empty = c.post("/v1/diagnoses", json={}, headers=h("platform"))
    assert empty.status_code == 422 and "period is required" in empty.get_json()["detail"], empty.get_json()
    missing = c.post("/v1/diagnoses", json={"period": "2031-01"}, headers=h("platform"))
    assert missing.status_code == 404 and "no metrics stored" in missing.get_json()["detail"]
    with fresh_service.engine.connect() as conn:
        assert jobs_store.counts(conn)["queued"] == 0


def test_one_job_per_period_and_a_visible_failure(fresh_service):
    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    first, created = submit_diagnosis(svc.engine, "2025-09", "test")
    again, created_again = submit_diagnosis(svc.engine, "2025-09", "test")
    assert created and not created_again and again["id"] == first["id"]
    # The month's metrics vanish before a worker gets to it: the job fails, saying why. (Its columnar
    # blocks go too: the store's own writers drop them; an edit by hand in SQL must as well.)
    with svc.engine.begin() as conn:
        conn.execute(delete(member_metrics).where(member_metrics.c.period == "2025-09"))
        conn.execute(delete(branch_metrics).where(branch_metrics.c.period == "2025-09"))
        conn.execute(delete(metric_blocks).where(metric_blocks.c.period == "2025-09"))
    assert run_next(svc.engine, runtime.snapshot, "worker-a", JobConfig())
    with svc.engine.connect() as conn:
        job = jobs_store.get(conn, first["id"])
    assert job["state"] == "failed" and "no metrics stored for period 2025-09" in job["error"]["message"]
    assert not run_next(svc.engine, runtime.snapshot, "worker-a", JobConfig())  # nothing left to do


def test_a_job_whose_worker_stopped_is_taken_over_then_failed_after_its_attempts(fresh_service, caplog):
    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    job, _ = submit_diagnosis(svc.engine, "2025-08", "test")
    with svc.engine.begin() as conn:  # a worker claims it and dies: its lease runs out
        assert jobs_store.claim(conn, "dead-worker", timedelta(seconds=-1))["owner"] == "dead-worker"
    config = JobConfig(lease=30, max_attempts=3)
    assert run_next(svc.engine, runtime.snapshot, "worker-b", config)
    with svc.engine.connect() as conn:
        done = jobs_store.get(conn, job["id"])
        stored = conn.execute(select(func.count()).select_from(results).where(results.c.period == "2025-08")).scalar()
    assert done["state"] == "succeeded" and done["attempts"] == 2 and done["owner"] == "worker-b"
    assert stored == done["result"]["branches"] + done["result"]["members"]
    # A job that stops its worker every time: after the third start it is failed, not retried forever.
    doomed, _ = submit_diagnosis(svc.engine, "2025-07", "test")
    for n in range(3):
        with svc.engine.begin() as conn:
            assert jobs_store.claim(conn, f"dying-{n}", timedelta(seconds=-1))["id"] == doomed["id"]
    assert not run_next(svc.engine, runtime.snapshot, "worker-c", config)
    with svc.engine.connect() as conn:
        failed = jobs_store.get(conn, doomed["id"])
    assert failed["state"] == "failed" and "stopped 3 times" in failed["error"]["message"]
    assert any(r.levelname == "ERROR" and f"job {doomed['id']} failed: its worker stopped 3 times" in r.getMessage()
               for r in caplog.records), caplog.text


def test_the_same_work_cannot_be_queued_twice_and_a_renewed_lease_is_not_taken(fresh_service):
    from sqlalchemy.exc import IntegrityError

    svc = fresh_service
    job, _ = submit_diagnosis(svc.engine, "2025-06", "test")
    with pytest.raises(IntegrityError), svc.engine.begin() as conn:  # what a concurrent request would do
        jobs_store.create(conn, "diagnosis", {"period": "2025-06"}, "other")
    with svc.engine.begin() as conn:
        held = jobs_store.claim(conn, "worker-a", timedelta(seconds=60))
        assert held["id"] == job["id"]
        assert jobs_store.claim(conn, "worker-b", timedelta(seconds=60)) is None  # a live lease is not taken
    # The job as a client sees it while it runs: until when its worker holds it, moved on by each renewal.
    watched = svc.client.get(f"/v1/jobs/{job['id']}", headers=svc.h("platform")).get_json()
    assert watched["state"] == "running" and watched["lease_until"] > watched["started_at"]
    with svc.engine.begin() as conn:
        assert jobs_store.progress(conn, job["id"], "worker-a", "diagnosing", 0.5, timedelta(seconds=90))
    renewed = svc.client.get(f"/v1/jobs/{job['id']}", headers=svc.h("platform")).get_json()
    assert renewed["lease_until"] > watched["lease_until"] and renewed["stage"] == "diagnosing"
    with svc.engine.begin() as conn:
        assert jobs_store.progress(conn, job["id"], "worker-a", "diagnosing", 0.5, timedelta(seconds=60))
        assert not jobs_store.progress(conn, job["id"], "worker-b", "diagnosing", 0.5, timedelta(seconds=60))
        assert jobs_store.finish(conn, job["id"], "worker-a", result={"ok": True})
    again, created = submit_diagnosis(svc.engine, "2025-06", "test")  # the work ended: it may be asked again
    assert created and again["id"] != job["id"]


def test_a_stopping_worker_gives_its_job_back_for_the_next_at_once(fresh_service, caplog):
    """A process told to stop (SIGTERM) left its job "running" for the lease's two minutes; now the job is
    queued again at once, the attempt not counted, and the stopping worker can no longer store it."""
    svc = fresh_service
    job, _ = submit_diagnosis(svc.engine, "2025-05", "test")
    stopping = JobWorker(svc.engine, svc.app.extensions["diagnosis"].snapshot, JobConfig(lease=120))
    with svc.engine.begin() as conn:
        assert jobs_store.claim(conn, stopping.owner, timedelta(seconds=120))["id"] == job["id"]
        assert jobs_store.claim(conn, "worker-b", timedelta(seconds=120)) is None  # held: not taken
    with caplog.at_level("INFO", logger="diagnosis_service"):
        stopping.stop(timeout=0.1)
    with svc.engine.begin() as conn:
        back = jobs_store.get(conn, job["id"])
        assert back["state"] == "queued" and back["attempts"] == 0 and back["owner"] is None
        assert not jobs_store.progress(conn, job["id"], stopping.owner, "diagnosing", 0.5, timedelta(seconds=60))
        assert not jobs_store.finish(conn, job["id"], stopping.owner, result={"ok": True})
        assert jobs_store.claim(conn, "worker-b", timedelta(seconds=120))["id"] == job["id"]
    assert f"job {job['id']}: given back on stopping" in caplog.text


def test_a_job_is_marked_done_with_its_results_or_neither_is_kept(fresh_service):
    """The job is marked done in the transaction that keeps its results: a worker killed between the two no
    longer leaves a job that runs again (a second run stored, "diagnosis.completed" sent twice), and a worker
    whose lease was taken over while it stored keeps nothing, not even the events."""

    from diagnosis_service.pipeline.diagnoses import diagnose_period
    from diagnosis_service.pipeline.jobs import LeaseLost, finisher
    from diagnosis_service.store import webhooks as webhooks_store
    from diagnosis_service.store.schema import diagnosis_runs, webhook_events

    svc = fresh_service
    with svc.engine.begin() as conn:  # a subscriber: a kept run writes its event to the outbox
        webhooks_store.create(conn, url="http://127.0.0.1:9/hook", salt="s", events=["diagnosis.completed"],
                              street=None, branches=None, description="", created_by="test")
    snapshot = svc.app.extensions["diagnosis"].snapshot()
    job, _ = submit_diagnosis(svc.engine, "2025-04", "test")
    with svc.engine.begin() as conn:
        assert jobs_store.claim(conn, "worker-a", timedelta(seconds=-1))["id"] == job["id"]  # its lease ran out
        assert jobs_store.claim(conn, "worker-b", timedelta(seconds=60))["id"] == job["id"]  # and b took it over

    def kept() -> tuple[int, int, int]:
        with svc.engine.connect() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t).where(*where)).scalar() for t, where in (
                (results, (results.c.period == "2025-04",)), (diagnosis_runs, (diagnosis_runs.c.period == "2025-04",)),
                (webhook_events, ())))

    events_before = kept()[2]
    with pytest.raises(LeaseLost):
        diagnose_period(snapshot, svc.engine, "2025-04", "test", finish=finisher(job["id"], "worker-a"))
    assert kept() == (0, 0, events_before)
    with svc.engine.connect() as conn:
        held = jobs_store.get(conn, job["id"])
    assert held["state"] == "running" and held["owner"] == "worker-b"
    summary = diagnose_period(snapshot, svc.engine, "2025-04", "test", finish=finisher(job["id"], "worker-b"))
    with svc.engine.connect() as conn:
        done = jobs_store.get(conn, job["id"])
    assert done["state"] == "succeeded" and done["result"] == summary
    assert kept()[:2] == (summary["branches"] + summary["members"], 1)
    assert kept()[2] > events_before, "the kept run's events are there"


def test_a_month_s_job_waits_while_the_month_before_is_open(fresh_service):
    """lamp.changed compares a month with the month before as stored: two workers storing neighbouring
    months at once would send every subject as new. A job is not claimed while the previous month's job is
    queued or running; other months' jobs are."""
    svc = fresh_service
    later, _ = submit_diagnosis(svc.engine, "2025-03", "test")
    earlier, _ = submit_diagnosis(svc.engine, "2025-02", "test")  # asked for after, but it goes first
    other, _ = submit_diagnosis(svc.engine, "2025-06", "test")
    from diagnosis_service.pipeline.jobs import previous_month

    def claim(owner: str) -> dict | None:
        with svc.engine.begin() as conn:
            return jobs_store.claim(conn, owner, timedelta(seconds=60), follows=previous_month)

    assert claim("worker-a")["id"] == earlier["id"]
    assert claim("worker-b")["id"] == other["id"]  # 2025-03 waits for 2025-02, running
    assert claim("worker-c") is None
    with svc.engine.begin() as conn:
        assert jobs_store.finish(conn, earlier["id"], "worker-a", result={"ok": True})
    assert claim("worker-c")["id"] == later["id"]


def test_a_backfill_queued_newest_first_runs_oldest_first(fresh_service):
    """Sixty months queued newest first: each waits for the one before, and the claim finds the one that
    waits for none, however far down the queue it lies (a claim looking at the first few stalled for good)."""
    from diagnosis_service.pipeline.jobs import previous_month
    from diagnosis_service.store.schema import jobs as jobs_table

    svc = fresh_service
    months = [f"{2020 + k // 12}-{k % 12 + 1:02d}" for k in range(60)]
    with svc.engine.begin() as conn:  # straight into the store: these months have no metrics to check
        made = {m: jobs_store.create(conn, "diagnosis", {"period": m}, "test") for m in reversed(months)}
    order = []
    for _ in range(3):  # bounded: the first three claims
        with svc.engine.begin() as conn:
            job = jobs_store.claim(conn, "worker-a", timedelta(seconds=60), follows=previous_month)
            assert job is not None
            order.append(job["params"]["period"])
            assert jobs_store.finish(conn, job["id"], "worker-a", result={"ok": True})
    assert order == months[:3] and made[months[0]] == max(made.values())
    with svc.engine.begin() as conn:
        conn.execute(delete(jobs_table))


def test_a_month_is_not_diagnosed_in_a_request_beside_its_job(fresh_service):
    """`?wait=true` for a month whose job is queued or running is 409 (the month would be stored twice, its lamp
    changes sent twice); the job is named to follow. Another month, or the month once its job ended, is done."""
    svc, h = fresh_service, fresh_service.h("platform")
    job, _ = submit_diagnosis(svc.engine, "2025-06", "test")  # queued: no worker woken
    refused = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-06"}, headers=h)
    assert refused.status_code == 409, refused.get_json()
    body = refused.get_json()
    assert body["errors"][0]["message"] == f"a job diagnosing 2025-06 is queued (job {job['id']})"
    assert f"GET /v1/jobs/{job['id']}" in body["errors"][0]["suggestion"]
    assert svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-05"}, headers=h).status_code == 201
    with svc.engine.begin() as conn:
        assert jobs_store.claim(conn, "worker-a", timedelta(seconds=60))["id"] == job["id"]
    running = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-06"}, headers=h)
    assert running.status_code == 409 and "is running" in running.get_json()["errors"][0]["message"]
    with svc.engine.begin() as conn:
        assert jobs_store.finish(conn, job["id"], "worker-a", result={"ok": True})
    assert svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-06"}, headers=h).status_code == 201
