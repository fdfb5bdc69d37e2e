"""Benchmark: importing the default district and its monthly job over HTTP against the command line.

In one run, for each database (SQLite by default; --db postgresql or --db both):
1. `diagnosis-service import` of the default district (24 months, 2,654 branches, 47,411 members) into a
   fresh database: wall time and the process's peak memory (target on PostgreSQL: < 20 s);
2. the same month diagnosed by the command line (`diagnose --data DIR --period P --out FILE`, the baseline)
   and by the service (`POST /v1/diagnoses`, 202, then `GET /v1/jobs/{id}` until it is done: the time
   from the request to the job's end), with the ratio (target: within 1.5 times the command line);
3. `import` of CSV directories and of columnar datasets (`data convert`) of the district's first 6, 12 and 24
   months: peak memory against the months (target: flat in the number of months);
4. (``--corrections``) the district's last 3 months imported again corrected (a value changed in every
   third member row and every fifth branch row, as a platform's re-export brings them): the command's
   time and peak memory, and the months stored by ``correct_month`` (column-wise, in bulk) against
   ``upsert_metrics`` (a dict per row, as before), each in a transaction rolled back, with the ratio.

    python benchmarks/bench_jobs.py [--db sqlite|postgresql|both] [--period 2025-12] [--import-months 6,12,24]
                                    [--corrections]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_overview import DATA, ensure_data  # noqa: E402
from bench_service import EXE, database, request, server  # noqa: E402

from diagnosis_service.rules import load_ruleset  # noqa: E402

IMPORT_TARGET = 20.0
RATIO_TARGET = 1.5


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """(seconds, peak MiB) of one command, its peak measured by GNU time (the children's maximum that
    getrusage keeps would include the servers run before)."""
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return seconds, int(done.stderr.strip().splitlines()[-1]) / 1024


def job_seconds(port: int, token: str, period: str) -> tuple[float, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    start = time.perf_counter()
    status, body = request(conn, "POST", "/v1/diagnoses", token, json.dumps({"period": period}).encode())
    assert status == 202, body
    job = json.loads(body)
    for _ in range(6000):  # bounded: ten minutes at most
        status, body = request(conn, "GET", f"/v1/jobs/{job['job_id']}", token)
        job = json.loads(body)
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    conn.close()
    assert job["state"] == "succeeded", job
    return time.perf_counter() - start, job


def run(db: str, district: Path, period: str, cli_seconds: float, corrected: Path | None = None,
        ruleset=None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    with database(db, tmp) as env:
        subprocess.run([EXE, "db", "upgrade"], env=env, check=True, capture_output=True)
        seconds, peak = timed([EXE, "import", str(district)], env)
        verdict = ("met" if seconds < IMPORT_TARGET else "MISSED") if db == "postgresql" else "(no target)"
        print(f"[{db}] import of the district: {seconds:.1f} s, peak {peak:,.0f} MiB; target < {IMPORT_TARGET:.0f} s "
              f"{verdict}", flush=True)
        platform = subprocess.run([EXE, "tokens", "create", "--role", "platform", "--name", "bench"], env=env,
                                  check=True, capture_output=True, text=True).stdout.strip()
        with server(env, 4) as port:
            wall, job = job_seconds(port, platform, period)
        ratio = wall / cli_seconds
        print(f"[{db}] POST /v1/diagnoses {period} as a job: {wall:.1f} s (the job says {job['result']['seconds']:.1f} s), "
              f"{ratio:.2f} x the command line; target <= {RATIO_TARGET} x "
              f"{'met' if ratio <= RATIO_TARGET else 'MISSED'}", flush=True)
        if corrected is not None:
            corrections(db, env, corrected, ruleset)


CORRECTED_MONTHS = 3


def corrected_input(district: Path, ruleset, root: Path) -> Path:
    """The district's last CORRECTED_MONTHS months as a CSV directory, a value changed in every third
    member row and every fifth branch row (written once, not timed)."""
    from diagnosis_service.data.csvdir import write_dir
    from diagnosis_service.data.model import Dataset
    from diagnosis_service.data.sources import CsvDir

    whole = CsvDir(district).load(ruleset.registry)
    last = int(whole.branch_metrics["pidx"].max())
    cut = {}
    for subject, frame, column, every in (("branch", whole.branch_metrics, "theory_study_sessions", 5),
                                          ("member", whole.member_metrics, "volunteer_hours", 3)):
        part = frame[frame["pidx"] > last - CORRECTED_MONTHS].reset_index(drop=True)
        part.loc[part.index % every == 0, column] = part[column].fillna(0) + 1
        cut[subject] = part
    out = root / "district-corrected"
    write_dir(Dataset(whole.branches, whole.members, cut["branch"], cut["member"], source=str(district)), out,
              ruleset.registry)
    return out


def corrections(db: str, env: dict, corrected: Path, ruleset) -> None:
    """The corrected months through both paths in process (rolled back), then the command for real."""
    from diagnosis_service.data.model import KEYS
    from diagnosis_service.data.sources import CsvDir
    from diagnosis_service.store import make_engine, whole_months
    from diagnosis_service.store import metrics as metrics_store

    data = CsvDir(corrected).load(ruleset.registry)
    engine = make_engine(env["DATABASE_URL"], bulk=True)
    took = {}
    try:
        for way in ("upsert_metrics", "correct_month"):
            with engine.connect() as conn:
                trans = conn.begin()
                start = time.perf_counter()
                for subject in ("branch", "member"):
                    frame = data.metrics(subject)
                    for period, month in frame.groupby("period", sort=True):
                        month = month.drop(columns="pidx")
                        if way == "upsert_metrics":
                            metrics_store.upsert_metrics(conn, subject, month.to_dict("records"), source="import",
                                                         actor="bench")
                        else:
                            cols = [c for c in month.columns if c not in ("period", KEYS[subject])]
                            whole_months.correct_month(conn, subject, str(period), month[KEYS[subject]].tolist(),
                                                        cols, month[cols].to_numpy(dtype=float), source="import",
                                                        actor="bench")
                took[way] = time.perf_counter() - start
                trans.rollback()
    finally:
        engine.dispose()
    seconds, peak = timed([EXE, "import", str(corrected)], env)
    rows = len(data.member_metrics) + len(data.branch_metrics)
    print(f"[{db}] import of {CORRECTED_MONTHS} corrected months ({rows:,} rows, a third of members' and a fifth of "
          f"branches' changed): {seconds:.1f} s, peak {peak:,.0f} MiB; stored in process: correct_month "
          f"{took['correct_month']:.1f} s, row by row (upsert_metrics) {took['upsert_metrics']:.1f} s: "
          f"{took['upsert_metrics'] / took['correct_month']:.1f} x faster", flush=True)


def inputs_by_months(district: Path, ruleset, months: list[int], root: Path) -> dict[str, dict[int, Path]]:
    """The district's first N months as a CSV directory and as a columnar dataset, for each N (written once,
    not timed): {"CSV directory" | "dataset": {N: path}}."""
    from diagnosis_service.data.columnar import write_dataset
    from diagnosis_service.data.csvdir import write_dir
    from diagnosis_service.data.model import Dataset
    from diagnosis_service.data.sources import CsvDir

    whole = CsvDir(district).load(ruleset.registry)
    first = int(whole.branch_metrics["pidx"].min())
    out: dict[str, dict[int, Path]] = {"CSV directory": {}, "dataset": {}}
    for n in months:
        cut = {s: f[f["pidx"] < first + n].reset_index(drop=True)
               for s, f in (("branch", whole.branch_metrics), ("member", whole.member_metrics))}
        part = Dataset(whole.branches, whole.members, cut["branch"], cut["member"], source=str(district))
        out["dataset"][n] = root / f"district-{n}m-dataset"
        write_dataset(part, out["dataset"][n], ruleset.registry)
        out["CSV directory"][n] = root / f"district-{n}m-csv"
        write_dir(part, out["CSV directory"][n], ruleset.registry)
    return out


def import_curve(db: str, inputs: dict[str, dict[int, Path]]) -> None:
    """Import each input into a fresh database: time and peak memory against the months it holds."""
    for kind, paths in inputs.items():
        peaks = {}
        for n, path in sorted(paths.items()):
            tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
            with database(db, tmp) as env:
                subprocess.run([EXE, "db", "upgrade"], env=env, check=True, capture_output=True)
                seconds, peaks[n] = timed([EXE, "import", str(path)], env)
            print(f"[{db}] import of the {kind}, {n} months: {seconds:.1f} s, peak {peaks[n]:,.0f} MiB", flush=True)
        lo, hi = min(peaks), max(peaks)
        print(f"[{db}] import peak memory of the {kind}, {hi} months against {lo}: {peaks[hi] / peaks[lo]:.2f} x "
              f"(flat in the number of months: {'met' if peaks[hi] / peaks[lo] < 1.25 else 'MISSED'})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--period", default="2025-12")
    parser.add_argument("--import-months", default="6,12,24",
                        help="import CSV directories and datasets of the district's first N months (comma-separated; '' to skip)")
    parser.add_argument("--corrections", action="store_true",
                        help=f"also import the district's last {CORRECTED_MONTHS} months again, corrected (item 4)")
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    district = DATA  # the district `simulate` writes by default: 24 months
    ensure_data(ruleset)
    with tempfile.TemporaryDirectory() as out:
        cli_seconds, peak = timed([EXE, "diagnose", "--data", str(district), "--period", args.period, "--out",
                                   str(Path(out) / "month.jsonl")], dict(os.environ))
    print(f"baseline: diagnose --data (CSV) {args.period}: {cli_seconds:.1f} s, peak {peak:,.0f} MiB", flush=True)
    dbs = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    with tempfile.TemporaryDirectory() as root:
        corrected = corrected_input(district, ruleset, Path(root)) if args.corrections else None
        for db in dbs:
            run(db, district, args.period, cli_seconds, corrected, ruleset)
    if args.import_months:
        with tempfile.TemporaryDirectory() as root:
            inputs = inputs_by_months(district, ruleset, [int(n) for n in args.import_months.split(",")],
                                      Path(root))
            for db in dbs:
                import_curve(db, inputs)


if __name__ == "__main__":
    main()
