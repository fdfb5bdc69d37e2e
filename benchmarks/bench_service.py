"""Benchmark: the HTTP service under its production server (waitress), on the default simulated district.

In one run, for each database (SQLite by default; --db postgresql or --db both):
1. import months 1..11 of the default district with `diagnosis-service import` (not timed);
2. PUT the 12th month (2,654 branches, 47,411 members) in one request: wall time (target < 30 s);
3. POST /v1/diagnoses for that month: wall time;
4. 8 concurrent keep-alive clients for --seconds each: GET /healthz, then GET /v1/branches/{id}/diagnosis
   of random branches: throughput and p50/p99 latency, and the ratio (target >= 50% of /healthz);
5. the secretary's page GET /branches/{id}/report of 200 branches, one client: each first view (which
   serves and logs the month's prescriptions), then a second view: p50/p99 (target: p99 < 0.5 s, a
   person is waiting); then the concurrent clients on the same pages: throughput and p99 under a load
   far above a district's (2,600 secretaries opening their page a few times a month).

    python benchmarks/bench_service.py [--db sqlite|postgresql|both] [--seconds 10] [--clients 8]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_diagnose import calibration, ensure_district  # noqa: E402

from diagnosis_service.data.csvdir import load_dir, write_dir  # noqa: E402
from diagnosis_service.data.model import Dataset  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402

EXE = str(Path(sys.executable).parent / "diagnosis-service")
PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
PUT_TARGET = 30.0
PAGE_TARGET_MS = 500.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def month_body(ds: Dataset, period: str) -> dict:
    """The JSON body of PUT /v1/periods/{period}/metrics for one month of a dataset."""
    out = {}
    for subject, field in (("branch", "branches"), ("member", "members")):
        frame = ds.metrics(subject)
        frame = frame[frame["period"] == period].drop(columns=["pidx", "period"])
        records = frame.to_dict("records")
        out[field] = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in records]
    return out


def request(conn: http.client.HTTPConnection, method: str, path: str, token: str | None = None,
            body: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def load(port: int, paths: list[str], token: str | None, seconds: float, clients: int) -> dict:
    """``clients`` threads, each with its own keep-alive connection, for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status, _ = request(conn, "GET", rng.choice(paths), token)
            latencies[i].append(time.perf_counter() - t)
            errors[i] += status != 200
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = sorted(x for lat in latencies for x in lat)
    return {"requests": len(flat), "rps": len(flat) / elapsed, "p50": flat[len(flat) // 2] * 1000,
            "p99": flat[int(len(flat) * 0.99)] * 1000, "errors": sum(errors)}


@contextlib.contextmanager
def database(db: str, tmp: Path):
    """The environment of a service on a database of its own: an SQLite file under ``tmp``, or a fresh
    schema in the local PostgreSQL (dropped afterwards)."""
    env = {**os.environ, "DIAGNOSIS_VAR": str(tmp / "var"), "DIAGNOSIS_LOG_LEVEL": "WARNING"}
    schema = None
    if db == "postgresql":
        from sqlalchemy import create_engine, text

        schema = f"bench_{os.getpid()}"
        engine = create_engine(PG)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        env["DATABASE_URL"] = f"{PG}?options=-csearch_path%3D{schema}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'var' / 'bench.db'}"
    try:
        yield env
    finally:
        if schema:
            from sqlalchemy import create_engine, text

            engine = create_engine(PG)
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            engine.dispose()


@contextlib.contextmanager
def server(env: dict, threads: int = 8):
    """``diagnosis-service serve`` on a free port, once /healthz answers; yields the port."""
    port = free_port()
    proc = subprocess.Popen([EXE, "serve", "--port", str(port), "--threads", str(threads)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                if request(conn, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
            finally:
                conn.close()
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def district_service(db: str, data: Path, prefix: str, extra_env: dict | None = None):
    """A served district on a database of its own: schema, ``data`` imported, an admin and a platform
    token, `serve` (4 threads) running. Yields (env, port, admin token, platform token)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with database(db, tmp) as env:
            env = {**env, **(extra_env or {})}
            cli = lambda *a: subprocess.run([EXE, *a], env=env, check=True, capture_output=True, text=True)  # noqa: E731
            cli("db", "upgrade")
            cli("import", str(data))
            admin = cli("tokens", "create", "--role", "admin", "--name", "bench-admin").stdout.strip()
            platform = cli("tokens", "create", "--role", "platform", "--name", "bench").stdout.strip()
            with server(env, 4) as port:
                yield env, port, admin, platform
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(db: str, args, district: Path, ruleset) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    try:
        with database(db, tmp) as env:
            measure(db, args, district, ruleset, env, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(db: str, args, district: Path, ruleset, env: dict, tmp: Path) -> None:
    cli = lambda *a: subprocess.run([EXE, *a], env=env, check=True, capture_output=True, text=True)  # noqa: E731
    ds = load_dir(district, ruleset.registry)
    last = ds.periods()[-1]
    head = Dataset(ds.branches, ds.members, ds.branch_metrics[ds.branch_metrics["period"] != last],
                   ds.member_metrics[ds.member_metrics["period"] != last])
    write_dir(head, tmp / "head", ruleset.registry)
    cli("db", "upgrade")
    t = time.perf_counter()
    cli("import", str(tmp / "head"))
    imported = time.perf_counter() - t
    platform = cli("tokens", "create", "--role", "platform", "--name", "bench").stdout.strip()
    body = json.dumps(month_body(ds, last)).encode()
    with server(env, 8) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t = time.perf_counter()
        status, out = request(conn, "PUT", f"/v1/periods/{last}/metrics", platform, body)
        put = time.perf_counter() - t
        assert status == 200, out[:500]
        counts = json.loads(out)
        t = time.perf_counter()
        status, out = request(conn, "POST", "/v1/diagnoses?wait=true", platform, json.dumps({"period": last}).encode())
        diag = time.perf_counter() - t
        assert status == 201, out[:500]
        conn.close()
        branch_paths = [f"/v1/branches/{b}/diagnosis?period={last}" for b in ds.branches.index[:2654]]
        health = load(port, ["/healthz"], None, args.seconds, args.clients)
        branch = load(port, branch_paths, platform, args.seconds, args.clients)
        page_paths = [f"/branches/{b}/report?period={last}" for b in random.Random(1).sample(list(ds.branches.index),
                                                                                            200)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        views: dict[str, list[float]] = {"first": [], "again": []}
        for kind in views:
            for path in page_paths:
                t = time.perf_counter()
                status, out = request(conn, "GET", path, platform)
                views[kind].append(time.perf_counter() - t)
                assert status == 200, out[:300]
        conn.close()
        first, again = ({"p50": sorted(v)[len(v) // 2] * 1000, "p99": sorted(v)[int(len(v) * 0.99)] * 1000}
                        for v in views.values())
        pages = load(port, page_paths, platform, args.seconds, args.clients)
        ratio = branch["rps"] / health["rps"]
        print(f"\n== {db} ({env['DATABASE_URL'].split('?')[0].split('@')[-1]})")
        print(f"import months 1-11 (CLI, not a target): {imported:.1f} s")
        print(f"PUT {last}: {len(body) / 1e6:.1f} MB, {counts['branches']['inserted']} branch rows + "
              f"{counts['members']['inserted']} member rows in {put:.1f} s "
              f"(target < {PUT_TARGET:.0f} s: ratio {put / PUT_TARGET:.2f}, {'met' if put < PUT_TARGET else 'MISSED'})")
        print(f"POST /v1/diagnoses {last}: {diag:.1f} s")
        print(f"{args.clients} concurrent clients, {args.seconds:.0f} s each, waitress with 8 threads:")
        for name, r in (("GET /healthz", health), ("GET /v1/branches/{id}/diagnosis", branch)):
            print(f"  {name:34s} {r['rps']:8.0f} req/s   p50 {r['p50']:6.2f} ms   p99 {r['p99']:6.2f} ms   "
                  f"({r['requests']} requests, {r['errors']} errors)")
        print(f"  diagnosis / healthz throughput: {ratio:.2f} (target >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'})")
        print("the secretary's page GET /branches/{id}/report, 200 branches, one client:")
        print(f"  first view (serves and logs the prescriptions): p50 {first['p50']:.0f} ms, p99 {first['p99']:.0f} ms")
        print(f"  second view:                                     p50 {again['p50']:.0f} ms, p99 {again['p99']:.0f} ms")
        worst = max(first["p99"], again["p99"])
        print(f"  page p99 / target {PAGE_TARGET_MS:.0f} ms: {worst / PAGE_TARGET_MS:.2f} "
              f"({'met' if worst < PAGE_TARGET_MS else 'MISSED'})")
        print(f"  {args.clients} clients at once (capacity): {pages['rps']:.0f} pages/s   p50 {pages['p50']:.0f} ms   "
              f"p99 {pages['p99']:.0f} ms   ({pages['requests']} requests, {pages['errors']} errors)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--data", type=Path, default=REPO / "var" / "bench" / "district")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    ensure_district(args.data, ruleset)
    calib = calibration()
    for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(db, args, args.data, ruleset)
    print(f"\ncalibration loop: {calib:.2f} s (about 0.2 s on a quiet host)")


if __name__ == "__main__":
    main()
