"""Benchmark: the district overview and the circular's workbooks over HTTP, on the default district.

In one run, for each database (SQLite by default; --db postgresql or --db both):
1. import the default district and POST /v1/diagnoses for each month of 2025 (timed per month: this is
   where the overview's per-branch rows are kept);
2. one keep-alive client, --repeat times each: GET /healthz, GET /v1/overview of the 12 months for the
   district and for one street, and the /overview page: p50, p99 and the ratio of the overview's p50
   to /healthz's (target: the district's 12 months in < 1 s);
3. GET /v1/exports/member-lamps.xlsx and circular.xlsx for 2025-12: time, size, and the rows of the
   member sheet counted by opening the file with openpyxl (every member of the district: 47,411).

    python benchmarks/bench_overview.py [--db sqlite|postgresql|both] [--repeat 20]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import sys
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_service import district_service, request  # noqa: E402

from diagnosis_service.data.csvdir import FILES, write_dir  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation import district as sim  # noqa: E402

TARGET_S = 1.0
DATA = REPO / "var" / "bench" / "platform-district"
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]


def ensure_data(ruleset) -> None:
    if all((DATA / f).is_file() for f in FILES):
        return
    spec = getattr(sim, "DEFAULT_SPEC", sim.SimulationSpec())  # the district `simulate` writes by default
    print(f"simulating the default district into {DATA} (not timed) ...", flush=True)
    write_dir(sim.simulate(spec, ruleset.registry), DATA, ruleset.registry)


def timed(conn, path: str, token: str | None, repeat: int) -> tuple[dict, bytes]:
    times, body = [], b""
    for _ in range(repeat):
        t = time.perf_counter()
        status, body = request(conn, "GET", path, token)
        times.append(time.perf_counter() - t)
        assert status == 200, body[:300]
    times.sort()
    return {"p50": times[len(times) // 2] * 1000, "p99": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
            "max": times[-1] * 1000}, body


def run(db: str, args) -> None:
    with district_service(db, DATA, "bench-overview-") as (env, port, admin, platform):
        measure(db, args, env, port, admin, platform)


def measure(db: str, args, env: dict, port: int, admin: str, platform: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    diag = []
    for period in MONTHS:
        t = time.perf_counter()
        status, out = request(conn, "POST", "/v1/diagnoses?wait=true", platform, json.dumps({"period": period}).encode())
        diag.append(time.perf_counter() - t)
        assert status == 201, out[:300]
        print(f"  diagnosed {period} in {diag[-1]:.1f} s", flush=True)
    health, _ = timed(conn, "/healthz", None, args.repeat)
    span = f"from={MONTHS[0]}&to={MONTHS[-1]}"
    district, body = timed(conn, f"/v1/overview?{span}", admin, args.repeat)
    data = json.loads(body)
    street_name = data["streets"][0]["street"]
    street, _ = timed(conn, f"/v1/overview?{span}&street={quote(street_name)}", admin, args.repeat)
    page, _ = timed(conn, f"/overview?{span}", admin, max(3, args.repeat // 4))
    t = time.perf_counter()
    status, xlsx = request(conn, "GET", "/v1/exports/member-lamps.xlsx?period=2025-12", admin)
    member_xlsx = time.perf_counter() - t
    assert status == 200, xlsx[:300]
    t = time.perf_counter()
    status, circular = request(conn, "GET", "/v1/exports/circular.xlsx?period=2025-12", admin)
    circular_s = time.perf_counter() - t
    assert status == 200, circular[:300]
    conn.close()
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx), read_only=True)
    rows = sum(1 for _ in book.active.iter_rows(values_only=True)) - 1
    last = data["months"][-1]
    print(f"\n== {db} ({env['DATABASE_URL'].split('?')[0].split('@')[-1]})")
    print(f"POST /v1/diagnoses, 12 months: {sum(diag):.0f} s in all, {sum(diag) / len(diag):.1f} s a month "
          f"(results and the overview's rows in one transaction)")
    print(f"one keep-alive client, {args.repeat} requests each:")
    for name, r in (("GET /healthz", health), ("GET /v1/overview, district, 12 months", district),
                    (f"GET /v1/overview, {street_name}, 12 months", street),
                    ("GET /overview (the page), district", page)):
        print(f"  {name:44s} p50 {r['p50']:8.1f} ms   p99 {r['p99']:8.1f} ms   max {r['max']:8.1f} ms")
    ratio = district["p50"] / health["p50"]
    print(f"  district overview p50 / healthz p50: {ratio:.1f}x;  p99 / target {TARGET_S * 1000:.0f} ms: "
          f"{district['p99'] / (TARGET_S * 1000):.2f} ({'met' if district['p99'] < TARGET_S * 1000 else 'MISSED'})")
    print(f"  {last['period']}: branches lamp rate {last['branches']['lamp_rate']}%, members "
          f"{last['members']['lamp_rate']}% (change vs {MONTHS[0]}: "
          f"{last['change_vs_first']['branches']['lamp_rate']}, {last['change_vs_first']['members']['lamp_rate']})")
    print(f"GET /v1/exports/member-lamps.xlsx 2025-12: {member_xlsx:.1f} s, {len(xlsx) / 1e6:.1f} MB, "
          f"{rows} member rows (opened with openpyxl)")
    print(f"GET /v1/exports/circular.xlsx 2025-12 (7 sheets): {circular_s:.1f} s, {len(circular) / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    ensure_data(ruleset)
    for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(db, args)


if __name__ == "__main__":
    main()
