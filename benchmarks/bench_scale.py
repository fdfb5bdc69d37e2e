"""Benchmark: the scaling curve, one process against Dask on a LocalCluster, 1x to 64x the district.

In one run, for each scale K (default 1, 4, 16, 64; 64x is about 3 M members):
1. `simulate --scale K --months 13` writes a K-district province as a columnar dataset (once, kept
   under var/bench/; 13 months: the year to date and the month before it, what December's rules read);
2. one process: `diagnose --data DATASET --period P --out FILE` (vectorized, prescriptions), its peak
   memory watched from outside: past --single-cap-gib it is stopped, as it would swap on this machine;
3. Dask: `diagnose --engine dask` on a LocalCluster of --workers processes with --worker-memory each,
   its peak memory per worker and in the client;
4. both outputs compared byte for byte where both finished;
then a table, a plot (--plot), and the province (85x) and the nation (about 99 M members) extrapolated
from the measured per-member cost of the Dask runs.

    python benchmarks/bench_scale.py [--scales 1,4,16,64] [--workers 2] [--worker-memory 4GiB]
                                     [--single-cap-gib 20] [--plot docs/scale-curve.png]
"""

from __future__ import annotations

import argparse
import filecmp
import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).parent / "diagnosis-service")
DISTRICT_MEMBERS = 47_411
PROVINCE, NATION = 85, 99_000_000

DASK_RUN = """
import json, sys, time
from pathlib import Path
from diagnosis_service.pipeline.partitioned import diagnose_partitioned
from diagnosis_service.pipeline.snapshot import Snapshot
if __name__ == "__main__":
    data, period, out, scheduler, memory = sys.argv[1:6]
    start = time.perf_counter()
    snapshot = Snapshot.from_dirs(Path("rules"), Path("resources_catalog"))
    run = diagnose_partitioned(Path(data), snapshot, period, Path(out), scheduler, worker_memory=memory)
    print(json.dumps({"seconds": time.perf_counter() - start, "parts": run.parts, "members": run.members,
                      "worker_peaks": run.worker_peaks, "client_peak": run.client_peak, "passes": run.seconds}))
"""


def province_arguments(doc: str, scales: str) -> argparse.ArgumentParser:
    """The options every province benchmark takes (bench_scale.py, bench_parts.py)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default=scales)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="4GiB")
    return parser


def ensure_province(scale: int, months: int) -> Path:
    target = REPO / "var" / "bench" / f"province-{scale}x-{months}m"
    if not (target / "_dataset.json").is_file():
        start = time.perf_counter()
        subprocess.run([EXE, "simulate", "--out", str(target), "--scale", str(scale), "--months", str(months)],
                       check=True, cwd=REPO)
        print(f"  simulated {scale}x in {time.perf_counter() - start:.0f} s", flush=True)
    return target


def watched(cmd: list[str], cap: int) -> tuple[float, int, bool, str]:
    """(seconds, peak resident bytes of the process and its children, finished, stdout); stopped past ``cap``."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    stopped = False
    deadline = start + 3600
    while proc.poll() is None and time.perf_counter() < deadline:
        try:
            rss = parent.memory_info().rss
            rss += sum(c.memory_info().rss for c in parent.children(recursive=True))
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        if rss > cap:
            stopped = True
            for c in parent.children(recursive=True):
                c.kill()
            proc.kill()
            break
        time.sleep(0.2)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    return seconds, peak, (not stopped and proc.returncode == 0), out


def main() -> None:
    parser = province_arguments(__doc__, "1,4,16,64")
    parser.add_argument("--single-cap-gib", type=float, default=20.0)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=REPO / "var" / "bench" / "scale.json")
    parser.add_argument("--report-only", action="store_true", help="the table and plot of the last run (--json)")
    args = parser.parse_args()
    if args.report_only:
        report(json.loads(args.json.read_text(encoding="utf-8")), args)
        return
    cap = int(args.single_cap_gib * 2**30)
    rows = []
    for scale in [int(s) for s in args.scales.split(",")]:
        data = ensure_province(scale, args.months)
        description = json.loads((data / "_dataset.json").read_text(encoding="utf-8"))
        out_single, out_dask = data.with_name(data.name + ".single.jsonl"), data.with_name(data.name + ".dask.jsonl")
        t1, peak1, ok1, _ = watched([EXE, "diagnose", "--data", str(data), "--period", args.period, "--out",
                                     str(out_single)], cap)
        print(f"{scale}x one process: {t1:.1f} s, peak {peak1 / 2**30:.2f} GiB{'' if ok1 else ' (STOPPED)'}",
              flush=True)
        t2, peak2, ok2, stdout = watched([sys.executable, "-c", DASK_RUN, str(data), args.period, str(out_dask),
                                          f"local:{args.workers}", args.worker_memory], 10 * cap)
        stats = json.loads(stdout.strip().splitlines()[-1]) if ok2 else {}
        same = filecmp.cmp(out_single, out_dask, shallow=False) if ok1 and ok2 else None  # None: nothing to compare
        passes = ", ".join(f"{k} {v:.1f} s" for k, v in stats.get("passes", {}).items())
        print(f"{scale}x dask: {t2:.1f} s ({stats.get('seconds', 0):.1f} s inside: {passes}), worker peak "
              f"{max(stats.get('worker_peaks', [0])) / 2**30:.2f} GiB, client {stats.get('client_peak', 0) / 2**30:.2f}"
              f" GiB, all {peak2 / 2**30:.2f} GiB; {stats.get('parts')} parts; identical: {same}", flush=True)
        rows.append({"scale": scale, "members": description["members"], "rows": description["rows"],
                     "single_s": t1, "single_peak": peak1, "single_ok": ok1, "dask_s": t2,
                     "dask_inside_s": stats.get("seconds"), "worker_peak": max(stats.get("worker_peaks", [0])),
                     "client_peak": stats.get("client_peak"), "dask_all_peak": peak2, "dask_ok": ok2,
                     "parts": stats.get("parts"), "passes": stats.get("passes", {}), "identical": same})
        for f in (out_single, out_dask):
            f.unlink(missing_ok=True)
    report(rows, args)


def report(rows: list[dict], args) -> None:
    print(f"\n{'scale':>5} {'members':>10} {'one process':>14} {'peak':>9} {'dask':>8} {'worker':>8} "
          f"{'client':>8} {'parts':>5} {'same':>5}")
    for r in rows:
        single = f"{r['single_s']:.1f} s" if r["single_ok"] else f"stopped {r['single_s']:.0f} s"
        print(f"{r['scale']:>4}x {r['members']:>10,} {single:>14} {r['single_peak'] / 2**30:>7.2f} G "
              f"{r['dask_s']:>6.1f} s {r['worker_peak'] / 2**30:>6.2f} G {(r['client_peak'] or 0) / 2**30:>6.2f} G "
              f"{r['parts'] or 0:>5} {'n/a' if r['identical'] is None else str(r['identical']):>5}")
    done = [r for r in rows if r["dask_ok"]]
    if len(done) >= 2:
        # time = a + (b_parallel * workers / n + b_merge) * members, fitted on the two largest Dask runs: the
        # parts' work spreads over n workers, the client's merge of the parts' output does not.
        lo, hi = done[-2], done[-1]
        b = (hi["dask_s"] - lo["dask_s"]) / (hi["members"] - lo["members"])
        a = hi["dask_s"] - b * hi["members"]
        b_merge = hi["passes"].get("merge", 0.0) / hi["members"]
        b_par = b - b_merge
        print(f"\nDask on {args.workers} workers: {b * 1e6:.1f} µs a member ({b_par * 1e6:.1f} in the parts, "
              f"{b_par * 1e6 * args.workers:.1f} µs of worker time; {b_merge * 1e6:.1f} merging in the client), "
              f"{a:.1f} s fixed. Extrapolated, parts spread evenly:")
        for name, members in (("province (85x)", PROVINCE * DISTRICT_MEMBERS), ("nation", NATION)):
            for n in (2, 8, 32, 128):
                print(f"  {name:<15} {members:>12,} members on {n:>3} workers: "
                      f"{(a + (b_par * args.workers / n + b_merge) * members) / 60:7.1f} min")
        ratio = (hi["dask_s"] / hi["members"]) / (lo["dask_s"] / lo["members"])
        print(f"time per member, {hi['scale']}x against {lo['scale']}x: {ratio:.2f} (1.00: linear)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    if args.plot:
        plot(rows, args.plot, args)


def plot(rows: list[dict], path: Path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    m = [r["members"] / 1e6 for r in rows]
    left.plot(m, [r["dask_s"] for r in rows], "o-", color="tab:blue", label=f"Dask, {args.workers} workers")
    ok = [r for r in rows if r["single_ok"]]
    left.plot([r["members"] / 1e6 for r in ok], [r["single_s"] for r in ok], "s-", color="tab:orange",
              label="one process")
    for r in rows:
        if not r["single_ok"]:
            left.annotate("one process stopped\n(memory)", (r["members"] / 1e6, r["single_s"]), fontsize=8)
    left.set(xlabel="members (millions)", ylabel="seconds", title="A month, end to end")
    right.plot(m, [r["single_peak"] / 2**30 for r in rows], "s-", color="tab:orange", label="one process")
    right.plot(m, [r["worker_peak"] / 2**30 for r in rows], "o-", color="tab:blue", label="Dask, peak a worker")
    right.axhline(args.single_cap_gib, color="grey", linestyle=":", label="cap (one process stopped)")
    right.set(xlabel="members (millions)", ylabel="GiB", title="Peak memory")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
