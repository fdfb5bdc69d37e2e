"""Benchmark: what a challenger on trial costs the month's prescriptions, against the plain exploring prior.

While a first candidate is on trial (`model promote`, docs/effectiveness.md), the service ranks with the
prior exploring at 0.5, and half of that exploration follows the challenger's own distribution: every
need is ranked by the challenger too (its 256 Thompson draws), where the uniform exploration needed
nothing. This times the default district's December with 3 recommendations a weakness (what `diagnose`
serves), ranked three ways: the exploring prior (the baseline), the same with a challenger on trial,
and the model in service (what a promotion ends with). The model is trained, not timed, on a
200-branch closed loop served by the exploring prior.

    python benchmarks/bench_trial.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_overview import DATA, ensure_data  # noqa: E402

from diagnosis_service.data.csvdir import load_dir  # noqa: E402
from diagnosis_service.learning.policy import ExploringPrior, LearnedRanker  # noqa: E402
from diagnosis_service.learning.train import fit, measurable  # noqa: E402
from diagnosis_service.pipeline.month import diagnose_month  # noqa: E402
from diagnosis_service.pipeline.snapshot import Snapshot  # noqa: E402
from diagnosis_service.remedies.catalog_files import load_catalog  # noqa: E402
from diagnosis_service.rules import load_ruleset  # noqa: E402
from diagnosis_service.simulation.loop import LoopSpec, run_loop  # noqa: E402

PERIOD = "2025-12"
PER_WEAKNESS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per ranking")
    args = parser.parse_args()
    ruleset = load_ruleset(REPO / "rules")
    catalog = load_catalog(REPO / "resources_catalog", ruleset.registry)
    names = {t: (n.name_zh, n.name_en) for t, n in ruleset.registry.topics.items()}
    print("a 200-branch closed loop served by the exploring prior, and a model trained on it (not timed) ...",
          flush=True)
    loop = run_loop(LoopSpec(policy="prior", history=0, history_epsilon=0.5, epsilon=0.5, months=8, branches=200,
                             members=3000), ruleset, catalog)
    model = fit(measurable(loop.log, loop.dataset.branch_metrics, ruleset), catalog).model
    ensure_data(ruleset)
    dataset = load_dir(DATA, ruleset.registry)
    rankers = {
        "the exploring prior": ExploringPrior(0.5, 0),
        "with a challenger on trial": ExploringPrior(0.5, 0, challenger=LearnedRanker(model, topic_names=names)),
        "the model in service": LearnedRanker(model, topic_names=names),
    }
    baseline = None
    print(f"\nthe default district's {PERIOD}, {PER_WEAKNESS} recommendations a weakness, best of {args.repeat}:")
    for label, ranker in rankers.items():
        times, lists = [], 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            month = diagnose_month(dataset, Snapshot(ruleset, catalog, ranker), PERIOD, per_weakness=PER_WEAKNESS)
            times.append(time.perf_counter() - start)
            lists = sum(len(c) for c in month.choices.values())  # one a weakness
        seconds = min(times)
        baseline = baseline or seconds
        print(f"  {label:<28} {seconds:6.2f} s  ({lists} lists, {seconds / max(lists, 1) * 1e3:.2f} ms a list; "
              f"{seconds / baseline:.2f}x the exploring prior)", flush=True)


if __name__ == "__main__":
    main()
