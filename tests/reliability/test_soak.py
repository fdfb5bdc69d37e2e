"""A bounded soak: 1,600 requests of every kind (good and bad) from 8 clients against a real server
process on PostgreSQL (the production store; 1,200 on SQLite), the first 500 of them a warm-up. Zero server
errors, and the server's memory flat after its warm-up. (`benchmarks/bench_service.py` runs longer.)"""

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.http import call, free_port, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.server]
EXE = str(Path(sys.executable).parent / "diagnosis-service")
REQUESTS = {"postgresql": 1600, "sqlite": 1200}
WARMUP, CLIENTS = 500, 8
GROWTH_LIMIT_MIB = 25.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def requests_mix(svc):
    p, s, a = svc.tokens["platform"], svc.tokens["secretary"], svc.tokens["admin"]
    return [
        ("GET", "/healthz", None, None), ("GET", "/readyz", None, None),
        ("GET", "/v1/branches/B00002/diagnosis?period=2025-12", s, None),
        ("GET", "/v1/branches/B00003/diagnosis?period=2025-12", s, None),  # 403
        ("GET", "/v1/lamps?period=2025-12&limit=50", a, None),
        ("GET", "/v1/rankings?period=2025-12", p, None),
        ("GET", "/v1/members/M000001/report?period=2025-12", p, None),
        ("POST", "/v1/prescriptions", s, {"branch_id": "B00002", "period": "2025-12"}),
        ("POST", "/v1/events", p, {"subject": "member", "id": "M000001", "period": "2025-12",
                                   "values": {"dues_paid": 1}}),
        ("PUT", "/v1/periods/2025-12/metrics", p, {"branches": [{"branch_id": "B00004", "theory_study_sessions": 2}]}),
        ("PUT", "/v1/periods/2025-12/metrics", p, {"branches": [{"branch_id": "B00004", "theory_study_sessions": 1e308}]}),
        ("GET", "/v1/lamps?period=2025-13", a, None),  # 422
        ("GET", "/v1/indicators", None, None),  # 401
    ]


def test_thousands_of_requests_no_errors_flat_memory(fresh_service, tmp_path):
    svc = fresh_service
    total = REQUESTS[svc.db.backend]
    port = free_port()
    env = {**os.environ, "DATABASE_URL": svc.db.url, "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_LOG_LEVEL": "ERROR"}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 -- closed below, after the process
    server = subprocess.Popen([EXE, "serve", "--port", str(port), "--threads", "8"], env={**env, "DIAGNOSIS_LOG_LEVEL": "WARNING"},
                              stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    mix = requests_mix(svc)
    counter = itertools.count()
    statuses: list[int] = []
    lock = threading.Lock()
    memory: dict[str, float] = {}

    def client() -> None:
        while True:
            n = next(counter)
            if n >= total:
                return
            if n == WARMUP:
                memory["warm"] = rss_mib(server.pid)
            method, path, token, body = mix[n % len(mix)]
            status = call(f"{base}{path}", token, method, body, timeout=30)[0]
            with lock:
                statuses.append(status)

    try:
        wait_until_up(base)
        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        seconds = time.perf_counter() - start
        memory["end"] = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    warnings = [line for line in (tmp_path / "server.log").read_text().splitlines() if '"level"' in line]
    assert len(statuses) == total, warnings[:5]
    assert [s for s in statuses if s >= 500] == [], warnings[:5]
    assert set(statuses) <= {200, 201, 401, 403, 422}, set(statuses)
    growth = memory["end"] - memory["warm"]
    print(f"{total} requests in {seconds:.1f} s; RSS {memory['warm']:.0f} -> {memory['end']:.0f} MiB")
    assert growth < GROWTH_LIMIT_MIB, f"memory grew {growth:.1f} MiB after the warm-up"
