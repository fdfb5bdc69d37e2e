"""Benchmark: a district month from the columnar dataset against the CSV directory it came from.

In one run, on the default district (24 months, 2,654 branches, 47,411 members):
1. `data convert` of the CSV directory (once; not part of a month's cost);
2. the time to read the month's columns from the dataset, pyarrow straight into arrays: every column of
   the 24 months a diagnosis may look back on (the floor the target was set against), and only what
   `diagnose` reads (every column of the month, and of the months before it what the rules look back at:
   `engine.lookback`, the floor now);
3. `diagnose --data DATASET --period P --out FILE` end to end, against `diagnose --data CSVDIR`; the
   ratios to the column reads (target: < 1.5 s end to end, and at most 2x the column read).

    python benchmarks/bench_dataset.py [--period 2025-12] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_overview import DATA, ensure_data  # noqa: E402

from diagnosis_service.engine.lookback import lookback_columns  # noqa: E402
from diagnosis_service.periods import months_before  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402

EXE = str(Path(sys.executable).parent / "diagnosis-service")
END_TO_END_TARGET = 1.5
RATIO_TARGET = 2.0


def best(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def column_read(dataset: Path, period: str, repeat: int, lookback: dict | None = None) -> float:
    """Seconds to read the month's metric columns (``lookback``: of the months before it, only those)."""
    import pyarrow.parquet as pq

    months = months_before(period, 24)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for subject in ("branch", "member"):
            for group in ([months[:-1], months[-1:]] if lookback else [months]):
                files = [str(f) for p in group for f in (dataset / f"{subject}_metrics" / p).glob("*.parquet")]
                columns = None
                if lookback and group[-1] != period:
                    columns = [c for c in pq.read_schema(files[0]).names if c in lookback[subject]]
                pq.ParquetDataset(files).read(columns=columns)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    ensure_data(ruleset)
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        dataset = Path(tmp) / "dataset"
        start = time.perf_counter()
        subprocess.run([EXE, "data", "convert", str(DATA), str(dataset)], check=True, capture_output=True)
        print(f"data convert: {time.perf_counter() - start:.1f} s "
              f"({sum(f.stat().st_size for f in dataset.rglob('*.parquet')) / 2**20:.0f} MiB of Parquet)", flush=True)
        read = column_read(dataset, args.period, args.repeat)
        read_lookback = column_read(dataset, args.period, args.repeat, lookback_columns(ruleset))
        out = Path(tmp) / "month.jsonl"
        from_dataset = best([EXE, "diagnose", "--data", str(dataset), "--period", args.period, "--out", str(out)],
                            args.repeat)
        from_csv = best([EXE, "diagnose", "--data", str(DATA), "--period", args.period, "--out", str(out)],
                        args.repeat)
    ratio, ratio_lookback = from_dataset / read, from_dataset / read_lookback
    print(f"reading the month's columns: every column of 24 months {read:.2f} s; what diagnose reads "
          f"{read_lookback:.2f} s")
    print(f"diagnose --data DATASET: {from_dataset:.2f} s end to end (target < {END_TO_END_TARGET} s: "
          f"{'met' if from_dataset < END_TO_END_TARGET else 'MISSED'}); {ratio:.1f} x the read of every column, "
          f"{ratio_lookback:.1f} x the read of what it reads (target <= {RATIO_TARGET}: "
          f"{'met' if ratio_lookback <= RATIO_TARGET else 'MISSED'})")
    print(f"diagnose --data CSVDIR: {from_csv:.2f} s; the dataset takes {from_dataset / from_csv:.2f} x that")


if __name__ == "__main__":
    main()
