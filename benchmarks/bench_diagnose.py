"""Benchmark: diagnose one month of the default simulated district, end to end.

Prints wall time and peak memory of the real command (`diagnosis-service diagnose --out`), a
breakdown by stage measured in-process, and ratios against two baselines measured in the same run:
the targets of the diagnosis-core issue (3 s, 1.5 GiB) and the floor of merely reading the four CSV
files with pandas (what no diagnosis can go below). It also checks that the output is byte-identical
to the one recorded before the pipeline was unified (issue 12), with issue 13's wording: its SHA-256 for the default district
(seed 0) and 2025-12 is ``RECORDED_SHA256``.

    python benchmarks/bench_diagnose.py [--runs 3] [--data var/bench/district] [--period 2025-12]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diagnosis_service.data.csvdir import FILES, write_dir  # noqa: E402
from diagnosis_service.data.sources import CsvDir  # noqa: E402
from diagnosis_service.engine import make_evaluator  # noqa: E402
from diagnosis_service.pipeline.month import Month, write_lines  # noqa: E402
from diagnosis_service.pipeline.snapshot import Snapshot  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.district import SimulationSpec, simulate  # noqa: E402

TARGET_SECONDS = 3.0
TARGET_BYTES = 1.5 * 1024**3
# `diagnose --out` of the default district, 2025-12, recorded at commit 7b7d152 (before issue 12), then
# again after issue 13's wording (only findings' messages and prescriptions' reasons changed), and after
# issue 15's calendar quarters (in December the same findings: the quarter's three months are the last three)
# and its size bands (talks and volunteer hours compared with branches of similar size).
RECORDED_SHA256 = "f2c8d9956ffe688c01330b7449da079b062dafe2239c246a466ec30b6f082ea7"


DEFAULT_DATA = REPO / "var" / "bench" / "district"


def ensure_district(directory: Path, ruleset) -> None:
    if all((directory / f).is_file() for f in FILES):
        return
    print(f"simulating the default district into {directory} (not timed) ...", flush=True)
    write_dir(simulate(SimulationSpec(), ruleset.registry), directory, ruleset.registry)


def run_cli(data: Path, period: str, out: Path, extra: tuple[str, ...] = ()) -> tuple[float, int]:
    exe = Path(sys.executable).parent / "diagnosis-service"
    cmd = [str(exe), "diagnose", "--data", str(data), "--period", period, "--out", str(out), *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib * 1024


def stages(data: Path, period: str, out: Path, rules_dir: Path) -> dict[str, float]:
    times = {}
    t = time.perf_counter()
    ruleset = load_ruleset(rules_dir)
    times["load rules"] = time.perf_counter() - t
    t = time.perf_counter()
    dataset = CsvDir(data).load(ruleset.registry, period)
    times["read + validate CSV"] = time.perf_counter() - t
    t = time.perf_counter()
    evaluator = make_evaluator(dataset, ruleset)
    times["derive indicators"] = time.perf_counter() - t
    t = time.perf_counter()
    branches, members = evaluator.run(period)
    times["evaluate rules"] = time.perf_counter() - t
    t = time.perf_counter()
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    times["load catalog"] = time.perf_counter() - t
    t = time.perf_counter()
    prescriber = Snapshot(ruleset, catalog).prescriber()
    streets = dataset.branches["street"].to_dict()
    weaknesses = 0
    for result in branches:
        choices = prescriber.for_branch(result, streets.get(result.id))
        result.extra["prescriptions"] = [p.as_dict() for c in choices for p in c.prescriptions]
        weaknesses += len(choices)
    times[f"prescribe ({weaknesses} weaknesses)"] = time.perf_counter() - t
    t = time.perf_counter()
    write_lines(Month(period, ruleset, branches, members, evaluator).lines(), out)
    times["write JSON Lines"] = time.perf_counter() - t
    return times


def calibration() -> float:
    """A fixed CPU workload (pure Python): this machine's host is shared, so its speed varies during a
    day; dividing by this figure makes runs on different days comparable."""
    start = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i
    return time.perf_counter() - start


def read_floor(data: Path) -> float:
    t = time.perf_counter()
    for name in FILES:
        pd.read_csv(data / name, keep_default_na=False, na_values=[""])
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rules_dir = REPO / "rules"
    ensure_district(args.data, load_ruleset(rules_dir))
    out = args.data.parent / "diagnosis.jsonl"
    sizes = {f: (args.data / f).stat().st_size for f in FILES}
    print(f"district: {args.data} ({sum(sizes.values()) / 1e6:.1f} MB of CSV), period {args.period}")

    calib_before = calibration()
    plain = statistics.median(run_cli(args.data, args.period, out, ("--prescriptions", "0"))[0]
                              for _ in range(args.runs))
    walls, peak = [], 0
    for _ in range(args.runs):
        wall, peak_run = run_cli(args.data, args.period, out)
        walls.append(wall)
        peak = max(peak, peak_run)
    lines = sum(1 for _ in out.open(encoding="utf-8"))
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    median = statistics.median(walls)
    floors = [read_floor(args.data) for _ in range(args.runs)]
    floor = statistics.median(floors)
    parts = [stages(args.data, args.period, out, rules_dir) for _ in range(args.runs)]
    calib = statistics.median([calib_before, calibration()])

    print(f"\nend to end (diagnosis-service diagnose --out, {args.runs} runs, {lines} lines written)")
    print(f"  wall time   median {median:6.2f} s   min {min(walls):.2f} s   max {max(walls):.2f} s")
    print(f"  without prescriptions (--prescriptions 0): median {plain:.2f} s "
          f"(target {TARGET_SECONDS:.1f} s: ratio {plain / TARGET_SECONDS:.2f})")
    print(f"  peak memory {peak / 1024**2:8.0f} MiB")
    default = args.period == "2025-12" and args.data == DEFAULT_DATA
    verdict = ("byte-identical to the recorded output" if digest == RECORDED_SHA256 else
               "DIFFERS from the recorded output") if default else "(no recorded output for this district)"
    print(f"  output sha256 {digest[:16]}...: {verdict}")
    print("\nstages, in-process (median)")
    for name in parts[0]:
        print(f"  {name:22s} {statistics.median(p[name] for p in parts):6.3f} s")
    print("\nratios")
    print(f"  wall / target {TARGET_SECONDS:.1f} s          {median / TARGET_SECONDS:5.2f}  "
          "(with prescriptions) "
          f"({'met' if median < TARGET_SECONDS else 'MISSED'})")
    print(f"  memory / target 1.5 GiB      {peak / TARGET_BYTES:5.2f}  "
          f"({'met' if peak < TARGET_BYTES else 'MISSED'})")
    print(f"  wall / pandas read floor     {median / floor:5.2f}  (reading the 4 CSV files alone: {floor:.2f} s)")
    print(f"  wall / calibration loop      {median / calib:5.2f}  (3M-step Python loop: {calib:.2f} s; "
          f"about 0.2 s on a quiet host)")


if __name__ == "__main__":
    main()
