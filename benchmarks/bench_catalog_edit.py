"""Benchmark: what one catalog edit costs, with catalog files kept parsed against parsing every time.

An edit of one resource (PUT /v1/catalog/resources/{id}, or a file PUT) checks the whole catalog twice:
the publish's check, then the build of the serving catalog. In one run, both on the largest shipped
file (lecturers.yaml):
1. in process, on the shipped catalog: an edit's two catalog loads, with the files of a good catalog
   kept parsed (as shipped) against every file parsed at each load (the baseline: what is kept is
   dropped before each load, as before), median over ``--repeat`` edits, and the ratio;
2. over HTTP against a real `serve` process on SQLite: ``--edits`` PUTs of a lecturer (its English
   title changed each time: every edit a new text), median and 95th percentile. A running server
   cannot drop what it keeps, so this half has no baseline of its own.

    python benchmarks/bench_catalog_edit.py [--repeat 7] [--edits 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_service import district_service, request  # noqa: E402

from diagnosis_service.data.csvdir import write_dir  # noqa: E402
from diagnosis_service.remedies import catalog_files  # noqa: E402
from diagnosis_service.remedies.catalog import FILES  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.district import SimulationSpec, simulate  # noqa: E402

CATALOG = REPO / "resources_catalog"


def in_process(repeat: int) -> tuple[float, float]:
    """(median seconds of an edit's two loads with the files kept parsed, without)."""
    registry = load_ruleset(REPO / "rules").registry
    files, _ = catalog_files.read_files(CATALOG)
    name = FILES["lecturer"]
    cached, uncached = [], []
    for i in range(repeat):
        edited = {**files, name: files[name] + f"\n# edit {i}\n"}  # a new text, as every edit is
        for out, clear in ((uncached, True), (cached, False)):
            edited[name] += " "
            start = time.perf_counter()
            for _ in range(2):
                if clear:
                    catalog_files.forget_parsed()
                catalog_files.load_texts(edited, registry)
            out.append(time.perf_counter() - start)
    return statistics.median(cached), statistics.median(uncached)


def over_http(edits: int, workdir: Path) -> list[float]:
    ruleset = load_ruleset(REPO / "rules")
    data = workdir / "district"
    write_dir(simulate(SimulationSpec(branches=40, members=400, months=2, end="2025-12", seed=1), ruleset.registry),
              data, ruleset.registry)
    resource = next(r for r in catalog_files.load_catalog(CATALOG, ruleset.registry).resources if r.kind == "lecturer")
    body = {k: v for k, v in resource.as_dict().items() if v is not None}
    seconds = []
    with district_service("sqlite", data, "bench-catalog-") as (_, port, admin, _platform):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(edits):
            # A title of its own each time: every edit a new text, none of them parsed before.
            payload = json.dumps({"resource": {**body, "title_en": f"{body['title_en']} ({i})"}, "comment": f"bench {i}"},
                                 ensure_ascii=False).encode()
            start = time.perf_counter()
            status, out = request(conn, "PUT", f"/v1/catalog/resources/{resource.id}", admin, payload)
            seconds.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"PUT {resource.id}: {status} {out[:300]!r}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--workdir", type=Path, default=REPO / "var" / "bench" / "catalog-edit")
    args = parser.parse_args()
    cached, uncached = in_process(args.repeat)
    print(f"one edit's two catalog loads ({FILES['lecturer']} edited, median of {args.repeat}): files kept parsed "
          f"{cached * 1000:.0f} ms, parsed every time {uncached * 1000:.0f} ms: {uncached / cached:.1f}x faster")
    args.workdir.mkdir(parents=True, exist_ok=True)
    seconds = sorted(over_http(args.edits, args.workdir))
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    print(f"PUT /v1/catalog/resources/{{id}} (a lecturer) against `serve` on SQLite, {len(seconds)} edits: median "
          f"{statistics.median(seconds) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
