"""Benchmark: a district month from the columnar dataset against the CSV directory it came from.

In one run, on the default district (24 months, 2,654 branches, 47,411 members):
1. `data convert` of the CSV directory (once; not part of a month's cost);
2. the time to read the month's columns from the dataset (the 24 months a diagnosis looks back on,
   pyarrow straight into arrays: the floor for anything that diagnoses from the dataset);
3. `diagnose --data DATASET --period P --out FILE` end to end, against `diagnose --data CSVDIR`; the
   ratio to the column read (target: < 1.5 s end to end, and at most 2x the column read).

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


def column_read(dataset: Path, period: str, repeat: int) -> float:
    import pyarrow.parquet as pq

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for subject in ("branch", "member"):
            files = [str(f) for p in months_before(period, 24) for f in (dataset / f"{subject}_metrics" / p).glob("*.parquet")]
            pq.ParquetDataset(files).read()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ensure_data(load_ruleset(REPO / "rules"))
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        dataset = Path(tmp) / "dataset"
        start = time.perf_counter()
        subprocess.run([EXE, "data", "convert", str(DATA), str(dataset)], check=True, capture_output=True)
        print(f"data convert: {time.perf_counter() - start:.1f} s "
              f"({sum(f.stat().st_size for f in dataset.rglob('*.parquet')) / 2**20:.0f} MiB of Parquet)", flush=True)
        read = column_read(dataset, args.period, args.repeat)
        out = Path(tmp) / "month.jsonl"
        from_dataset = best([EXE, "diagnose", "--data", str(dataset), "--period", args.period, "--out", str(out)],
                            args.repeat)
        from_csv = best([EXE, "diagnose", "--data", str(DATA), "--period", args.period, "--out", str(out)],
                        args.repeat)
    ratio = from_dataset / read
    print(f"reading the month's columns (24 months): {read:.2f} s")
    print(f"diagnose --data DATASET: {from_dataset:.2f} s end to end (target < {END_TO_END_TARGET} s: "
          f"{'met' if from_dataset < END_TO_END_TARGET else 'MISSED'}); {ratio:.1f} x the column read (target <= "
          f"{RATIO_TARGET}: {'met' if ratio <= RATIO_TARGET else 'MISSED'})")
    print(f"diagnose --data CSVDIR: {from_csv:.2f} s; the dataset takes {from_dataset / from_csv:.2f} x that")


if __name__ == "__main__":
    main()
