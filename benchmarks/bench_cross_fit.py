"""Benchmark: what cross-fitting a first candidate costs `model promote`, against the held-out comparison.

`model evaluate --candidate` (what `model promote` runs before it acts) compares a first candidate with
the prior on its held-out months; with `--cross-fit` (docs/effectiveness.md) it also fits the
candidate's recipe once without each block of its training months and ranks every month's decisions.
This times both on a year of the default district served by the exploring prior (2,654 branches, 12
months of history and one more, seed 0; simulated once into var/bench/cross_fit_loop, not timed), each
in its own process, with its peak memory, and prints what each comparison says: decisions, the
candidate's effective sample and the width of the 95% interval of the difference.

    python benchmarks/bench_cross_fit.py [--loop var/bench/cross_fit_loop]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXE = Path(sys.executable).parent / "diagnosis-service"
# The command in a child process that writes its own peak memory (KiB) where PEAK_FILE says, at exit.
WRAPPED = ("import atexit, os, resource, sys; atexit.register(lambda: open(os.environ['PEAK_FILE'], 'w').write("
           "str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))); from diagnosis_service.cli import main; "
           "sys.argv[0] = 'diagnosis-service'; main()")


def ensure_loop(directory: Path) -> None:
    if (directory / "log.csv").is_file():
        return
    print(f"simulating a year of the default district served by the exploring prior into {directory} "
          f"(not timed, about a minute) ...", flush=True)
    subprocess.run([str(EXE), "simulate", "loop", "--policy", "prior", "--months", "1", "--seed", "0",
                    "--out", str(directory)], check=True, capture_output=True)


def timed(args: list[str], env: dict) -> tuple[float, float, dict]:
    """(seconds, peak GiB, the printed JSON) of one `diagnosis-service` command in its own process."""
    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", WRAPPED, *args], env={**env, "PEAK_FILE": peak.name},
                              capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - start
        return seconds, int(Path(peak.name).read_text() or 0) / 1024**2, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", type=Path, default=REPO / "var" / "bench" / "cross_fit_loop")
    args = parser.parse_args()
    ensure_loop(args.loop)
    with tempfile.TemporaryDirectory(prefix="bench-cross-fit-") as models:
        env = {**os.environ, "DIAGNOSIS_MODELS": models}
        subprocess.run([str(EXE), "model", "train", "--from", str(args.loop)], env=env, check=True,
                       capture_output=True)
        base = ["model", "evaluate", "--candidate", "--json", "--from", str(args.loop)]
        rows = [("held-out months (the baseline)", *timed(base, env)),
                ("cross-fitted", *timed([*base, "--cross-fit"], env))]
    first = rows[0]
    print(f"{'comparison':<32} {'decisions':>10} {'seconds':>8} {'ratio':>6} {'peak GiB':>9} {'ratio':>6} "
          f"{'candidate ESS':>14} {'95% width':>10} {'promote':>8}")
    for name, seconds, peak, result in rows:
        width = result["ci95"][1] - result["ci95"][0]
        print(f"{name:<32} {result['decisions']:>10,} {seconds:>8.1f} {seconds / first[1]:>5.1f}x {peak:>9.2f} "
              f"{peak / first[2]:>5.1f}x {result['effective_sample']['candidate']:>14.0f} {width:>10.3f} "
              f"{str(result['promote']):>8}")


if __name__ == "__main__":
    main()
