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
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_overview import DATA, ensure_data  # noqa: E402
from bench_service import EXE, database, request, server  # noqa: E402

from diagnosis_service.pipeline.signing import verify  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402

THROUGHPUT_KEPT = 0.8
P99_TARGET_S = 1.0
SECRET_KEY = "bench-webhooks-key"


class Receiver:
    """Records (member id, new lamp) -> time of receipt of each lamp.changed; checks every signature."""

    def __init__(self):
        self.times: dict[tuple[str, str], float] = {}
        self.count = 0
        self.bad = 0
        self.secret = ""
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                ok = verify(outer.secret, self.headers.get("X-Timestamp", ""), body,
                            self.headers.get("X-Signature", "")) is None
                data = json.loads(body)["data"]
                with outer.lock:
                    outer.count += 1
                    outer.bad += not ok
                    if data["subject"] == "member":
                        outer.times.setdefault((data["id"], data["to"]), at)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def post_events(port: int, token: str, members: list[str], clients: int) -> tuple[float, dict, int]:
    """Each member's dues set to 0 then back to 1, the members shared out between ``clients`` threads.
    Returns (seconds, (member, new lamp) -> time of the answer, lamp changes answered)."""
    answered: dict[tuple[str, str], float] = {}
    changed = [0] * clients
    errors: list[str] = []

    def work(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for member in members[i::clients]:
            for dues in (0, 1):
                body = json.dumps({"subject": "member", "id": member, "period": "2025-12",
                                   "values": {"dues_paid": dues}}).encode()
                status, out = request(conn, "POST", "/v1/events", token, body)
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
    return time.perf_counter() - start, answered, sum(changed)


def run(db: str, args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    try:
        with database(db, tmp) as env:
            env = {**env, "DIAGNOSIS_SECRET_KEY": SECRET_KEY, "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
            cli = lambda *a: subprocess.run([EXE, *a], env=env, check=True, capture_output=True, text=True)  # noqa: E731
            cli("db", "upgrade")
            cli("import", str(DATA))
            admin = cli("tokens", "create", "--role", "admin", "--name", "bench-admin").stdout.strip()
            platform = cli("tokens", "create", "--role", "platform", "--name", "bench").stdout.strip()
            with server(env, 4) as port:
                measure(db, args, env, port, admin, platform)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(db: str, args, env: dict, port: int, admin: str, platform: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for period in ("2025-11", "2025-12"):
        status, out = request(conn, "POST", "/v1/diagnoses", platform, json.dumps({"period": period}).encode())
        assert status == 201, out[:300]
    status, out = request(conn, "GET", "/v1/lamps?period=2025-12&subject=member&color=green&limit=10000", admin)
    members = sorted(x["id"] for x in json.loads(out)["lamps"])[: args.events // 2]
    assert len(members) * 2 == args.events, f"only {len(members)} green members"

    base_s, _, base_changes = post_events(port, platform, members, args.clients)
    print(f"\n== {db} ({env['DATABASE_URL'].split('?')[0].split('@')[-1]}), {args.clients} clients")
    print(f"1. no subscription:   {args.events} events in {base_s:.1f} s = {args.events / base_s:7.1f} events/s "
          f"({base_changes} lamp changes)", flush=True)

    receiver = Receiver()
    conn.close()  # idle through the first phase: the server may have closed it
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    status, out = request(conn, "POST", "/v1/webhooks", admin,
                          json.dumps({"url": receiver.url, "events": ["lamp.changed"]}).encode())
    assert status == 201, out[:300]
    receiver.secret = json.loads(out)["secret"]
    worker = subprocess.Popen([EXE, "deliver", "--quiet"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        hook_s, answered, changes = post_events(port, platform, members, args.clients)
        end = time.time()
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(receiver.times) < len(answered):
            time.sleep(0.05)
        drained = time.time() - end
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    conn.close()
    if not receiver.times:
        raise SystemExit("nothing was delivered; the worker said:\n" + worker.stderr.read().decode()[-2000:])
    lat = sorted(receiver.times[k] - t for k, t in answered.items() if k in receiver.times)
    missing = len(answered) - len(lat)
    ratio = base_s / hook_s
    first = min(answered.values())
    p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]  # noqa: E731
    print(f"2. with a subscription and a `deliver` worker: {args.events / hook_s:7.1f} events/s; "
          f"kept {ratio:.2f} of the throughput (target >= {THROUGHPUT_KEPT}: "
          f"{'met' if ratio >= THROUGHPUT_KEPT else 'MISSED'})")
    print(f"   deliveries: {receiver.count} received ({changes} member lamp changes answered, "
          f"{receiver.count - changes} branch changes they caused), {receiver.count / (end + drained - first):.1f}/s "
          f"while events arrived; the last {drained:.2f} s after the last event")
    print(f"   commit -> receipt: p50 {p(0.5) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms "
          f"(target p99 < {P99_TARGET_S * 1000:.0f} ms: {'met' if p(0.99) < P99_TARGET_S else 'MISSED'})")
    print(f"3. changes without their event: {missing}; bad signatures: {receiver.bad}", flush=True)
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
