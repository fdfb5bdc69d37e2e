"""A monthly job survives its serving process: kill -9 the server while the job is queued or running,
start it again, and the job is taken up and finished (its lease expired), the month stored whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from diagnosis_service.store import jobs as jobs_store
from diagnosis_service.store.schema import results
from tests.support.http import call, free_port, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.server]
EXE = str(Path(sys.executable).parent / "diagnosis-service")


def _serve(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    return server, base


def test_a_job_outlives_a_killed_server(fresh_service, tmp_path):
    svc = fresh_service
    env = {**os.environ, "DATABASE_URL": svc.db.url, "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_LOG_LEVEL": "ERROR", "DIAGNOSIS_JOB_LEASE_SECONDS": "2", "DIAGNOSIS_JOB_POLL_SECONDS": "0.1"}
    platform = svc.tokens["platform"]
    seen = []
    for delay in (0.0, 0.3):  # bounded: killed at once, and a moment later (queued, running or done)
        server, base = _serve(env)
        try:
            wait_until_up(base)
            period = "2025-10" if delay == 0.0 else "2025-09"
            status, headers, job = call(f"{base}/v1/diagnoses", platform, "POST", {"period": period})
            assert status == 202, job
            time.sleep(delay)
        finally:
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
        seen.append((job["job_id"], period))

    server, base = _serve(env)
    try:
        wait_until_up(base)
        for job_id, period in seen:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # bounded: the lease (2 s) and a small month's work
                _, _, job = call(f"{base}/v1/jobs/{job_id}", platform)
                if job["state"] in ("succeeded", "failed"):
                    break
                time.sleep(0.2)
            assert job["state"] == "succeeded", job
            with svc.engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(results)
                                      .where(results.c.period == period)).scalar()
            assert stored == job["result"]["branches"] + job["result"]["members"]  # whole, never a part
    finally:
        server.terminate()
        server.wait(timeout=30)
    with svc.engine.connect() as conn:
        assert jobs_store.counts(conn)["running"] == 0
