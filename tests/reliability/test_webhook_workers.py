"""Webhook delivery survives its workers: a `deliver` process killed with SIGKILL in the middle of a
batch and started again loses nothing (duplicates carry the same event id, the order holds), and two
workers at once never send the same delivery twice at the same time (SQLite and PostgreSQL)."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from diagnosis_service.pipeline.deliver import DeliveryConfig, Worker
from diagnosis_service.pipeline.signing import verify
from diagnosis_service.store import make_engine
from diagnosis_service.store.schema import webhook_deliveries, webhook_events
from tests.conftest import BACKENDS, _backend
from tests.support.http import call, free_port, wait_until_up
from tests.support.receiver import Receiver
from tests.support.service import make_service

pytestmark = [pytest.mark.slow, pytest.mark.server]
EXE = str(Path(sys.executable).parent / "diagnosis-service")
FAST = {"webhook_allowed_hosts": ("127.0.0.1",), "webhook_retry_base": 0.02, "webhook_retry_max": 0.1,
        "webhook_lease": 1.0, "webhook_poll": 0.02}


@pytest.fixture(params=BACKENDS)
def svc(request, tmp_path):
    service = make_service(_backend(request), tmp_path, settings=FAST)
    yield service
    service.close()


def subscribe(svc, url: str) -> dict:
    r = svc.client.post("/v1/webhooks", json={"url": url, "events": ["lamp.changed", "diagnosis.completed"]},
                        headers=svc.h("admin"))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def diagnose(svc, period: str = "2025-10") -> None:
    assert svc.client.post("/v1/diagnoses?wait=true", json={"period": period}, headers=svc.h("platform")).status_code == 201


def events_in_order(svc) -> list[str]:
    with svc.engine.connect() as conn:
        return list(conn.execute(select(webhook_events.c.event_id).order_by(webhook_events.c.id)).scalars())


def statuses(svc) -> dict[str, int]:
    with svc.engine.connect() as conn:
        rows = conn.execute(select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status))
        return {s: n for s, n in rows}


def test_a_worker_killed_mid_batch_and_restarted_loses_nothing(svc, tmp_path):
    env = {**os.environ, "DATABASE_URL": svc.db.url, "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_SECRET_KEY": "test-secret", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "WEBHOOK_LEASE_SECONDS": "1",
           "WEBHOOK_POLL_SECONDS": "0.02", "WEBHOOK_RETRY_BASE_SECONDS": "0.02", "DIAGNOSIS_LOG_LEVEL": "WARNING"}
    with Receiver(delay=0.005) as rx:
        made = subscribe(svc, rx.url)
        diagnose(svc)
        order = events_in_order(svc)
        assert len(order) > 300
        for fraction in (0.2, 0.5):  # bounded: two kills, each in the middle of a 200-delivery batch
            proc = subprocess.Popen([EXE, "deliver", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            rx.wait_for(int(len(order) * fraction), seconds=60)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        done = subprocess.run([EXE, "deliver", "--until-idle", "--max-seconds", "120"], env=env, capture_output=True,
                              text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        got = rx.accepted()
    first_seen: dict[str, int] = {}
    for i, r in enumerate(got):
        first_seen.setdefault(r.event_id, i)
        assert r.event["id"] == r.event_id
        assert verify(made["secret"], r.headers["X-Timestamp"], r.body, r.headers["X-Signature"]) is None
    assert set(first_seen) == set(order)  # every event arrived
    assert sorted(first_seen, key=first_seen.get) == order  # ... first in the order of the changes
    bodies: dict[str, bytes] = {}
    for r in got:  # a duplicate is the same event: same id, same bytes
        assert bodies.setdefault(r.event_id, r.body) == r.body
    assert statuses(svc) == {"delivered": len(order)}
    assert "pending 0" in done.stderr


def test_two_workers_never_send_one_delivery_twice_at_once(svc):
    with Receiver(delay=0.001) as rx:
        for _ in range(3):
            subscribe(svc, rx.url)
        diagnose(svc)
        expected = 3 * len(events_in_order(svc))
        runtime = svc.app.extensions["diagnosis"]
        engines = [make_engine(svc.db.url) for _ in range(2)]
        workers = [Worker(e, DeliveryConfig.from_settings(runtime.settings, claim=1, batch=7)) for e in engines]
        threads = [threading.Thread(target=w.run, kwargs={"max_seconds": 120, "until_idle": True}) for w in workers]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=150)
        got = rx.accepted()
        for e in engines:
            e.dispose()
    assert time.monotonic() - start < 150
    assert rx.overlaps == []
    ids = [r.headers["X-Delivery-Id"] for r in got]
    assert len(ids) == len(set(ids)) == expected  # no failures, no kills: each exactly once
    by_subscription: dict[str, list[int]] = {}
    for r in got:
        by_subscription.setdefault(r.headers["X-Subscription-Id"], []).append(int(r.headers["X-Delivery-Id"]))
    assert len(by_subscription) == 3
    assert all(ids == sorted(ids) for ids in by_subscription.values())  # each queue in its order
    sent = [w.stats.attempts for w in workers]
    assert sum(sent) == expected
    if svc.db.backend == "postgresql":
        assert min(sent) > 0, sent  # both took part (SKIP LOCKED shares the queues)
    else:
        assert min(sent) == 0, sent  # SQLite: one worker holds the lock, the other waits


def test_killing_the_server_mid_burst_loses_no_committed_change(svc, tmp_path):
    """`serve` with its delivery thread (WEBHOOK_DELIVER_IN_SERVE) killed while events pour in, then
    started again: every change that committed has its event delivered, and no event exists for a
    change that did not commit."""
    env = {**os.environ, "DATABASE_URL": svc.db.url, "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_SECRET_KEY": "test-secret", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "WEBHOOK_LEASE_SECONDS": "1",
           "WEBHOOK_POLL_SECONDS": "0.05", "WEBHOOK_DELIVER_IN_SERVE": "true", "DIAGNOSIS_LOG_LEVEL": "WARNING"}
    lamps = svc.client.get("/v1/lamps?period=2025-12&subject=member&color=green&limit=10000",
                           headers=svc.h("admin")).get_json()["lamps"]
    members = sorted(x["id"] for x in lamps)[:90]
    token = svc.tokens["platform"]
    with Receiver() as rx:
        subscribe(svc, rx.url)
        acknowledged: set[str] = set()
        for part in (members[:60], members[60:]):  # bounded: one kill, in the middle of the first part
            port = free_port()
            proc = subprocess.Popen([EXE, "serve", "--port", str(port), "--threads", "4"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_up(base)
                first = part[0] == members[0]
                for i, member in enumerate(part):
                    if first and i == 25:  # killed 30 ms later, most likely in the middle of a request
                        threading.Timer(0.03, proc.send_signal, args=(signal.SIGKILL,)).start()
                    if proc.poll() is not None:
                        break
                    try:
                        status, _, body = call(f"{base}/v1/events", token, "POST", {
                            "subject": "member", "id": member, "period": "2025-12", "values": {"dues_paid": 0}},
                            timeout=30)
                    except (OSError, http.client.HTTPException):
                        # killed before or while answering (IncompleteRead): never acknowledged
                        continue
                    if status == 200 and body["changed"]:
                        acknowledged.add(member)
                if not first:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and statuses(svc).get("pending"):
                        time.sleep(0.1)
            finally:
                proc.kill()
                proc.wait(timeout=30)
        got = rx.accepted()
    now = {x["id"]: x["lamp"] for x in svc.client.get(
        "/v1/lamps?period=2025-12&subject=member&limit=10000", headers=svc.h("admin")).get_json()["lamps"]}
    changed = {m for m in members if now[m] != "green"}  # what committed
    told = {r.event["data"]["id"] for r in got if r.event["type"] == "lamp.changed"
            and r.event["data"]["subject"] == "member"}
    assert acknowledged <= changed
    assert told == changed  # every committed change was told, and nothing else
    assert statuses(svc) == {"delivered": len(events_in_order(svc))}


@pytest.mark.parametrize("svc", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True)
def test_a_worker_rides_out_dropped_database_connections(svc, caplog):
    """Every connection the worker holds dropped by the server mid-batch (a restart, a failover,
    pg_terminate_backend), twice: the worker says so in the log, waits and goes on; every event is delivered
    (it died on the first one, inside `serve` silently)."""
    from sqlalchemy import create_engine, make_url, text
    from sqlalchemy.pool import NullPool

    with Receiver(delay=0.003) as rx:
        subscribe(svc, rx.url)
        diagnose(svc)
        expected = len(events_in_order(svc))
        runtime = svc.app.extensions["diagnosis"]
        tagged = make_url(svc.db.url).update_query_dict({"application_name": "deliver-under-test"})
        engine = make_engine(tagged.render_as_string(hide_password=False))
        worker = Worker(engine, DeliveryConfig.from_settings(runtime.settings))
        thread = threading.Thread(target=worker.run, kwargs={"max_seconds": 120, "until_idle": True})
        admin = create_engine(svc.db.url, poolclass=NullPool)
        with caplog.at_level("WARNING", logger="diagnosis_service"):
            thread.start()
            for fraction in (0.2, 0.5):  # bounded: two outages, each in the middle of the batch
                rx.wait_for(int(expected * fraction), seconds=60)
                dropped = 0
                with admin.connect() as conn:
                    for _ in range(60):  # about a second and a half of the worker's connections dropped at once
                        dropped += conn.execute(text(
                            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                            "where application_name = 'deliver-under-test'")).scalar()
                        conn.commit()
                        time.sleep(0.025)
                assert dropped > 0
            thread.join(timeout=150)
        admin.dispose()
        engine.dispose()
        got = rx.accepted()
    assert not thread.is_alive()
    assert {r.event_id for r in got} == set(events_in_order(svc))
    assert statuses(svc) == {"delivered": expected}
    assert "webhook delivery: the database failed" in caplog.text, caplog.text
