"""Benchmark: how far a cross-fitted comparison's estimates are from the truth, block by block.

`model promote --cross-fit` (docs/effectiveness.md) judges a first candidate's recipe on every month:
its held-out months ranked by the candidate, each block of its training months by the recipe fitted on
the other months. Months on both sides of a block train its fold, and outcome windows (a baseline of
the 3 months before a decision, the 3 after it) share metric months with the block's: does that
flatter the recipe? For each world and seed, a 200-branch district is served by the exploring prior
(the log a first candidate is judged on) and, after 6 and after 7 months, each block's SNIPS estimate
of the difference from the prior is set against the truth the simulator knows: each decision's
expected worth (adoption x effect) under the ranking's distribution, less the prior's. Three kinds of
block: the held-out months ranked by the candidate (the baseline: what `model promote` has always
done), the folds as `--cross-fit` fits them, and the same folds fitted without ``--gap`` months on
each side of the block as well (purged of the months whose windows overlap most). Printed: each kind's
mean error (estimate - truth), its standard deviation and standard error, and the folds' error paired
with their purged twins'. Worlds whose truth changes with what was adopted (fading, all) are left out:
their worth depends on the order of adoptions.

    python benchmarks/bench_cross_fit_truth.py [--worlds project,kindtype] [--seeds 4] [--gap 1] [--jobs 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_worlds import pooled  # noqa: E402

from diagnosis_service.learning.ope import contexts, distribution, served_from_log  # noqa: E402
from diagnosis_service.learning.policy import LearnedRanker  # noqa: E402
from diagnosis_service.learning.rollout import compare, cross_fit_folds  # noqa: E402
from diagnosis_service.learning.train import fit, measurable  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.remedies.ranking import PriorRanker  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, run_loop  # noqa: E402

HOLDOUT = 2  # months, as `model train` holds out
EPSILON = 0.05  # the learned ranker's exploration, as the service's default


def one(job: tuple) -> list[dict]:
    world, seed, gap = job
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    result = run_loop(LoopSpec(policy="prior", months=1, history=7, seed=seed, branches=200, members=3000,
                               world=world), ruleset, catalog)
    log = result.log.drop(columns=[c for c in result.log.columns if c.startswith("truth_")])
    months, prior, rows = sorted(set(log["period"])), PriorRanker(), []

    def ranker(outcomes):
        return LearnedRanker(fit(outcomes.reset_index(drop=True), catalog).model, EPSILON, name="learned")

    for upto in months[5:7]:
        seen = log[log["period"] <= upto].reset_index(drop=True)
        outcomes = measurable(seen, result.branch_metrics[result.branch_metrics["period"] <= upto], ruleset)
        with_outcomes = sorted(set(outcomes["period"]))
        trained_to = with_outcomes[-HOLDOUT - 1]
        served = served_from_log(seen)
        parts = [("held-out", (outcomes["period"] > trained_to).to_numpy(),
                  ranker(outcomes[outcomes["period"] <= trained_to]))]
        for mask, fold in cross_fit_folds(outcomes, trained_to, HOLDOUT, ranker):
            block = sorted(set(outcomes.loc[mask, "period"]))
            parts.append(("fold", mask, fold))
            first, last = with_outcomes.index(block[0]), with_outcomes.index(block[-1])
            near = with_outcomes[max(0, first - gap):last + gap + 1]
            kept = ~outcomes["period"].isin(near).to_numpy()
            if kept.any():
                parts.append(("purged fold", mask, ranker(outcomes[kept])))
        replayed = list(contexts(outcomes, ruleset, served))
        for number, (kind, mask, target) in enumerate(parts):
            estimate = compare(outcomes[mask].reset_index(drop=True), catalog, ruleset, target, prior, served=served)
            truth = [sum(p * result.truth.value(a, need) for a, p in distribution(catalog, target, need, recent).items())
                     - sum(p * result.truth.value(a, need) for a, p in distribution(catalog, prior, need, recent).items())
                     for i, need, recent in replayed if mask[i]]
            rows.append({"world": world, "seed": seed, "upto": upto, "part": number, "kind": kind,
                         "months": sorted(set(outcomes.loc[mask, "period"])), "decisions": estimate.decisions,
                         "estimate": estimate.difference, "truth": statistics.fmean(truth),
                         "effective_sample": estimate.effective_sample["candidate"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", default="project,kindtype")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--gap", type=int, default=1, help="months left out on each side of a purged fold's block")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rows = [r for rs in pooled(one, [(w, s, args.gap) for w in args.worlds.split(",") for s in range(args.seeds)],
                               args.jobs) for r in rs]
    print(f"{args.worlds}, {args.seeds} seeds, blocks of {HOLDOUT} months, purged folds without {args.gap} month(s) "
          f"on each side\n")
    print(f"{'block ranked by':<28} {'blocks':>6} {'decisions':>9} {'ESS':>5} {'truth':>7} {'error':>7} {'sd':>6} "
          f"{'se':>6}  errors (estimate - truth)")
    for kind in ("held-out", "fold", "purged fold"):
        mine = [r for r in rows if r["kind"] == kind]
        errors = [r["estimate"] - r["truth"] for r in mine]
        sd = statistics.stdev(errors) if len(errors) > 1 else math.nan
        label = {"held-out": "the candidate (held-out)", "fold": "a fold (--cross-fit)",
                 "purged fold": f"a fold purged of ±{args.gap} month(s)"}[kind]
        print(f"{label:<28} {len(mine):>6} {statistics.fmean(r['decisions'] for r in mine):>9.0f} "
              f"{statistics.fmean(r['effective_sample'] for r in mine):>5.0f} "
              f"{statistics.fmean(r['truth'] for r in mine):>+7.3f} {statistics.fmean(errors):>+7.3f} {sd:>6.3f} "
              f"{sd / math.sqrt(len(errors)):>6.3f}  from {min(errors):+.2f} to {max(errors):+.2f}")
    key = {(r["world"], r["seed"], r["upto"], tuple(r["months"])): r for r in rows if r["kind"] == "purged fold"}
    paired = [(r["estimate"] - r["truth"]) - (twin["estimate"] - twin["truth"])
              for r in rows if r["kind"] == "fold"
              for twin in [key.get((r["world"], r["seed"], r["upto"], tuple(r["months"])))] if twin]
    if len(paired) > 1:
        sd = statistics.stdev(paired)
        print(f"\nfold minus its purged twin, paired ({len(paired)} blocks): error {statistics.fmean(paired):+.3f}, "
              f"se {sd / math.sqrt(len(paired)):.3f}")
    print(f"truth positive in {sum(r['truth'] > 0 for r in rows)} of {len(rows)} blocks; estimate positive in "
          f"{sum(r['estimate'] > 0 for r in rows)}")


if __name__ == "__main__":
    main()
