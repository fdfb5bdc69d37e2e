"""Benchmark: webhooks of 10,000 lamp changes, and what the outbox costs the event path.

In one run, for each database (SQLite by default; --db postgresql or --db both), on the default district
imported and its 2025-12 diagnosed through a real `serve` process:
1. baseline: --events POST /v1/events (members' dues paid set to 0 and back: each one a lamp change)
   from --clients keep-alive clients, with no subscription: events per second;
2. the same events with a subscription to lamp.changed and a `deliver` worker process sending to a
   receiver in this process (127.0.0.1): events per second (the ratio with 1. is the outbox's cost,
   worker included, on the same two cores), deliveries per second, and latency from commit (the event's
   answer) to receipt: p50, p99, max (target: the event path keeps >= 80% of its throughput, p99 < 1 s);
3. every change's event arrived (counted) and its signature verified;
4. the same events again with the subscription but no worker running: what writing the outbox alone
   costs the event path (the rows pile up; nothing is sent).

    python benchmarks/bench_webhooks.py [--db sqlite|postgresql|both] [--events 10000] [--clients 4]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_overview import DATA, ensure_data  # noqa: E402
from bench_service import EXE, district_service, request  # noqa: E402

from diagnosis_service.pipeline.signing import verify  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from tests.support.receiver import Receiver  # noqa: E402 -- the tests' receiving server: real HTTP, records all

THROUGHPUT_KEPT = 0.8
P99_TARGET_S = 1.0
SECRET_KEY = "bench-webhooks-key"


def post_events(port: int, token: str, members: list[str], clients: int) -> tuple[float, dict, int]:
    """Each member's dues set to 0 then back to 1, the members shared out between ``clients`` threads.
    Returns (seconds, (member, new lamp) -> time of the answer, lamp changes answered)."""
    answered: dict[tuple[str, str], float] = {}
    changed = [0] * clients
    conflicts = [0] * clients
    errors: list[str] = []

    def work(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for member in members[i::clients]:
            for dues in (0, 1):
                body = json.dumps({"subject": "member", "id": member, "period": "2025-12",
                                   "values": {"dues_paid": dues}}).encode()
                for _ in range(5):  # a 409 (a concurrent event changed the same rows first) is sent again
                    status, out = request(conn, "POST", "/v1/events", token, body)
                    if status != 409:
                        break
                    conflicts[i] += 1
                now = time.time()
                if status != 200:
                    errors.append(out[:200].decode("utf-8", "replace"))
                    continue
                data = json.loads(out)
                if data["changed"]:
                    changed[i] += 1
                    answered[(member, data["lamp"])] = now
        conn.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} events failed, e.g. {errors[0]}")
    if sum(conflicts):
        print(f"   ({sum(conflicts)} answers 409 Conflict, sent again)", flush=True)
    return time.perf_counter() - start, answered, sum(changed)


def run(db: str, args) -> None:
    extra = {"DIAGNOSIS_SECRET_KEY": SECRET_KEY, "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    with district_service(db, DATA, "bench-webhooks-", extra) as (env, port, admin, platform):
        measure(db, args, env, port, admin, platform)


def measure(db: str, args, env: dict, port: int, admin: str, platform: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for period in ("2025-11", "2025-12"):
        status, out = request(conn, "POST", "/v1/diagnoses?wait=true", platform, json.dumps({"period": period}).encode())
        assert status == 201, out[:300]
    status, out = request(conn, "GET", "/v1/lamps?period=2025-12&subject=member&color=green&limit=10000", admin)
    members = sorted(x["id"] for x in json.loads(out)["lamps"])[: args.events // 2]
    assert len(members) * 2 == args.events, f"only {len(members)} green members"

    base_s, _, base_changes = post_events(port, platform, members, args.clients)
    print(f"\n== {db} ({env['DATABASE_URL'].split('?')[0].split('@')[-1]}), {args.clients} clients")
    print(f"1. no subscription:   {args.events} events in {base_s:.1f} s = {args.events / base_s:7.1f} events/s "
          f"({base_changes} lamp changes)", flush=True)

    receiver = Receiver()
    receiver.__enter__()
    conn.close()  # idle through the first phase: the server may have closed it
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    status, out = request(conn, "POST", "/v1/webhooks", admin,
                          json.dumps({"url": receiver.url, "events": ["lamp.changed"]}).encode())
    assert status == 201, out[:300]
    secret = json.loads(out)["secret"]
    worker = subprocess.Popen([EXE, "deliver", "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        hook_s, answered, changes = post_events(port, platform, members, args.clients)
        end = time.time()
        with contextlib.suppress(AssertionError):  # bounded; what did not arrive is counted below
            receiver.wait_for(len(answered), seconds=600)
        drained = time.time() - end
        for _ in range(60):  # the branch changes members' changes caused may still be on their way
            before = len(receiver.accepted())
            time.sleep(0.5)
            if len(receiver.accepted()) == before:
                break
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        receiver.__exit__(None, None, None)
    conn.close()
    got = receiver.accepted()
    if not got:
        raise SystemExit("nothing was delivered; the worker said:\n" + worker.stderr.read().decode()[-2000:])
    times: dict[tuple[str, str], float] = {}
    bad = 0
    for r in got:  # signatures checked after the run: the receiver's own work stays small
        bad += verify(secret, r.headers["X-Timestamp"], r.body, r.headers["X-Signature"]) is not None
        data = r.event["data"]
        if data["subject"] == "member":
            times.setdefault((data["id"], data["to"]), r.at)
    lat = sorted(times[k] - t for k, t in answered.items() if k in times)
    missing = len(answered) - len(lat)
    ratio = base_s / hook_s
    first = min(answered.values())
    p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]  # noqa: E731
    print(f"2. with a subscription and a `deliver` worker: {args.events / hook_s:7.1f} events/s; "
          f"kept {ratio:.2f} of the throughput (target >= {THROUGHPUT_KEPT}: "
          f"{'met' if ratio >= THROUGHPUT_KEPT else 'MISSED'})")
    print(f"   deliveries: {len(got)} received ({changes} member lamp changes answered, "
          f"{len(got) - changes} branch changes they caused), {len(got) / (end + drained - first):.1f}/s "
          f"while events arrived; the last {drained:.2f} s after the last event")
    print(f"   commit -> receipt: p50 {p(0.5) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms "
          f"(target p99 < {P99_TARGET_S * 1000:.0f} ms: {'met' if p(0.99) < P99_TARGET_S else 'MISSED'})")
    print(f"3. changes without their event: {missing}; bad signatures: {bad}", flush=True)
    alone_s, _, _ = post_events(port, platform, members, args.clients)
    print(f"4. the outbox alone (subscribed, no worker running: the event path's own cost): "
          f"{args.events / alone_s:7.1f} events/s; kept {base_s / alone_s:.2f} of the throughput", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--events", type=int, default=10_000, help="events to post (even: each member twice)")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    ensure_data(load_ruleset(REPO / "rules"))
    print(f"{os.cpu_count()} cores; the default district ({DATA})")
    for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(db, args)


if __name__ == "__main__":
    main()
