"""Benchmark: the learned ranking as a running service serves it, driven over HTTP by the closed loop's world.

The effectiveness issue's independent world drove the service month by month over HTTP and measured
0.40 of its oracle, where the in-process loop gave 0.67-0.83. This benchmark does what that world did,
with the project's worlds (simulation/worlds.py): for each world and seed, a fresh database and
`diagnosis-service serve`, then `simulation.served.run_served_loop`: the month's metrics PUT, the month
diagnosed, every weak branch's prescriptions POSTed, the secretaries' answers POSTed as feedback, and
after every month from the end of the history on the administrator's routine (`model train`, then
`model promote`: a new candidate when it is better with confidence, a retrain of the model in service
unless it is worse; a new candidate estimated better, not yet with confidence, goes on trial and makes
the prior's exploring choices). With ``--routine service`` nobody runs those commands: the service runs
its own routine (DIAGNOSIS_MODEL_ROUTINE=monthly, its default) before each month's diagnosis, from the
first month on. New resources are activated halfway through the counted months with
PUT /v1/catalog/resources/{id}.

Beside it, the same world and seed in process (`run_loop`): the learned policy (it retrains every month
and serves at once) and the oracle. Reported: served / oracle and in-process learned / oracle, mean and
95% interval over seeds, and per seed how many counted months the service served with the prior (of
them, with a challenger on trial). ``--no-trial-baseline`` also runs each served loop with `model promote
--no-trial` (the prior exploring uniformly until a model is promoted), on the same seeds. ``--cross-fit``
promotes with `model promote --cross-fit` (a first candidate judged on every month with outcomes), and
``--no-cross-fit-baseline`` serves each world and seed without it as well.

    python benchmarks/bench_served_loop.py [--worlds project,all] [--seeds 3] [--branches 200]
                                           [--members 3000] [--history 6] [--months 6] [--db sqlite]
                                           [--refit] [--learned-exploration 0.02] [--no-trial-baseline]
                                           [--cross-fit [--no-cross-fit-baseline]] [--routine admin|service]
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_service import EXE, district_service, request  # noqa: E402
from bench_worlds import loop_arguments, pooled, summary  # noqa: E402

from diagnosis_service.config import CHALLENGER_FILE, Settings  # noqa: E402
from diagnosis_service.data.csvdir import write_dir  # noqa: E402
from diagnosis_service.data.model import Dataset  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.service.runtime import MODEL_CHECK_EVERY  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, run_loop  # noqa: E402
from diagnosis_service.simulation.served import run_served_loop  # noqa: E402


class HttpService:
    """``simulation.served.Service`` over HTTP, with the administrator's commands run as a shell would."""

    def __init__(self, db: str, registry, workdir: Path, refit: bool = False, settings: dict | None = None,
                 no_trial: bool = False, cross_fit: bool = False, routine: str = "admin"):
        self.db, self.registry, self.workdir, self.refit, self.no_trial = db, registry, workdir, refit, no_trial
        self.cross_fit, self.routine = cross_fit, routine
        # Environment variables of the service and the commands. "admin": the administrator runs the routine
        # after each month (the service's own is off); "service": the service runs it before each month's
        # diagnosis (DIAGNOSIS_MODEL_ROUTINE, its default), and nobody else does.
        self.settings = {"DIAGNOSIS_MODEL_ROUTINE": "monthly" if routine == "service" else "off", **(settings or {})}
        self.ctx = None
        self.promotions: list[str] = []
        self.said: list[str] = []  # per month, why the active ranking stayed (or "promoted")

    def _trial(self) -> tuple[int, int] | None:
        """The challenger file's (size, mtime), None without one: what a promote changed of it."""
        try:
            st = (self.workdir / "models" / CHALLENGER_FILE).stat()
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def start(self, dataset: Dataset, before: int, inactive) -> None:
        data = self.workdir / "district"
        bm, mm = dataset.branch_metrics, dataset.member_metrics
        write_dir(Dataset(dataset.branches, dataset.members, bm[bm["pidx"] < before], mm[mm["pidx"] < before],
                          source="bench"), data, self.registry)
        self.ctx = district_service(self.db, data, "bench-served-",
                                    {"DIAGNOSIS_MODELS": str(self.workdir / "models"), **self.settings})
        self.env, self.port, self.admin, self.platform = self.ctx.__enter__()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        self._catalog(inactive, active=False)

    def close(self) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(None, None, None)

    def _call(self, method: str, path: str, token: str, body: object, want: int) -> dict:
        status, data = request(self.conn, method, path, token, json.dumps(body, ensure_ascii=False).encode())
        if status != want:
            raise RuntimeError(f"{method} {path}: {status} {data[:500]!r}")
        return json.loads(data)

    def _catalog(self, resources, active: bool) -> None:
        for r in resources:
            self._call("PUT", f"/v1/catalog/resources/{r.id}", self.admin,
                       {"resource": {**{k: v for k, v in r.as_dict().items() if v is not None}, "active": active},
                        "comment": "bench: new resources"}, 200)

    def put_metrics(self, period: str, body: dict) -> None:
        self._call("PUT", f"/v1/periods/{period}/metrics", self.platform, body, 200)

    def diagnose(self, period: str) -> None:
        done = self._call("POST", "/v1/diagnoses?wait=true", self.platform, {"period": period}, 201)
        model = done.get("model") or {}
        if model.get("state") == "promoted":
            self.said.append(f"{period} promoted")
            self.promotions.append(period)
        elif model.get("state") not in (None, "skipped", "off"):
            self.said.append(f"{period} routine: {model.get('state')}: {str(model.get('reason'))[:300]}")

    def prescribe(self, branch_id: str, period: str) -> dict:
        return self._call("POST", "/v1/prescriptions", self.platform, {"branch_id": branch_id, "period": period}, 201)

    def feedback(self, prescription_id: int, status: str) -> None:
        self._call("POST", f"/v1/prescriptions/{prescription_id}/feedback", self.platform, {"status": status}, 201)

    def activate(self, resources) -> None:
        self._catalog(resources, active=True)

    def month_end(self, period: str) -> None:
        if self.routine == "service":  # the service ran it before the month's diagnosis
            return
        train = subprocess.run([EXE, "model", "train", "--lang", "en"], env=self.env, capture_output=True, text=True)
        if train.returncode != 0:  # nothing measurable yet: the service keeps what it has
            self.said.append(f"{period} train: {(train.stderr.strip().splitlines() or ['?'])[-1][:200]}")
            return
        trial = self._trial()
        promote = subprocess.run([EXE, "model", "promote", "--lang", "en", "--json", *(["--refit"] if self.refit else []),
                                  *(["--no-trial"] if self.no_trial else []),
                                  *(["--cross-fit"] if self.cross_fit else [])],
                                 env=self.env, capture_output=True, text=True)
        said = [line for line in promote.stderr.splitlines() if line.startswith("warning: not cross-fitted")]
        if said:  # the comparison fell back to the held-out months: say why in the run's record
            self.said.append(f"{period} {said[0][:300]}")
        if promote.returncode != 0:
            self.said.append(f"{period} promote: {(promote.stdout.strip() or promote.stderr.strip())[-300:]}")
            if self._trial() != trial:  # a challenger put on trial, or its trial ended: the ranker changes
                time.sleep(MODEL_CHECK_EVERY + 0.5)
            return
        self.said.append(f"{period} promoted")
        self.promotions.append(period)
        time.sleep(MODEL_CHECK_EVERY + 0.5)  # then the month's first request loads the new model


def one(args: tuple) -> dict:
    kind, world, seed, branches, members, history, months, db, refit, learned_exploration, cross_fit, routine = args
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    spec = LoopSpec(policy="oracle" if kind == "oracle" else "learned", seed=seed, branches=branches,
                    members=members, months=months, history=history, world=world)
    start = time.perf_counter()
    out = {"kind": kind, "world": world, "seed": seed}
    if kind.startswith("served"):
        workdir = Path(tempfile.mkdtemp(prefix="bench-served-"))
        service = HttpService(db, ruleset.registry, workdir, refit,
                              {"DIAGNOSIS_LEARNED_EXPLORATION": str(learned_exploration)},
                              no_trial=kind == "served-no-trial", cross_fit=cross_fit and kind != "served-no-cross-fit",
                              routine=routine)
        try:
            result = run_served_loop(spec, ruleset, catalog, service)
        finally:
            service.close()
            shutil.rmtree(workdir, ignore_errors=True)
        out["promotions"] = service.promotions
        out["said"] = service.said
        out["rankers"] = [m["ranker"] for m in result.monthly]
    else:
        result = run_loop(spec, ruleset, catalog)
    out.update(true_improvement=result.true_improvement, of_best_shown=result.of_best_shown,
               seconds=round(time.perf_counter() - start, 1))
    return out


def paired(baseline: str) -> str:
    """The result's key of the served runs' differences from a baseline kind's (paired by seed)."""
    return "paired_with_" + baseline.removeprefix("served-").replace("-", "_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    loop_arguments(parser, "project,all", "served_loop.json")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--refit", action="store_true",
                        help="the administrator promotes with `model promote --refit` (the validated recipe fitted "
                             "on every month)")
    parser.add_argument("--no-trial-baseline", action="store_true",
                        help="also serve each world and seed with `model promote --no-trial`, and compare")
    parser.add_argument("--cross-fit", action="store_true",
                        help="the administrator promotes with `model promote --cross-fit` (a first candidate judged "
                             "on every month, its training months by its recipe fitted on the others)")
    parser.add_argument("--no-cross-fit-baseline", action="store_true",
                        help="with --cross-fit: also serve each world and seed without it, and compare")
    parser.add_argument("--learned-exploration", type=float, default=Settings.learned_exploration,
                        help="the service's DIAGNOSIS_LEARNED_EXPLORATION (the in-process loop's stays "
                             f"{LoopSpec.epsilon})")
    parser.add_argument("--routine", choices=["admin", "service"], default="admin",
                        help="who runs the model's monthly routine: the administrator after each month (`model "
                             "train`, `model promote` with the options above), or the service itself before each "
                             "month's diagnosis (DIAGNOSIS_MODEL_ROUTINE=monthly: train, then promote --refit "
                             "--cross-fit; the options above do not apply)")
    args = parser.parse_args()
    if args.routine == "service" and (args.no_trial_baseline or args.no_cross_fit_baseline):
        parser.error("--routine service runs the service's own routine: no baselines of the administrator's options")
    worlds = args.worlds.split(",")
    baselines = {k: f for k, f in (("served-no-trial", args.no_trial_baseline),
                                   ("served-no-cross-fit", args.cross_fit and args.no_cross_fit_baseline)) if f}
    served_kinds = ("served", *baselines)
    kinds = (*served_kinds, "learned", "oracle")
    start = time.perf_counter()
    runs = pooled(one, [(k, w, s, args.branches, args.members, args.history, args.months, args.db, args.refit,
                         args.learned_exploration, args.cross_fit, args.routine)
                        for w in worlds for s in range(args.seeds) for k in kinds], args.jobs)
    print(f"{len(runs)} loops ({args.branches} branches, {args.history} months of history, {args.months} counted, "
          f"{args.seeds} seeds, {args.db}, the service's learned exploration {args.learned_exploration}"
          f"{', the service running its own routine' if args.routine == 'service' else ''}"
          f"{', promoted with --cross-fit' if args.cross_fit and args.routine == 'admin' else ''}) in {time.perf_counter() - start:.0f} s\n")
    print(f"{'world':<9} {'served as':<15} {'served/oracle':>24} {'in process/oracle':>24} {'served/best shown':>24}"
          f"  months on the prior (with a challenger on trial)")
    table = []
    for w in worlds:
        value = {(r["kind"], r["seed"]): r for r in runs if r["world"] == w}
        oracle = [value[("oracle", s)]["true_improvement"] for s in range(args.seeds)]
        learned = [value[("learned", s)]["true_improvement"] / o for s, o in enumerate(oracle)]
        row = {"world": w, "learned_oracle": summary(learned)[1], "runs": [r for r in runs if r["world"] == w]}
        for kind in served_kinds:
            served = [value[(kind, s)]["true_improvement"] / o for s, o in enumerate(oracle)]
            shown = [value[(kind, s)]["of_best_shown"] for s in range(args.seeds)]
            rankers = [value[(kind, s)]["rankers"] for s in range(args.seeds)]
            first = [f"{sum(str(r).startswith('prior') for r in rs)} ({sum(str(r).startswith('prior+') for r in rs)})"
                     for rs in rankers]
            (st, sk), (lt, _), (bt, bk) = summary(served), summary(learned), summary(shown)
            print(f"{w:<9} {kind:<15} {st}    {lt}    {bt}  {', '.join(first)}")
            row[kind] = {"served_oracle": sk, "served_best_shown": bk}
            if kind == "served":
                row[kind].update({paired(b): [round(a - value[(b, s)]["true_improvement"] / oracle[s], 4)
                                              for s, a in enumerate(served)] for b in baselines})
        for b in baselines:
            print(f"{'':<9} {'minus ' + b.removeprefix('served-'):<15} per seed {row['served'][paired(b)]}")
        table.append(row)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
