"""Benchmark: a province's month on Dask, merged into one file by the client (`--out FILE`) against written
part by part by the workers (`--out-parts DIR`), and the merge of those parts afterwards (`data merge-parts`).

In one run, for each scale K (default 4 and 16; the provinces `bench_scale.py` simulates, kept under
var/bench/):
1. `diagnose --engine dask --out FILE` on a LocalCluster of --workers processes: the time of each pass,
   the client's merge, the client's peak memory;
2. the same with `--out-parts DIR`: the workers write the parts, the client only the manifest;
3. `data merge-parts DIR --out FILE2` (what a reader who needs one file in id order runs), and FILE2
   compared with FILE byte for byte;
then the client's serial cost per member both ways, and the nation (99 M members) on N workers
extrapolated as `bench_scale.py` does, with and without the merge in the client.

    python benchmarks/bench_parts.py [--scales 4,16] [--workers 2] [--worker-memory 4GiB]
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import EXE, NATION, REPO, ensure_province, province_arguments  # noqa: E402 (the benchmarks folder is not a package)

RUN = """
import json, sys, time
from pathlib import Path
from diagnosis_service.pipeline.partitioned import diagnose_partitioned
from diagnosis_service.pipeline.snapshot import Snapshot
if __name__ == "__main__":
    data, period, out, mode, scheduler, memory = sys.argv[1:7]
    start = time.perf_counter()
    snapshot = Snapshot.from_dirs(Path("rules"), Path("resources_catalog"))
    target = {"out": Path(out)} if mode == "file" else {"out": None, "out_parts": Path(out)}
    run = diagnose_partitioned(Path(data), snapshot, period, scheduler=scheduler, worker_memory=memory, **target)
    print(json.dumps({"seconds": time.perf_counter() - start, "parts": run.parts, "members": run.members,
                      "worker_peaks": run.worker_peaks, "client_peak": run.client_peak, "passes": run.seconds}))
"""


def run_dask(data: Path, period: str, out: Path, mode: str, workers: int, memory: str) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN, str(data), period, str(out), mode, f"local:{workers}", memory],
                          cwd=REPO, check=True, capture_output=True, text=True)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    stats["wall"] = time.perf_counter() - start
    return stats


def main() -> None:
    args = province_arguments(__doc__, "4,16").parse_args()
    rows = []
    for scale in [int(s) for s in args.scales.split(",")]:
        data = ensure_province(scale, args.months)
        one, parts, merged = (data.with_name(f"{data.name}.{x}") for x in ("file.jsonl", "parts", "merged.jsonl"))
        f = run_dask(data, args.period, one, "file", args.workers, args.worker_memory)
        p = run_dask(data, args.period, parts, "parts", args.workers, args.worker_memory)
        start = time.perf_counter()
        subprocess.run([EXE, "data", "merge-parts", str(parts), "--out", str(merged)], cwd=REPO, check=True,
                       capture_output=True)
        merge_s = time.perf_counter() - start
        same = filecmp.cmp(one, merged, shallow=False)
        size = sum(x.stat().st_size for x in parts.glob("part-*.jsonl"))
        row = {"scale": scale, "members": f["members"], "parts": f["parts"], "bytes": size, "file": f, "out_parts": p,
               "merge_parts_s": merge_s, "identical": same}
        rows.append(row)
        print(f"{scale}x ({f['members']:,} members, {f['parts']} parts, {size / 2**20:,.0f} MiB of lines):\n"
              f"  --out FILE:      {f['seconds']:.1f} s (diagnosis pass {f['passes']['diagnosis']:.1f} s, the client's "
              f"merge {f['passes']['merge']:.1f} s), client peak {f['client_peak'] / 2**30:.2f} GiB\n"
              f"  --out-parts DIR: {p['seconds']:.1f} s (diagnosis pass {p['passes']['diagnosis']:.1f} s, no merge), "
              f"client peak {p['client_peak'] / 2**30:.2f} GiB; {p['seconds'] / f['seconds']:.2f}x the time\n"
              f"  data merge-parts afterwards: {merge_s:.1f} s; the merged file is the --out file byte for byte: "
              f"{same}", flush=True)
        shutil.rmtree(parts, ignore_errors=True)
        for x in (one, merged):
            x.unlink(missing_ok=True)
    report(rows, args.workers)


def report(rows: list[dict], workers: int) -> None:
    """The client's serial cost per member, and the nation extrapolated from the largest run: the pass over
    the parts spreads over workers, the client's merge does not."""
    big = rows[-1]
    f, p, n = big["file"], big["out_parts"], big["members"]
    # The diagnosis pass with --out FILE also receives every line in the client; with --out-parts it does not.
    parallel = p["passes"]["diagnosis"] / n  # seconds per member on `workers` workers, nothing serial in it
    serial_file = (f["passes"]["diagnosis"] - p["passes"]["diagnosis"] + f["passes"]["merge"]) / n
    refs = sum(v for k, v in p["passes"].items() if k != "diagnosis") / n * workers  # the reference passes, parallel
    print(f"\nper member, {big['scale']}x: the parts' pass {parallel * 1e6:.1f} us on {workers} workers; the client's "
          f"serial work with --out FILE {max(serial_file, 0) * 1e6:.1f} us (receiving and merging), with --out-parts "
          f"none but the manifest")
    print(f"{'the nation (99 M members)':<28} " + " ".join(f"{w:>8} workers" for w in (8, 32, 128, 512)))
    for name, serial in (("--out FILE", max(serial_file, 0)), ("--out-parts DIR", 0.0)):
        minutes = [(NATION * ((parallel * workers + refs) / w + serial)) / 60 for w in (8, 32, 128, 512)]
        print(f"{name:<28} " + " ".join(f"{m:>10.1f} min" for m in minutes))
    print("(linear extrapolation from one run; the scheduler's own overhead per task and the shared storage's "
          "bandwidth are not in it)")


if __name__ == "__main__":
    main()
