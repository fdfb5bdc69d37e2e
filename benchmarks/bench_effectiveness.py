"""Benchmark: the effectiveness model in the closed-loop simulation, every policy side by side.

In one run:
1. for each seed, every policy (learned, prior, popularity, random, oracle) over the same simulated
   months (after the same history months served by the exploring prior): total true improvement,
   weaknesses resolved; means with 95% intervals over seeds; learned / oracle (target >= 0.85) and the
   learned policy's margin over the others (paired by seed, with 95% intervals);
2. off-policy evaluation: from the history months' log of each of ``--ope-seeds`` seeds on a district
   of ``--ope-branches`` (default: the default district; the exploring prior's log, with its logged
   probabilities), IPS and SNIPS estimates of other policies' value against their true value on the
   same decisions (target: within 10%), and whether each 95% interval covers the truth;
3. training on a year of the default district's logs (target < 60 s), in memory and as `model train`
   does it from an SQLite store, and ranking one branch's prescriptions with the trained model
   (target p99 < 20 ms);
4. docs/effectiveness_cumulative.png: cumulative true improvement per policy, month by month.

    python benchmarks/bench_effectiveness.py [--seeds 3] [--branches 1000] [--members 17000] [--jobs 2]
                                             [--ope-seeds 3] [--ope-branches 2654] [--ope-members 47411]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_diagnose import calibration  # noqa: E402

from diagnosis_service.learning import train  # noqa: E402
from diagnosis_service.learning.ope import contexts, distribution, estimate, rewards, served_from_log  # noqa: E402
from diagnosis_service.learning.policy import LearnedRanker, RandomRanker  # noqa: E402
from diagnosis_service.pipeline.month import diagnose_month  # noqa: E402
from diagnosis_service.pipeline.snapshot import Snapshot  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.remedies.ranking import PriorRanker  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.adjust import Adjuster  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, catalog_at, run_loop, train_from_log  # noqa: E402

POLICIES = ("learned", "prior", "popularity", "random", "oracle")
RATIO_TARGET, OPE_TOLERANCE, TRAIN_TARGET, RANK_TARGET_MS = 0.85, 0.10, 60.0, 20.0


def setup():
    ruleset = load_ruleset(REPO / "rules")
    return ruleset, load_catalog(REPO / "resources_catalog", ruleset.registry)


def one_run(args: tuple) -> dict:
    policy, seed, branches, members, months = args
    ruleset, catalog = setup()
    start = time.perf_counter()
    result = run_loop(LoopSpec(policy=policy, seed=seed, branches=branches, members=members, months=months),
                      ruleset, catalog)
    out = result.summary()
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and a 95% interval (t distribution over seeds)."""
    arr = np.asarray(values, dtype=float)
    if len(arr) < 2:
        return float(arr.mean()), float("nan"), float("nan")
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36}.get(len(arr), 2.0)
    half = t * arr.std(ddof=1) / np.sqrt(len(arr))
    return float(arr.mean()), float(arr.mean() - half), float(arr.mean() + half)


def ope_check(seed: int, branches: int, members: int) -> list[dict]:
    """Estimate target policies' values from the exploring prior's history log; compare with the truth."""
    ruleset, catalog = setup()
    spec = LoopSpec(policy="prior", seed=seed, branches=branches, members=members, months=1)
    result = run_loop(spec, ruleset, catalog)
    log = result.log[result.log["period"] < result.log["period"].max()].reset_index(drop=True)  # history months
    outcomes = train.measurable(log, result.branch_metrics, ruleset)
    served = served_from_log(log)
    # True values are realized changes against the district without remedies (the logged decision's own
    # remedy is not yet in it at decision time).
    untouched = Adjuster(result.base_metrics, ruleset.registry)
    truth = result.truth
    history_catalog = catalog_at(catalog, truth, -1, spec.months)
    reward = rewards(outcomes)
    propensity = outcomes["propensity"].to_numpy(dtype=float)
    # The greedy learned policy is cross-fitted: trained on one half of the months, evaluated on the
    # other, and the other way round (evaluating a model on the data it was fitted to would flatter it).
    periods = sorted(set(outcomes["period"]))
    half = periods[len(periods) // 2]
    first = (outcomes["period"] < half).to_numpy()
    models = {fold: train_from_log(log[(log["period"] < half) != fold], result.branch_metrics, ruleset, catalog)
              for fold in (True, False)}
    targets = {"prior": lambda _fold: PriorRanker(), "random": lambda _fold: RandomRanker(),
               "greedy-learned": lambda fold: LearnedRanker(models[fold], epsilon=0.0, thompson=False)}
    # Among the candidates the logged choice was made among (the repeat filter's, from what was served):
    # replayed once, for every policy and fold.
    replayed = list(contexts(outcomes, ruleset, served))
    logged = outcomes["resource_id"].to_numpy()
    out = []
    for name, make in targets.items():
        target_p, true_v = np.zeros(len(outcomes)), np.zeros(len(outcomes))
        rankers = {fold: make(fold) for fold in (True, False)}
        for i, need, recent in replayed:
            probs = distribution(history_catalog, rankers[bool(first[i])], need, recent)
            target_p[i] = probs.get(logged[i], 0.0)
            true_v[i] = sum(p * truth.true_value(rid, need, untouched) for rid, p in probs.items())
        est = estimate(name, reward, propensity, target_p, boot=300)
        value = float(true_v.mean())
        covered = est.snips_ci[0] <= value <= est.snips_ci[1]
        out.append({**est.as_dict(), "true_value": round(value, 5), "snips_ci_covers_truth": covered,
                    "snips_error": round(abs(est.snips - value) / abs(value), 4) if value else None,
                    "ips_error": round(abs(est.ips - value) / abs(value), 4) if value else None})
    return out


def training_and_latency(seed: int) -> dict:
    """A year of the default district's logs (the exploring prior), then training and ranking."""
    ruleset, catalog = setup()
    result = run_loop(LoopSpec(policy="prior", seed=seed, months=1), ruleset, catalog)
    start = time.perf_counter()
    measurable = train.measurable(result.log, result.branch_metrics, ruleset)
    trained = train.fit(measurable, catalog)
    X, model = trained.X, trained.model
    train_s = time.perf_counter() - start
    ranker = LearnedRanker(model, topic_names={t: (n.name_zh, n.name_en) for t, n in ruleset.registry.topics.items()})
    snapshot = Snapshot(ruleset, catalog, ranker)
    prescriber = snapshot.prescriber()
    period = result.log["period"].max()
    ds = result.dataset
    diag = diagnose_month(ds, snapshot, period)
    streets = ds.branches["street"].to_dict()
    weak = [b for b in diag.branches if b.weaknesses][:1000]
    times = []
    for b in weak:
        t = time.perf_counter()
        prescriber.for_branch(b, streets.get(b.id), None, 30)
        times.append((time.perf_counter() - t) * 1000)
    return {"rows": int(len(X)), "periods": int(measurable["period"].nunique()), "train_seconds": round(train_s, 2),
            "rank_ms_median": round(float(np.median(times)), 2), "rank_ms_p99": round(float(np.percentile(times, 99)), 2),
            "branches_ranked": len(times), "weaknesses_per_branch": round(float(np.mean([len(b.weaknesses) for b in weak])), 2),
            **store_training(result, ruleset, catalog)}


def store_training(result, ruleset, catalog) -> dict:
    """What `model train` does in production: the same year of logs written to an SQLite store (each
    list with three items per weakness, feedback where the secretary answered), then read back as
    decisions, outcomes computed and the model fitted."""
    import tempfile

    from diagnosis_service.pipeline import training
    from diagnosis_service.pipeline.ingest import store_dataset
    from diagnosis_service.store import make_engine, served
    from diagnosis_service.store.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/store.db")
        upgrade(engine)
        with engine.begin() as conn:
            store_dataset(conn, result.dataset, "bench")
            for (branch_id, period), rows in result.log.groupby(["branch_id", "period"], sort=True):
                items = [{"topic": r.topic, "rule": r.rule, "resource_id": r.resource_id if k == 0 else f"{r.resource_id}.{k}",
                          "kind": r.kind, "score": 1.0, "propensity": r.propensity,
                          "body": {"need": {"indicator": r.indicator, "value": r.value, "reference": r.reference,
                                            "members": int(r.members)}}}
                         for r in rows.itertuples() for k in range(3)]
                _, ids = served.log_list(conn, branch_id, period, "prior", "api", "bench", items)
                for j, r in enumerate(rows.itertuples()):
                    if r.status != "ignored":
                        served.add_feedback(conn, ids[3 * j], r.status, None, "bench")
        start = time.perf_counter()
        log, metrics = training.from_store(engine, ruleset)
        read_s = time.perf_counter() - start
        train.fit(train.measurable(log, metrics, ruleset), catalog)
        total_s = time.perf_counter() - start
        engine.dispose()
    return {"store_decisions": len(log), "store_read_seconds": round(read_s, 2), "store_train_seconds": round(total_s, 2)}


def plot(runs: list[dict], months: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=120)
    x = np.arange(1, months + 1)
    colours = {"oracle": "#555555", "learned": "#c62828", "prior": "#1565c0", "popularity": "#f9a825",
               "random": "#7cb342"}
    for policy in ("oracle", "learned", "prior", "popularity", "random"):
        curves = np.array([r["cumulative"] for r in runs if r["policy"] == policy])
        if not len(curves):
            continue
        mean = curves.mean(axis=0)
        ax.plot(x, mean, label=policy, color=colours[policy], linewidth=2 if policy == "learned" else 1.5)
        if len(curves) > 1:
            ax.fill_between(x, curves.min(axis=0), curves.max(axis=0), color=colours[policy], alpha=0.15)
    ax.set_xlabel("month of the closed loop")
    ax.set_ylabel("cumulative true improvement\n(shares of the gap to the norm closed)")
    ax.set_title(f"Closed loop: cumulative true improvement per policy ({len({r['seed'] for r in runs})} seeds)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--branches", type=int, default=1000)
    parser.add_argument("--members", type=int, default=17000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "effectiveness_cumulative.png")
    parser.add_argument("--ope-seeds", type=int, default=3)
    parser.add_argument("--ope-branches", type=int, default=LoopSpec().branches)
    parser.add_argument("--ope-members", type=int, default=LoopSpec().members)
    parser.add_argument("--skip-scale", action="store_true", help="skip training/latency on the default district")
    args = parser.parse_args()
    calib = calibration()
    tasks = [(p, s, args.branches, args.members, args.months) for s in range(args.seeds) for p in POLICIES]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(one_run, tasks))
        ope_futures = [pool.submit(ope_check, s, args.ope_branches, args.ope_members) for s in range(args.ope_seeds)]
        scale_future = None if args.skip_scale else pool.submit(training_and_latency, 0)
        ope = [{"seed": s, **e} for s, f in enumerate(ope_futures) for e in f.result()]
        scale = scale_future.result() if scale_future else None
    by = {p: [r for r in runs if r["policy"] == p] for p in POLICIES}
    print(f"closed loop: {args.branches} branches, {args.members} members, {args.months} months after "
          f"{LoopSpec().history} months of history, seeds 0..{args.seeds - 1}")
    print(f"{'policy':12s} {'true improvement (mean, 95% CI)':36s} {'weaknesses resolved':>20s} {'adopted':>9s}")
    for p in POLICIES:
        m, lo, hi = ci([r["true_improvement"] for r in by[p]])
        res = statistics.mean(r["weaknesses_resolved"] for r in by[p])
        adopted = statistics.mean(r["adopted"] for r in by[p])
        print(f"{p:12s} {m:10.1f} [{lo:9.1f}, {hi:9.1f}]          {res:18.0f} {adopted:9.0f}")
    ratios = [a["true_improvement"] / o["true_improvement"] for a, o in zip(by["learned"], by["oracle"], strict=True)]
    m, lo, hi = ci(ratios)
    print(f"\nlearned / oracle: {m:.3f} [{lo:.3f}, {hi:.3f}] per seed {[round(x, 3) for x in ratios]} "
          f"(target >= {RATIO_TARGET}: {'met' if m >= RATIO_TARGET else 'MISSED'})")
    for other in ("prior", "popularity", "random"):
        diffs = [a["true_improvement"] - o["true_improvement"] for a, o in zip(by["learned"], by[other], strict=True)]
        rel = [a["true_improvement"] / o["true_improvement"] for a, o in zip(by["learned"], by[other], strict=True)]
        m, lo, hi = ci(diffs)
        print(f"learned - {other:10s}: {m:+9.1f} [{lo:+9.1f}, {hi:+9.1f}]  (learned = {statistics.mean(rel):.2f}x)")
    print(f"\noff-policy evaluation from the history log (logging policy: the exploring prior; "
          f"{args.ope_branches} branches)")
    for e in ope:
        ok = e["snips_error"] is not None and e["snips_error"] <= OPE_TOLERANCE
        print(f"  seed {e['seed']} {e['policy']:15s} true {e['true_value']:.4f}   IPS {e['ips']:.4f} "
              f"[{e['ips_ci95'][0]:.4f}, {e['ips_ci95'][1]:.4f}] (error {e['ips_error']:.1%})   SNIPS {e['snips']:.4f} "
              f"[{e['snips_ci95'][0]:.4f}, {e['snips_ci95'][1]:.4f}] (error {e['snips_error']:.1%}, "
              f"{'within' if ok else 'OUTSIDE'} {OPE_TOLERANCE:.0%}; interval "
              f"{'covers' if e['snips_ci_covers_truth'] else 'misses'} the truth)   "
              f"effective sample {e['effective_sample_size']:.0f} of {e['decisions']}")
    within = sum(e["snips_error"] is not None and e["snips_error"] <= OPE_TOLERANCE for e in ope)
    covered = sum(bool(e["snips_ci_covers_truth"]) for e in ope)
    errors = [e["snips_error"] for e in ope if e["snips_error"] is not None]
    print(f"  SNIPS within {OPE_TOLERANCE:.0%} of the truth: {within} of {len(ope)} (largest error "
          f"{max(errors, default=float('nan')):.1%}); 95% intervals covering the truth: {covered} of {len(ope)}")
    if scale:
        print(f"\ntraining on a year of the default district's logs: {scale['rows']} lists, {scale['periods']} months "
              f"with outcomes, {scale['train_seconds']:.1f} s (target < {TRAIN_TARGET:.0f} s: "
              f"{'met' if scale['train_seconds'] < TRAIN_TARGET else 'MISSED'})")
        print(f"the same as `model train` does it, from an SQLite store ({scale['store_decisions']} decisions): "
              f"{scale['store_train_seconds']:.1f} s, of which reading the store {scale['store_read_seconds']:.1f} s "
              f"(target < {TRAIN_TARGET:.0f} s: {'met' if scale['store_train_seconds'] < TRAIN_TARGET else 'MISSED'})")
        print(f"ranking one branch's prescriptions with the model ({scale['branches_ranked']} branches, "
              f"{scale['weaknesses_per_branch']} weaknesses each): median {scale['rank_ms_median']} ms, "
              f"p99 {scale['rank_ms_p99']} ms (target < {RANK_TARGET_MS:.0f} ms: "
              f"{'met' if scale['rank_ms_p99'] < RANK_TARGET_MS else 'MISSED'})")
    plot(runs, args.months, args.plot)
    print(f"\nplot: {args.plot}")
    print(f"calibration loop: {calib:.2f} s (about 0.2 s on a quiet host)")
    print("json: " + json.dumps({"runs": [{k: v for k, v in r.items() if k != "cumulative"} for r in runs],
                                 "ope": ope, "scale": scale}))


if __name__ == "__main__":
    main()
