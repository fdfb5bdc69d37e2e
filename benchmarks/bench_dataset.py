"""Benchmark: a district month from the columnar dataset against the CSV directory it came from.

In one run, on the default district (24 months, 2,654 branches, 47,411 members):
1. `data convert` of the CSV directory (once; not part of a month's cost), which keeps the derived
   indicators that look back with each month (`data carry`);
2. the time to read the month's columns from the dataset, pyarrow straight into arrays: every column of
   the 24 months a diagnosis may look back on (the floor the target was set against), the lookback of
   24 months (what `diagnose` read before kept values), and what it reads now (every column of the
   month, its kept values, and of the branches' earlier months what the rules look back at);
3. `diagnose --data DATASET --period P --out FILE` end to end, against the same with `--jobs 1`, the
   same dataset without its kept values and `diagnose --data CSVDIR`, run in turn; the ratios to the column reads (target:
   < 1.5 s end to end, and at most 2x the read of every column); and beside them, a process that only
   reads every column (a start-up like diagnose's, then the read), end to end.

    python benchmarks/bench_dataset.py [--period 2025-12] [--repeat 3]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_overview import DATA, ensure_data  # noqa: E402

from diagnosis_service.engine.lookback import carry_plan, lookback_columns  # noqa: E402
from diagnosis_service.periods import months_before  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402

EXE = str(Path(sys.executable).parent / "diagnosis-service")
END_TO_END_TARGET = 1.5
RATIO_TARGET = 2.0


def column_read(dataset: Path, period: str, repeat: int, lookback: dict | None = None, carry=None) -> float:
    """Seconds to read the month's metric columns (``lookback``: of the months before it, only those;
    ``carry``: as a month with kept values is read, those of the month and no history where it skips it)."""
    import pyarrow.parquet as pq

    months = months_before(period, 24)
    kept = json.loads((dataset / "_dataset.json").read_text())["carry"]["set"] if carry else None
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for subject in ("branch", "member"):
            groups = [months[:-1], months[-1:]] if lookback else [months]
            if carry and subject in carry.skip_earlier:
                groups = [months[-1:]]
            elif carry and subject in carry.depth:  # only the months its rules compare with
                groups = [months[-1 - carry.depth[subject]:-1], months[-1:]] if carry.depth[subject] else [months[-1:]]
            for group in groups:
                files = [str(f) for p in group for f in (dataset / f"{subject}_metrics" / p).glob("*.parquet")]
                columns = None
                if lookback and group[-1] != period:
                    columns = [c for c in pq.read_schema(files[0]).names if c in lookback[subject]]
                pq.ParquetDataset(files).read(columns=columns)
            if carry and carry.indicators(subject):
                files = [str(f) for f in (dataset / "carry" / kept / subject / period).glob("*.parquet")]
                pq.ParquetDataset(files).read()
        times.append(time.perf_counter() - start)
    return min(times)


# A process that only reads every column of the 24 months, as ``column_read`` does: Python's start and
# pyarrow's import, which `diagnose` pays too, and the read (the files named on the command line).
READ_PROCESS = ("import sys, pyarrow.parquet as pq\n"
                "for group in sys.argv[1:]: pq.ParquetDataset(group.split(',')).read()")


def read_process(dataset: Path, period: str) -> list[str]:
    months = months_before(period, 24)
    return [sys.executable, "-c", READ_PROCESS,
            *(",".join(str(f) for p in months for f in sorted((dataset / f"{subject}_metrics" / p).glob("*.parquet")))
              for subject in ("branch", "member"))]


def alternating(commands: list[list[str]], repeat: int) -> list[float]:
    """The best of ``repeat`` runs of each command, run in turn (this host's speed drifts between runs)."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[i].append(time.perf_counter() - start)
    return [min(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # The package's bytecode, as a user's second run finds it (first runs write it; a shell with
    # PYTHONDONTWRITEBYTECODE never does, and compiling 100 modules again each run cost 0.2 s here).
    compileall.compile_dir(REPO / "diagnosis_service", quiet=1)
    ruleset = load_ruleset(REPO / "rules")
    ensure_data(ruleset)
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        dataset = Path(tmp) / "dataset"
        start = time.perf_counter()
        done = subprocess.run([EXE, "data", "convert", str(DATA), str(dataset)], check=True, capture_output=True,
                              text=True)
        print(f"data convert: {time.perf_counter() - start:.1f} s "
              f"({sum(f.stat().st_size for f in dataset.rglob('*.parquet')) / 2**20:.0f} MiB of Parquet, "
              f"{sum(f.stat().st_size for f in (dataset / 'carry').rglob('*.parquet')) / 2**20:.1f} MiB of it kept "
              f"derived values); {done.stdout.strip().splitlines()[-1]}", flush=True)
        # The same dataset without the kept values: a month read with its history, as before them.
        history = Path(tmp) / "history"
        shutil.copytree(dataset, history, ignore=shutil.ignore_patterns("carry"))
        description = json.loads((history / "_dataset.json").read_text())
        description.pop("carry")
        (history / "_dataset.json").write_text(json.dumps(description))
        plan = carry_plan(ruleset)
        read = column_read(dataset, args.period, args.repeat)
        read_lookback = column_read(dataset, args.period, args.repeat, lookback_columns(ruleset))
        read_kept = column_read(dataset, args.period, args.repeat, plan.lookback, plan)
        out = Path(tmp) / "month.jsonl"
        from_dataset, one_job, from_history, from_csv, read_alone = alternating(
            [[EXE, "diagnose", "--data", str(data), "--period", args.period, "--out", str(out), *extra]
             for data, extra in ((dataset, []), (dataset, ["--jobs", "1"]), (history, []), (DATA, []))]
            + [read_process(dataset, args.period)], args.repeat)
    ratio, ratio_kept = from_dataset / read, from_dataset / read_kept
    print(f"reading the month's columns: every column of 24 months {read:.2f} s; the lookback of 24 months "
          f"{read_lookback:.2f} s; what diagnose reads now (the month, its kept values, the branches' lookback) "
          f"{read_kept:.2f} s")
    print(f"diagnose --data DATASET: {from_dataset:.2f} s end to end (target < {END_TO_END_TARGET} s: "
          f"{'met' if from_dataset < END_TO_END_TARGET else 'MISSED'}); {ratio:.1f} x the read of every column "
          f"(target <= {RATIO_TARGET}: {'met' if ratio <= RATIO_TARGET else 'MISSED'}), {ratio_kept:.1f} x the "
          f"read of what it reads")
    print(f"  against a process that only reads every column (Python's start, pyarrow's import, the read): "
          f"{read_alone:.2f} s; diagnose takes {from_dataset / read_alone:.2f} x that")
    print(f"  in one process (--jobs 1; the default shares prescriptions and lines out among {os.cpu_count()} "
          f"cores, at most 4): {one_job:.2f} s; the default takes {from_dataset / one_job:.2f} x that")
    print(f"  the same dataset without kept values (its history read): {from_history:.2f} s; with them "
          f"{from_dataset / from_history:.2f} x that")
    print(f"diagnose --data CSVDIR: {from_csv:.2f} s; the dataset takes {from_dataset / from_csv:.2f} x that")

if __name__ == "__main__":
    main()
