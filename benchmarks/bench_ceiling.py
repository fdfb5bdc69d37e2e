"""Benchmark: how close to the best item each list showed can any estimator get from a district's data?

The effectiveness issue asks for learned >= 0.9 of the best shown; this measures whether the data allow
it. One learned loop per world and seed is run once with the default model (as bench_estimator); then,
for each counted month, estimators are fitted on the log of the months before it and judged on that
month's lists: the true worth (the truth's adoption x effect, no draws, repeats not penalised) of the
item each puts first, as a share of the best item the list showed (lists of fewer than 2 items, or
whose best is worth nothing, are skipped). The rankers:

- ``model``: the default EffectivenessModel, trained as the loop retrains;
- ``model_true_adoption``: its effect prediction times the TRUE adoption probability;
- ``structured``: knows the truth's functional form and every parameter of it (topic fit, kind x
  branch type, street factor, adoption) EXCEPT each resource's own quality, which it estimates by a
  posterior mean: normal prior with the true mean and sd of the qualities; likelihood from the
  measured improvements (``measurable``, clipped as training clips them) of the ADOPTED lists before
  the month whose first item was the resource, y = scale x quality x known factors + noise, the scale
  the regression through the origin of y on the true effect and the noise variance that of its
  residuals; it ranks by true adoption x effect with the estimated quality;
- ``structured_true_prior``: the same likelihood, with the true distribution of the qualities as the
  prior (the catalog's qualities as equally likely atoms) instead of a normal one: the Bayes posterior
  mean under Gaussian noise, a ceiling for any estimator of quality from these outcomes;
- ``structured_no_data``: the same with every quality at the prior mean (what the known factors
  alone are worth);
- ``random``: the expected share of a uniformly chosen item (the floor).

Each ranker is also judged choosing from the whole pool the prescriber draws from (every active resource
that suits the need's topic, branch type and street), against the pool's best: a per-list view of the
loop's learned / oracle (the oracle picks the pool's best; the loop's ratio also counts repeats, fading
and adoption draws over the months). Where even ``structured_true_prior`` (the Bayes posterior mean, the
ceiling here) stays below 0.8 of the pool's best, the oracle target is out of reach at this much data for
any estimator of quality from these outcomes. ``pool_size`` is the mean size of the distinct pools (one
per topic, branch type and street met), ``pool_lists`` the lists judged on their pool.

Per world it also reports the measured adopted outcomes per resource (among resources with any), the
correlation of the structured estimate with the true quality (same resources), the noise sd and
scale of the measured improvements, and the sd of the true qualities (means over counted months). The
truth is read only here, never by ``diagnosis_service.learning``.

    python benchmarks/bench_ceiling.py [--worlds project,silent,fading,street,kindtype,all] [--seeds 3]
                                       [--branches 200] [--members 3000] [--history 6] [--months 6]
                                       [--jobs 2] [--json var/bench/ceiling.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_estimator import learned_loop  # noqa: E402
from bench_worlds import loop_arguments, pooled, summary  # noqa: E402

from diagnosis_service.learning.features import Row, on_site_flags, weakness_months  # noqa: E402
from diagnosis_service.learning.outcomes import CLIP  # noqa: E402
from diagnosis_service.learning.train import fit, measurable  # noqa: E402
from diagnosis_service.simulation.worlds import WORLDS  # noqa: E402

RANKERS = ("model", "model_true_adoption", "structured", "structured_true_prior", "structured_no_data", "random")
STATS = ("outcomes_per_resource", "resources_measured", "quality_correlation", "noise_sd", "quality_sd", "scale")


def structured_quality(outcomes, truth, unit, prior_mean: float, prior_sd: float,
                       atoms: np.ndarray) -> tuple[dict, dict, dict]:
    """Posterior mean quality of each resource with adopted measured outcomes (normal prior; and the
    empirical prior whose atoms are the catalog's true qualities), and the fit's figures.

    y_i = scale x q_r x g_i + noise, g_i the truth's known non-quality factors of list i (its effect
    with a quality of 1), y_i its measured improvement (clipped to [-CLIP, CLIP])."""
    adopted = outcomes[outcomes["adopted"].to_numpy(dtype=bool)]
    stats = {"outcomes_per_resource": float("nan"), "resources_measured": 0, "quality_correlation": float("nan"),
             "noise_sd": float("nan"), "scale": float("nan")}
    if adopted.empty:
        return {}, {}, stats
    rid = adopted["resource_id"].to_numpy()
    y = np.clip(adopted["improvement"].to_numpy(dtype=float), -CLIP, CLIP)
    g = np.array([unit.effect(r, t, b, i, None, s) for r, t, b, i, s in zip(
        rid, adopted["topic"], adopted["branch_type"], adopted["indicator"], adopted["street"], strict=True)])
    true_effect = np.array([truth.quality[r] for r in rid]) * g
    scale = float(y @ true_effect / (true_effect @ true_effect)) if true_effect @ true_effect > 0 else 1.0
    noise_var = float(np.sum((y - scale * true_effect) ** 2) / max(len(y) - 1, 1))
    x = scale * g  # y = q x + noise
    resources = sorted(set(rid))
    index = {r: k for k, r in enumerate(resources)}
    at = np.array([index[r] for r in rid])
    xx = np.bincount(at, weights=x * x, minlength=len(resources))
    xy = np.bincount(at, weights=x * y, minlength=len(resources))
    precision = 1.0 / prior_sd**2 + xx / noise_var
    posterior = (prior_mean / prior_sd**2 + xy / noise_var) / precision
    estimate = dict(zip(resources, posterior.tolist(), strict=True))
    # The same likelihood against the true distribution of qualities (atoms, equal weights): the
    # Bayes posterior mean under a Gaussian noise model, which ranks best in expectation.
    log_weight = (np.outer(xy, atoms) - 0.5 * np.outer(xx, atoms**2)) / noise_var
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    exact = dict(zip(resources, (weight @ atoms / weight.sum(axis=1)).tolist(), strict=True))
    true = np.array([truth.quality[r] for r in resources])
    varied = len(resources) > 2 and np.ptp(posterior) > 0 and np.ptp(true) > 0
    stats.update(outcomes_per_resource=len(y) / len(resources), resources_measured=len(resources),
                 quality_correlation=float(np.corrcoef(posterior, true)[0, 1]) if varied else float("nan"),
                 noise_sd=noise_var**0.5, scale=scale)
    return estimate, exact, stats


def one(args: tuple) -> dict:
    world, seed, branches, members, history, months = args
    start = time.perf_counter()
    ruleset, catalog, res = learned_loop(world, seed, branches, members, history, months)
    log, truth = res.log, res.truth
    by_id = {r.id: r for r in catalog.resources}
    unit = copy.copy(truth)  # the truth with every quality 1: its effect is the known non-quality factors
    unit.quality = dict.fromkeys(truth.quality, 1.0)
    qualities = np.array([truth.quality[r.id] for r in catalog.resources])
    prior_mean, prior_sd = float(qualities.mean()), float(qualities.std())
    counted = sorted(log["period"].unique())[-months:]
    log = log.assign(weakness_months=weakness_months(log))  # as the loop told the ranker (History.last_on_topic)
    shares: dict[str, list[float]] = {name: [] for name in RANKERS}
    pool_shares: dict[str, list[float]] = {name: [] for name in RANKERS}
    pools: dict[tuple, list[str]] = {}
    monthly: list[dict] = []
    for period in counted:
        before, lists = log[log["period"] < period], log[log["period"] == period]
        seen = res.branch_metrics[res.branch_metrics["period"] < period]  # the months measured by then
        outcomes = measurable(before, seen, ruleset)  # as train_from_log
        trained = fit(outcomes, catalog)
        model = None if trained is None else trained.model
        estimate, exact, stats = structured_quality(outcomes, truth, unit, prior_mean, prior_sd, qualities)
        monthly.append({"period": period, **stats})

        def judged(ids, row, model=model, estimate=estimate, exact=exact):
            """The true worth of each item, and each ranker's scores of them."""
            adoption = np.array([truth.adoption(rid, row.branch_type) for rid in ids])
            effect = np.array([truth.effect(rid, row.topic, row.branch_type, row.indicator, None, row.street)
                               for rid in ids])
            known = adoption * np.array([unit.effect(rid, row.topic, row.branch_type, row.indicator, None,
                                                     row.street) for rid in ids])
            scores = {"structured": known * np.array([estimate.get(rid, prior_mean) for rid in ids]),
                      "structured_true_prior": known * np.array([exact.get(rid, prior_mean) for rid in ids]),
                      "structured_no_data": known}
            if model is not None:
                rows = [Row(rid, by_id[rid].kind, row.topic, by_id[rid].topics[0] == row.topic, row.branch_type,
                            row.street, float(row.members),
                            abs(row.value - row.reference) / max(abs(row.reference), 1.0),
                            on_site=on_site_flags([by_id[rid]])[0], weakness_months=row.weakness_months) for rid in ids]
                model_effect, model_adoption = (np.array(v) for v in model.predict_rows(rows))
                scores["model"] = model_adoption * model_effect
                scores["model_true_adoption"] = adoption * model_effect
            return adoption * effect, scores

        for row in lists.itertuples(index=False):
            shown = row.shown.split()
            key = (row.topic, row.branch_type, row.street)
            if key not in pools:  # what the prescriber draws from: every active resource that suits the need
                pools[key] = [r.id for r in catalog.for_topic(row.topic) if r.active and r.suits(row.branch_type,
                                                                                                    row.street)]
            for ids, into in ((shown, shares), (pools[key], pool_shares)):
                worth, scores = judged(ids, row)
                if len(ids) < 2 or worth.max() <= 0:
                    continue
                for name, score in scores.items():
                    into[name].append(float(worth[int(np.argmax(score))] / worth.max()))
                into["random"].append(float(worth.mean() / worth.max()))
    return {"world": world, "seed": seed, "lists": len(shares["random"]),
            "share": {name: float(np.mean(v)) if v else float("nan") for name, v in shares.items()},
            "pool_share": {name: float(np.mean(v)) if v else float("nan") for name, v in pool_shares.items()},
            "pool_size": float(np.mean([len(v) for v in pools.values()])) if pools else float("nan"),
            "pool_lists": len(pool_shares["random"]),
            **{k: float(np.nanmean([m[k] for m in monthly])) for k in STATS if k != "quality_sd"},
            "quality_sd": prior_sd, "quality_mean": prior_mean, "monthly": monthly,
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    loop_arguments(parser, ",".join(WORLDS), "ceiling.json")
    args = parser.parse_args()
    worlds = args.worlds.split(",")
    start = time.perf_counter()
    runs = pooled(one, [(w, s, args.branches, args.members, args.history, args.months)
                        for w in worlds for s in range(args.seeds)], args.jobs)
    print(f"{len(runs)} fixed logs ({args.branches} branches, {args.history} months of history, {args.months} "
          f"counted, {args.seeds} seeds) in {time.perf_counter() - start:.0f} s; the first pick's true worth as a "
          f"share of the best shown (mean and 95% interval over seeds)\n")
    print(f"{'world':<9} " + " ".join(f"{name:>24}" for name in RANKERS))
    table = []
    for w in worlds:
        mine = [r for r in runs if r["world"] == w]
        cells = {name: summary([r["share"][name] for r in mine]) for name in RANKERS}
        print(f"{w:<9} " + " ".join(f"{cells[name][0]:>24}" for name in RANKERS))
        table.append({"world": w, "seeds": len(mine), "share": {name: cells[name][1] for name in RANKERS},
                      **{k: float(np.mean([r[k] for r in mine])) for k in STATS}})
    print("\nThe same rankers choosing from the whole pool (every active resource that suits the need, as the "
          "prescriber draws from): the first pick's true worth as a share of the pool's best (a per-list view of "
          "the loop's learned / oracle)\n")
    print(f"{'world':<9} " + " ".join(f"{name:>24}" for name in RANKERS) + f" {'pool size':>10}")  # the distinct pools' mean
    for t, w in zip(table, worlds, strict=True):
        mine = [r for r in runs if r["world"] == w]
        cells = {name: summary([r["pool_share"][name] for r in mine]) for name in RANKERS}
        t["pool_share"] = {name: cells[name][1] for name in RANKERS}
        t["pool_size"] = float(np.mean([r["pool_size"] for r in mine]))
        print(f"{w:<9} " + " ".join(f"{cells[name][0]:>24}" for name in RANKERS) + f" {t['pool_size']:>10.1f}")
    print(f"\n{'world':<9} {'outcomes/resource':>18} {'resources':>10} {'corr(est, true q)':>18} {'noise sd':>9} "
          f"{'quality sd':>11} {'scale':>7}   (means over counted months and seeds)")
    for t in table:
        print(f"{t['world']:<9} {t['outcomes_per_resource']:>18.1f} {t['resources_measured']:>10.0f} "
              f"{t['quality_correlation']:>18.3f} {t['noise_sd']:>9.3f} {t['quality_sd']:>11.3f} {t['scale']:>7.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"worlds": table, "runs": runs}, indent=1) + "\n", encoding="utf-8")
    print(f"\n{args.json}")


if __name__ == "__main__":
    main()
