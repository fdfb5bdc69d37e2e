"""An outsider's check of diagnosis-service's first recommendations, over HTTP only.

The world (`outsider_world.py`) was written by someone who had NOT read how the service's model or its
own simulator work: only the README, the docs (not effectiveness.md), the rule and catalog files, the
command line's --help and the service's answers. It is an independent check, not a target to tune the
service against: a change made to score better here would only fit the service to one outsider's guesses.

For each seed and each service policy it starts a fresh `diagnosis-service serve` (its own SQLite file,
models and var directories, a free port on 127.0.0.1, platform and admin tokens made with `tokens
create`), then month by month PUTs the month's metrics, runs the month's diagnosis job, reads every
branch's weaknesses, POSTs prescriptions for each weak branch, lets the secretaries act (adopt the first
item at the branch's rate, the second instead 15% of the time; 40% of them never answer, the others send
adopted / declined) and advances the hidden truth. The history months are served the same way and not
counted (as the effectiveness issue's independent world did: "6 months of history served by the prior,
then 6 months scored"); with `--history-imported` they are imported with `import DIR` instead, so the
service has no list and no answer before the first counted month.

Policies: `learned` (the service as deployed: it runs its monthly model routine itself), `prior`
(DIAGNOSIS_MODEL_ROUTINE=off), and optionally `prior0` (also DIAGNOSIS_PRIOR_EXPLORATION=0) and `forced`
(the routine off; before each month `model train`, then `model promote --force --refit`: the model's own
ranking without the promotion gate, to tell what the gate kept out from what the model could not learn). Computed
without a service on the same weaknesses: `random` (expected value of a random suitable resource),
`best-kind` (the truth's best kind for the branch type, its average resource) and `oracle` (the best
suitable resource by true value). Score: the summed true expected value of the service's first
recommendation over all scored weaknesses, as a share of the oracle's; `best-shown` is the best item the
service listed for the weakness.

    cd /work/main && nice -n 10 .venv/bin/python benchmarks/bench_outsider.py --seeds 1 --branches 40 \\
        --history 2 --months 2                                   # smoke: about 30 s
    nice -n 10 .venv/bin/python benchmarks/bench_outsider.py --seeds 3 --json /tmp/outsider/full.json
        # 200 branches, 6 months of history served + 6 counted, learned and prior: about 10 minutes on 2
        # cores; --policies forced (the model without its promotion gate): about 3 minutes a seed

One service runs at a time. Scratch files go under --workdir (default /tmp/outsider/runs), removed unless
--keep.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from outsider_service import CLI, PROBLEMS, Service, ServiceError, follow_job, note, write_history  # noqa: E402
from outsider_world import BRANCH_IND, KIND_TYPE, MEMBER_IND, World, periods  # noqa: E402

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
SUMS = ("first", "shown", "random", "bestkind", "oracle")


def run_policy(seed, policy, args, catalog, log):
    t0 = time.monotonic()
    world = World(seed, args.branches, periods(args.history + args.months, args.end), catalog)
    workdir = Path(args.workdir) / f"seed{seed}-{policy}"
    shutil.rmtree(workdir, ignore_errors=True)
    svc = Service(workdir, policy, log)
    out = {"seed": seed, "policy": policy, "months": [], "sums": dict.fromkeys(SUMS, 0.0), "weaknesses": 0,
           "first_kinds": {}, "oracle_kinds": {}, "not_suitable": 0, "empty_lists": 0}
    try:
        svc.cli("db", "upgrade", "--lang", "en")
        ptok = svc.cli("tokens", "create", "--role", "platform", "--name", "platform", "--lang", "en").splitlines()[-1]
        svc.cli("tokens", "create", "--role", "admin", "--name", "admin", "--lang", "en")
        imported = args.history if args.history_imported else 0  # served: only the branches and members
        write_history(world, workdir / "history", imported)
        svc.cli("import", str(workdir / "history"), "--lang", "en")
        svc.start()
        reg = svc.call("GET", "/v1/indicators", ptok)
        check_registry(reg)
        for t in range(imported, len(world.months)):
            counted = t >= args.history
            if policy == "forced" and t > imported:
                force_model(svc, log, args.train_param)
            month = run_month(svc, ptok, world, t, args, out if counted else _uncounted(out), log)
            if counted:
                out["months"].append(month)
            else:
                out.setdefault("history_months", []).append(month)
        out["model"] = svc.call("GET", "/v1/model?limit=20", ptok)
    finally:
        svc.stop()
        if not args.keep and sys.exc_info()[0] is None:
            shutil.rmtree(workdir, ignore_errors=True)
    out["seconds"] = round(time.monotonic() - t0, 1)
    return out


def force_model(svc, log, params=()):
    """The `forced` policy: an administrator who trains a model before each month and activates it
    whatever `model promote` judges (`--force`): what the model itself ranks, without its guard;
    ``params``: the model's parameters (`model train --param NAME=VALUE`)."""
    try:
        svc.cli("model", "train", "--lang", "en", *(a for p in params for a in ("--param", p)))
    except ServiceError as e:  # nothing to learn yet: the prior stays
        log(f"  (model train: {str(e).splitlines()[-1][:160]})")
        return
    try:
        svc.cli("model", "promote", "--force", "--refit", "--lang", "en")
    except ServiceError as e:
        log(f"  (model promote: {str(e).splitlines()[-1][:160]})")
        return
    time.sleep(6)  # a running service looks at its model file every 5 s


def _uncounted(out):
    """A run's record for a history month: the same fields, thrown away after the month's log line."""
    return {"policy": out["policy"] + "/h", "decisions": out.setdefault("decisions", []),
            "sums": dict.fromkeys(SUMS, 0.0), "weaknesses": 0, "first_kinds": {},
            "oracle_kinds": {}, "not_suitable": 0, "empty_lists": 0}


def check_registry(reg):
    """The world sends the reported indicators the docs list; say so if the service's registry differs."""
    text = json.dumps(reg)
    missing = [k for k in BRANCH_IND + MEMBER_IND if f'"{k}"' not in text]
    if missing:
        note("registry", detail=f"indicators the world sends but /v1/indicators does not name: {missing}")


def run_month(svc, ptok, world, t, args, out, log):
    period, tm = world.months[t], time.monotonic()
    branches, members = world.metrics(t)
    put = svc.call("PUT", f"/v1/periods/{period}/metrics", ptok, {"branches": branches, "members": members})
    for w in put.get("warnings") or []:
        note("metrics warning", period=period, warning=w)
    job = svc.call("POST", "/v1/diagnoses", ptok, {"period": period})
    job = follow_job(svc, ptok, job, args.month_timeout)
    model = (job.get("result") or {}).get("model") or {}
    month = {"period": period, "model": model.get("state"), "model_reason": model.get("reason"),
             "sums": dict.fromkeys(SUMS, 0.0), "weaknesses": 0, "weak_branches": 0, "adopted": 0, "feedback": 0}
    rankers = set()
    weak = weak_branches(svc, ptok, period)
    for b, bid in enumerate(world.ids):
        if not weak.get(bid):
            continue
        month["weak_branches"] += 1
        pl = svc.call("POST", "/v1/prescriptions", ptok, {"branch_id": bid, "period": period})
        rankers.add(pl.get("ranker"))
        for topic in weak[bid]:
            items = [p for p in pl["prescriptions"] if p["topic"] == topic]
            score_weakness(world, t, b, topic, items, month, out)
            choice = world.secretary(t, b, topic, len(items))
            if args.decisions and items:
                out.setdefault("decisions", []).append({
                    "period": period, "branch_id": bid, "topic": topic, "rule": items[0].get("rule"),
                    "first": items[0]["resource_id"], "value_first": world.value(t, b, items[0]["resource_id"], topic),
                    "effect_first": world.effect(t, b, items[0]["resource_id"], topic),
                    "oracle": world.baselines(t, b, topic)[2], "answers": bool(world.answers[b]),
                    "adopted": None if choice is None else items[choice]["resource_id"],
                    "effect_adopted": None if choice is None else world.effect(t, b, items[choice]["resource_id"], topic)})
            if choice is not None:
                month["adopted"] += 1
                world.adopt(t, b, items[choice]["resource_id"], topic, items[choice].get("rule"))
            if world.answers[b] and items:
                answers = [(0, "declined")] if choice is None else [(0, "declined")] * (choice == 1) + [(choice, "adopted")]
                for i, status in answers:
                    svc.call("POST", f"/v1/prescriptions/{items[i]['prescription_id']}/feedback", ptok,
                             {"status": status})
                    month["feedback"] += 1
    month["rankers"] = sorted(str(r) for r in rankers)
    month["seconds"] = round(time.monotonic() - tm, 1)
    for k in SUMS:
        out["sums"][k] += month["sums"][k]
    out["weaknesses"] += month["weaknesses"]
    s = month["sums"]
    log(f"  {period} {out['policy']:8s} weak branches {month['weak_branches']:3d}/{len(world.ids)} "
        f"weaknesses {month['weaknesses']:3d} first/oracle {ratio(s['first'], s['oracle']):.3f} "
        f"shown/oracle {ratio(s['shown'], s['oracle']):.3f} random/oracle {ratio(s['random'], s['oracle']):.3f} "
        f"model {month['model']} ranker {month['rankers']} ({month['seconds']} s)")
    return month


def weak_branches(svc, ptok, period, page=1000):
    """Branch id -> its weaknesses (topics, as its diagnosis has them), from the month's lamps: one call a
    thousand branches instead of one diagnosis GET a branch (the outsider's first driver made those)."""
    weak, offset = {}, 0
    for _ in range(1000):  # bounded: a million branches
        got = svc.call("GET", f"/v1/lamps?period={period}&subject=branch&weaknesses=true&limit={page}"
                              f"&offset={offset}", ptok)
        weak.update({item["id"]: item.get("weaknesses") or [] for item in got["lamps"]})
        offset += page
        if offset >= got["total"]:
            break
    return weak


def score_weakness(world, t, b, topic, items, month, out):
    rnd, bk, orc = world.baselines(t, b, topic)
    if not items:
        out["empty_lists"] += 1
        note("empty list", branch=world.ids[b], period=world.months[t], topic=topic)
        first = shown = 0.0
    else:
        vals = [world.value(t, b, p["resource_id"], topic) for p in items]
        first, shown = vals[0], max(vals)
        rid = items[0]["resource_id"]
        if rid not in world.suitable(b, topic):
            out["not_suitable"] += 1
            note("unsuitable first item", branch=world.ids[b], type=world.type[b], street=world.street[b],
                 topic=topic, resource=rid)
        kind = items[0]["kind"]
        out["first_kinds"][kind] = out["first_kinds"].get(kind, 0) + 1
    suit = world.suitable(b, topic)
    if suit:
        best = max(suit, key=lambda r: world.value(t, b, r, topic))
        kind = world.res[best]["kind"]
        out["oracle_kinds"][kind] = out["oracle_kinds"].get(kind, 0) + 1
    month["weaknesses"] += 1
    for k, v in zip(SUMS, (first, shown, rnd, bk, orc), strict=True):
        month["sums"][k] += v


def ratio(a, b):
    return a / b if b else float("nan")


def figures(run):
    s = run["sums"]
    return {"first/oracle": ratio(s["first"], s["oracle"]), "shown/oracle": ratio(s["shown"], s["oracle"]),
            "random/oracle": ratio(s["random"], s["oracle"]), "best-kind/oracle": ratio(s["bestkind"], s["oracle"]),
            "first/best-shown": ratio(s["first"], s["shown"])}


def interval(xs):
    xs = [x for x in xs if not math.isnan(x)]
    if not xs:
        return float("nan"), float("nan")
    m = float(np.mean(xs))
    if len(xs) < 2:
        return m, float("nan")
    return m, T975.get(len(xs) - 1, 1.96) * float(np.std(xs, ddof=1)) / math.sqrt(len(xs))


def report(results, policies, log):
    cols = [f"{p}/oracle" for p in policies] + ["random/oracle", "best-kind/oracle"] + \
        [f"{p}/best-shown" for p in policies] + ["weaknesses", "minutes"]
    log("\n" + "seed  " + "  ".join(f"{c:>17s}" for c in cols))
    rows = {}
    for seed, runs in sorted(results.items()):
        f = {p: figures(runs[p]) for p in policies if p in runs}
        if not f:
            continue
        base = runs[policies[0]] if policies[0] in runs else next(iter(runs.values()))
        fb = figures(base)
        row = [f[p]["first/oracle"] if p in f else float("nan") for p in policies]
        row += [fb["random/oracle"], fb["best-kind/oracle"]]
        row += [f[p]["first/best-shown"] if p in f else float("nan") for p in policies]
        row += [base["weaknesses"], sum(r["seconds"] for r in runs.values()) / 60]
        rows[seed] = row
        log(f"{seed:4d}  " + "  ".join(f"{x:17.3f}" for x in row))
    if rows:
        means = [interval([r[i] for r in rows.values()]) for i in range(len(cols))]
        log("mean  " + "  ".join(f"{m:9.3f} ±{h:6.3f}" for m, h in means))
    return cols, rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3, help="runs seeds 1..N (default 3)")
    ap.add_argument("--branches", type=int, default=200)
    ap.add_argument("--history", type=int, default=6, help="months served (not counted) before the counted ones (default 6)")
    ap.add_argument("--history-imported", action="store_true",
                    help="import the history months instead of serving them (no list, no answer before the counted months)")
    ap.add_argument("--months", type=int, default=6, help="months served and scored (default 6)")
    ap.add_argument("--end", default="2025-12", help="the last scored month (default 2025-12)")
    ap.add_argument("--policies", default="learned,prior", help="learned, prior, prior0, forced (comma-separated)")
    ap.add_argument("--month-timeout", type=float, default=300, help="seconds a month's job may take")
    ap.add_argument("--workdir", default="/tmp/outsider/runs")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--decisions", help="write every weakness's true values and what was adopted to this file "
                                        "(JSON lines: to set the service's measured outcomes beside the truth)")
    ap.add_argument("--train-param", action="append", default=[], metavar="NAME=VALUE",
                    help="the forced policy's model parameters (`model train --param`, repeatable): a variant of "
                         "the model without its promotion gate")
    ap.add_argument("--keep", action="store_true", help="keep each run's directory (database, logs)")
    args = ap.parse_args(argv)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    if any(p not in ("learned", "prior", "prior0", "forced") for p in policies) or not 1 <= args.history + args.months <= 60:
        ap.error("policies are learned, prior, prior0, forced; history + months between 1 and 60")

    def log(msg):
        print(msg, flush=True)

    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    catalog = [json.loads(line) for line in
               subprocess.run([CLI, "catalog", "list", "--json"], capture_output=True, text=True,
                              check=True).stdout.splitlines() if line.strip()]
    log(f"outsider world: {args.branches} branches, {args.history}+{args.months} months, "
        f"{len(catalog)} resources, policies {policies}, seeds 1..{args.seeds}")
    results, t0, error = {}, time.monotonic(), None
    try:
        for seed in range(1, args.seeds + 1):
            for policy in policies:
                log(f"seed {seed} {policy}")
                run = run_policy(seed, policy, args, catalog, log)
                results.setdefault(seed, {})[policy] = run
                f = figures(run)
                log(f"  seed {seed} {policy}: " + ", ".join(f"{k} {v:.3f}" for k, v in f.items()) +
                    f"; {run['weaknesses']} weaknesses; {run['seconds'] / 60:.1f} min; first kinds "
                    f"{run['first_kinds']}; oracle kinds {run['oracle_kinds']}")
    except (ServiceError, KeyboardInterrupt) as e:
        error = f"{type(e).__name__}: {e}"
        log("stopped: " + error)
    cols, rows = report(results, policies, log)
    total = time.monotonic() - t0
    log(f"run time {total / 60:.1f} min")
    if PROBLEMS:
        log("oddities met: " + json.dumps(PROBLEMS, ensure_ascii=False, indent=1)[:6000])
    if args.decisions:
        with open(args.decisions, "w", encoding="utf-8") as f:
            for seed, runs in sorted(results.items()):
                for policy, run in runs.items():
                    for d in run.pop("decisions", []):
                        f.write(json.dumps({"seed": seed, "policy": policy, **d}, ensure_ascii=False) + "\n")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"args": vars(args), "kind_type": KIND_TYPE, "columns": cols, "rows": rows, "runs": results,
             "problems": PROBLEMS, "seconds": round(total, 1), "error": error}, ensure_ascii=False, indent=1,
            default=float))
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
