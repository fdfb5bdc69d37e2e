"""Benchmark: the learned ranking in worlds it was not built for (simulation/worlds.py).

In one run, for each world (project, silent, fading, street, kindtype, all) and each seed: the closed
loop with --history months served by the exploring prior, then --months months by each policy
(learned, prior, oracle) on the same district and draws; the learned and prior policies' true
improvement as a share of the oracle's, mean and 95% interval over seeds (t-interval); the learned
policy's first recommendations as a share of the best item of each list it showed (expected values, the
lists of 5 items the service shows); and whether the learned policy stays above the prior in every seed.

Targets of the effectiveness issue: learned >= 0.8 of the oracle and >= 0.9 of the best of what it shows
in every world, never below the prior; the project's own world >= 0.94 (measured there on the
1,000-branch district).

    python benchmarks/bench_worlds.py [--worlds project,all] [--seeds 3] [--branches 200] [--members 3000]
                                      [--history 6] [--months 6] [--history-epsilon 0.5]
                                      [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, run_loop  # noqa: E402
from diagnosis_service.simulation.worlds import WORLDS  # noqa: E402

POLICIES = ("learned", "prior", "oracle")
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def one(args: tuple) -> dict:
    world, policy, seed, branches, members, history, months, history_epsilon = args
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    start = time.perf_counter()
    result = run_loop(LoopSpec(policy=policy, seed=seed, branches=branches, members=members, months=months,
                               history=history, world=world, history_epsilon=history_epsilon), ruleset, catalog)
    return {"world": world, "policy": policy, "seed": seed, "true_improvement": result.true_improvement,
            "of_best_shown": result.of_best_shown, "seconds": round(time.perf_counter() - start, 1)}


def interval(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def summary(values: list[float]) -> tuple[str, list[float]]:
    """The mean and 95% interval over seeds: as printed, and as kept in the JSON."""
    mean, lo, hi = interval(values)
    return f"{mean:>6.3f} [{lo:6.3f}, {hi:6.3f}]", [mean, lo, hi]


def loop_arguments(parser: argparse.ArgumentParser, worlds: str, json_name: str) -> None:
    """The loops' shape (worlds, seeds, district size, months of history and counted months), the
    processes running them and where the figures go."""
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=REPO / "var" / "bench" / json_name)
    parser.add_argument("--worlds", default=worlds)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--branches", type=int, default=200)
    parser.add_argument("--members", type=int, default=3000)
    parser.add_argument("--history", type=int, default=6)
    parser.add_argument("--months", type=int, default=6)


def pooled(one, jobs: list[tuple], workers: int) -> list[dict]:
    """``one`` of each job, on ``workers`` processes, in the jobs' order."""
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(one, jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    loop_arguments(parser, ",".join(WORLDS), "worlds.json")
    parser.add_argument("--history-epsilon", type=float, default=LoopSpec.history_epsilon,
                        help="uniform choice of the first recommendation while the history months are served "
                             "(0: the plain prior, as a service with no model and no exploration serves)")
    args = parser.parse_args()
    worlds = args.worlds.split(",")
    start = time.perf_counter()
    runs = pooled(one, [(w, p, s, args.branches, args.members, args.history, args.months, args.history_epsilon)
                        for w in worlds for s in range(args.seeds) for p in POLICIES], args.jobs)
    print(f"{len(runs)} loops ({args.branches} branches, {args.history} months of history, {args.months} counted, "
          f"{args.seeds} seeds) in {time.perf_counter() - start:.0f} s\n")
    print(f"{'world':<9} {'learned/oracle':>24} {'learned/best shown':>24} {'prior/oracle':>24} "
          f"{'learned > prior':>16}")
    table = []
    for w in worlds:
        value = {(r["policy"], r["seed"]): r["true_improvement"] for r in runs if r["world"] == w}
        learned = [value[("learned", s)] / value[("oracle", s)] for s in range(args.seeds)]
        prior = [value[("prior", s)] / value[("oracle", s)] for s in range(args.seeds)]
        shown = [r["of_best_shown"] for r in runs if r["world"] == w and r["policy"] == "learned"]
        above = sum(value[("learned", s)] > value[("prior", s)] for s in range(args.seeds))
        (lt, lk), (bt, bk), (pt, pk) = summary(learned), summary(shown), summary(prior)
        print(f"{w:<9} {lt}    {bt}    {pt}    {above}/{args.seeds} seeds")
        table.append({"world": w, "learned_oracle": lk, "learned_best_shown": bk, "prior_oracle": pk,
                      "learned_above_prior": above, "seeds": args.seeds, "runs": [r for r in runs if r["world"] == w]})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
