"""Benchmark: the vectorized and the durable_rules engines on the same simulated month.

Prints, in one run: subjects per second of each engine over a whole month (and whether their JSON
Lines are byte-identical), single-subject latency of the durable path (median and p99 over --calls
evaluations, also the durable_rules matching alone), and resident memory over --match-calls
single-fact matches and --calls full single-subject evaluations (it must stay flat).

    python benchmarks/bench_engines.py [--data var/bench/district] [--period 2025-12] [--calls 1000]
                                       [--match-calls 100000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_diagnose import calibration, ensure_district  # noqa: E402

from diagnosis_service.data.sources import CsvDir  # noqa: E402
from diagnosis_service.engine.durable import build_facts, compiled_for  # noqa: E402
from diagnosis_service.engine.references import period_references  # noqa: E402
from diagnosis_service.engine.subject import SubjectEngine  # noqa: E402
from diagnosis_service.periods import parse_period  # noqa: E402
from diagnosis_service.pipeline.month import diagnose_month  # noqa: E402
from diagnosis_service.pipeline.snapshot import Snapshot  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402

TARGET_P99_MS = 5.0


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "var" / "bench" / "district")
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--match-calls", type=int, default=100_000)
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    ensure_district(args.data, ruleset)
    calib = calibration()
    dataset = CsvDir(args.data).load(ruleset.registry, args.period)
    snapshot = Snapshot(ruleset)

    timings, outputs = {}, {}
    for engine in ("vectorized", "durable"):
        start = time.perf_counter()
        diag = diagnose_month(dataset, snapshot, args.period, engine=engine)
        lines = list(diag.lines())
        timings[engine] = time.perf_counter() - start
        outputs[engine] = lines
    subjects = len(outputs["vectorized"])
    identical = outputs["vectorized"] == outputs["durable"]
    print(f"whole month {args.period}: {subjects} subjects (2,654 branches + members with data)")
    for engine, seconds in timings.items():
        print(f"  {engine:10s} {seconds:7.2f} s   {subjects / seconds:10.0f} subjects/s")
    print(f"  vectorized / durable speed ratio: {timings['durable'] / timings['vectorized']:.1f}x; "
          f"output byte-identical: {identical}")

    # Single subjects: the event path.
    diag = diagnose_month(dataset, snapshot, args.period)
    refs = period_references(diag.evaluator, args.period)
    engine = SubjectEngine(ruleset)
    pidx = parse_period(args.period)
    share = diag.evaluator.column("branch", "red_member_share", pidx)
    by_member = {k: g.drop(columns=["pidx", "member_id"]).to_dict("records")
                 for k, g in dataset.member_metrics.groupby("member_id")}
    by_branch = {k: g.drop(columns=["pidx", "branch_id"]).to_dict("records")
                 for k, g in dataset.branch_metrics.groupby("branch_id")}
    rng = random.Random(0)
    members = rng.choices(diag.members, k=args.calls // 2)
    branches = rng.choices(diag.branches, k=args.calls - len(members))
    latencies, mismatches = [], 0
    for m in members:
        start = time.perf_counter()
        got = engine.evaluate("member", m.id, args.period, by_member[m.id], refs, branch_id=m.branch_id,
                              branch_type=dataset.branches.loc[m.branch_id, "type"], validate=False)
        latencies.append(time.perf_counter() - start)
        mismatches += got.to_json() != m.to_json()
    for b in branches:
        start = time.perf_counter()
        got = engine.evaluate("branch", b.id, args.period, by_branch[b.id], refs, branch_type=b.branch_type,
                              member_values={args.period: {"red_member_share": float(share.get(b.id))}},
                              validate=False)
        latencies.append(time.perf_counter() - start)
        mismatches += got.to_json() != b.to_json()
    ms = np.array(latencies) * 1000
    print(f"\nsingle subject, durable path ({args.calls} calls, half members, half branches)")
    print(f"  whole evaluation   median {np.median(ms):6.2f} ms   p99 {np.percentile(ms, 99):6.2f} ms   "
          f"(target p99 < {TARGET_P99_MS} ms: ratio {np.percentile(ms, 99) / TARGET_P99_MS:.2f}); "
          f"mismatches against the whole month: {mismatches}")

    checked = []
    for m in members[:200]:
        start = time.perf_counter()
        engine.evaluate("member", m.id, args.period, by_member[m.id], refs, branch_id=m.branch_id,
                        branch_type=dataset.branches.loc[m.branch_id, "type"], validate=True)
        checked.append((time.perf_counter() - start) * 1000)
    print(f"  with row validation   median {np.median(checked):6.2f} ms   p99 {np.percentile(checked, 99):6.2f} ms   "
          f"({len(checked)} member calls, rows checked as an HTTP event's are)")

    compiled = compiled_for(ruleset)
    ctx = diag.evaluator.context("member", pidx)
    facts = build_facts(compiled.subjects["member"].names, ctx)
    match_ms = []
    for fact in rng.choices(facts, k=min(args.calls, len(facts))):
        start = time.perf_counter()
        compiled.match("member", [fact])
        match_ms.append((time.perf_counter() - start) * 1000)
    print(f"  durable_rules match alone   median {statistics.median(match_ms):6.3f} ms   "
          f"p99 {np.percentile(match_ms, 99):6.3f} ms")

    print(f"\nmemory over {args.match_calls} single-fact matches (state created and deleted each time)")
    before = rss_mib()
    step = max(args.match_calls // 5, 1)
    start = time.perf_counter()
    for i in range(args.match_calls):
        compiled.match("member", [facts[i % len(facts)]])
        if (i + 1) % step == 0:
            print(f"  after {i + 1:7d}: RSS {rss_mib():7.1f} MiB")
    elapsed = time.perf_counter() - start
    print(f"  RSS growth {rss_mib() - before:+.1f} MiB over {args.match_calls} matches "
          f"({args.match_calls / elapsed:.0f} matches/s)")
    before = rss_mib()
    for i in range(args.calls * 5):
        m = members[i % len(members)]
        engine.evaluate("member", m.id, args.period, by_member[m.id], refs, branch_id=m.branch_id, validate=False)
    print(f"  RSS growth {rss_mib() - before:+.1f} MiB over {args.calls * 5} full single-subject evaluations")
    print(f"\ncalibration loop: {calib:.2f} s (about 0.2 s on a quiet host)")


if __name__ == "__main__":
    main()
