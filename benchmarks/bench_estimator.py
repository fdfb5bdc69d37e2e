"""Benchmark: effectiveness-model variants judged on fixed logs (the estimator alone, without the loop's noise).

A closed loop's figure mixes two things: how well a model ranks, and which lists it happened to make
(each variant's loop serves different lists, sees different outcomes; between two runs of a loop
±0.03 of the oracle is noise). Here one learned loop per world and seed is run once with the default
model and its log kept; then each variant of the model (``EffectivenessModel`` parameters) is fitted
month by month on that log, as the loop retrains, and judged on the same lists: for every list of a
counted month, the true worth (the truth's adoption x effect, no draws) of the item the variant
would put first, as a share of the best item the list showed. Repeats are not penalised in the
truth's worth here (the fading world's repeat factor needs the loop's state).

    python benchmarks/bench_estimator.py [--worlds project,fading,all] [--seeds 2] [--branches 200]
                                         [--members 3000] [--history 6] [--months 6]
                                         [--variant ridge_alpha=1] [--variant ridge_alpha=4 ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_worlds import loop_arguments, pooled, summary  # noqa: E402

from diagnosis_service.errors import InputError  # noqa: E402
from diagnosis_service.learning.estimator import EffectivenessModel  # noqa: E402
from diagnosis_service.learning.features import Row, on_site_flags, weakness_months  # noqa: E402
from diagnosis_service.learning.params import parse_params  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, run_loop, train_from_log  # noqa: E402

DEFAULT_VARIANTS = ("ridge_alpha=1", "ridge_alpha=4", "adoption_strength=5", "adoption_strength=20")


def variant(text: str) -> dict[str, object]:
    """``name=value[,name=value]`` of EffectivenessModel's parameters, as `model train --param` takes each
    (learning.params); ValueError saying what is wrong and what would be valid."""
    try:
        return parse_params([part for part in text.split(",") if part], option="--variant")
    except InputError as exc:
        raise ValueError(f"{text!r}: " + "; ".join(str(p) for p in exc.problems)) from None


def learned_loop(world: str, seed: int, branches: int, members: int, history: int, months: int):
    """(ruleset, catalog, loop result) of one learned loop with the default model: the fixed log that
    estimators are judged on (also by bench_ceiling.py)."""
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    return ruleset, catalog, run_loop(LoopSpec(policy="learned", seed=seed, branches=branches, members=members,
                                               months=months, history=history, world=world), ruleset, catalog)


def one(args: tuple) -> dict:
    world, seed, branches, members, history, months, variants = args
    start = time.perf_counter()
    ruleset, catalog, res = learned_loop(world, seed, branches, members, history, months)
    log, truth = res.log, res.truth
    by_id = {r.id: r for r in catalog.resources}
    counted = sorted(log["period"].unique())[-months:]
    log = log.assign(weakness_months=weakness_months(log))  # as the loop told the ranker (History.last_on_topic)
    shares: dict[str, list[float]] = {name: [] for name in variants}
    penalties: dict[str, list[float | None]] = {name: [] for name in variants}  # the log-link fit's, month by month
    for period in counted:
        before, lists = log[log["period"] < period], log[log["period"] == period]
        seen = res.branch_metrics[res.branch_metrics["period"] < period]  # the months measured by then
        models = {name: train_from_log(before, seen, ruleset, catalog, EffectivenessModel(**params))
                  for name, params in variants.items()}
        for name, model in models.items():
            penalties[name].append(getattr(model, "log_ridge_alpha_", None))
        for row in lists.itertuples(index=False):
            shown = row.shown.split()
            worth = np.array([truth.adoption(rid, row.branch_type) * truth.effect(
                rid, row.topic, row.branch_type, row.indicator, None, row.street) for rid in shown])
            if len(shown) < 2 or worth.max() <= 0:
                continue
            rows = [Row(rid, by_id[rid].kind, row.topic, by_id[rid].topics[0] == row.topic, row.branch_type,
                        row.street, float(row.members), abs(row.value - row.reference) / max(abs(row.reference), 1.0),
                        on_site=on_site_flags([by_id[rid]])[0], weakness_months=row.weakness_months)
                    for rid in shown]
            for name, model in models.items():
                if model is None:
                    continue
                effect, adoption = model.predict_rows(rows)
                shares[name].append(float(worth[int(np.argmax(np.array(adoption) * np.array(effect)))] / worth.max()))
    return {"world": world, "seed": seed, "lists": len(shares["default"]),
            "share": {name: float(np.mean(v)) if v else float("nan") for name, v in shares.items()},
            "log_ridge_alpha": penalties, "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    loop_arguments(parser, "project,fading,all", "estimator.json")
    parser.set_defaults(seeds=2)
    parser.add_argument("--variant", action="append", default=None,
                        help="EffectivenessModel parameters, e.g. ridge_alpha=4 or ridge_alpha=4,adoption_strength=5 "
                             f"(repeatable; default: {' '.join(DEFAULT_VARIANTS)})")
    args = parser.parse_args()
    try:
        variants = {"default": {}, **{text: variant(text) for text in (args.variant or DEFAULT_VARIANTS)}}
    except ValueError as exc:
        parser.error(str(exc))
    worlds = args.worlds.split(",")
    start = time.perf_counter()
    runs = pooled(one, [(w, s, args.branches, args.members, args.history, args.months, variants)
                        for w in worlds for s in range(args.seeds)], args.jobs)
    print(f"{len(runs)} fixed logs ({args.branches} branches, {args.history} months of history, {args.months} "
          f"counted, {args.seeds} seeds) in {time.perf_counter() - start:.0f} s; the first pick's worth as a share "
          f"of the best shown, and each variant minus the default (mean and 95% interval over the logs)\n")
    print(f"{'variant':<34} {'share of the best shown':>26} {'minus the default':>26} {'better in':>10}")
    table = []
    for name in variants:
        own = [r["share"][name] for r in runs]
        diff = [r["share"][name] - r["share"]["default"] for r in runs]
        (ot, ok), (dt, dk) = summary(own), summary(diff)
        better = sum(d > 0 for d in diff)
        print(f"{name:<34} {ot:>26} {dt if name != 'default' else '':>26} "
              f"{f'{better}/{len(runs)}' if name != 'default' else '':>10}")
        table.append({"variant": name, "params": variants[name], "share": ok, "minus_default": dk, "better": better})
    for w in worlds:
        print(f"  {w:<9} " + "  ".join(f"{name} {np.mean([r['share'][name] for r in runs if r['world'] == w]):.3f}"
                                      for name in variants))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"variants": table, "runs": runs}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
