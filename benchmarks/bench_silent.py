"""Benchmark: how much silent adoption the effectiveness model's silent-list estimate tolerates.

Synthetic served logs (four resources of known effect, adoption 60%, outcome noise ``--noise``) where a
share of the lists comes from branches that never answer: their adoptions are logged as "ignored".
For each silent share and seed: the estimated adoption of the silent lists against the truth, and the
largest error of a resource's estimated effect, with the estimate (EM over the outcomes) and without it
(silent lists counted as not adopted). In one run; the figures go to docs/effectiveness.md.

    python benchmarks/bench_silent.py [--shares 0.2,0.4,0.6,0.8,0.95] [--noise 0.1,0.3] [--seeds 3] [--lists 3000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from diagnosis_service.learning.estimator import EffectivenessModel  # noqa: E402

TRUE = {"BASE01": 0.5, "BASE02": 0.0, "LEC001": 0.3, "VID001": 0.1}
KINDS = {"BASE01": "base", "BASE02": "base", "LEC001": "lecturer", "VID001": "video"}
ADOPTION = 0.6


def log(n: int, seed: int, noise: float) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    rid = rng.choice(list(TRUE), n)
    adopted = rng.random(n) < ADOPTION
    X = pd.DataFrame({"resource_id": rid, "kind": [KINDS[r] for r in rid], "topic": "theory_study",
                      "main_topic": True, "branch_type": rng.choice(["village", "community"], n),
                      "street": "s", "members": 30.0, "shortfall": 0.5, "adopted": adopted})
    y = np.where(adopted, [TRUE[r] for r in rid], 0.0) + rng.normal(0, noise, n)
    return X, y


def effect_error(model: EffectivenessModel, X: pd.DataFrame) -> float:
    rows = X.drop_duplicates("resource_id").set_index("resource_id")
    return max(abs(float(model.predict_effect(rows.loc[[r]].reset_index())[0]) - e) for r, e in TRUE.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shares", default="0.2,0.4,0.6,0.8,0.95")
    parser.add_argument("--noise", default="0.1,0.3")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lists", type=int, default=3000)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{args.lists} lists a log, adoption {ADOPTION}, {args.seeds} seeds; mean over seeds (worst seed)\n")
    print(f"{'noise':>5} {'silent':>6}  {'adoption error (EM)':>20}  {'effect error, EM':>17}  {'effect error, naive':>19}")
    for noise in (float(x) for x in args.noise.split(",")):
        for share in (float(x) for x in args.shares.split(",")):
            adoption, em_err, naive_err = [], [], []
            for seed in range(args.seeds):
                X, y = log(args.lists, seed, noise)
                silent = np.random.default_rng(seed + 100).random(len(X)) < share
                said = X.assign(adopted=X["adopted"] & ~silent)
                em = EffectivenessModel().fit(said.assign(silent_branch=silent), y)
                naive = EffectivenessModel().fit(said, y)
                truth = float(X["adopted"][silent].mean())
                adoption.append(abs((em.silent_adoption_ if em.silent_adoption_ is not None else ADOPTION) - truth))
                em_err.append(effect_error(em, X))
                naive_err.append(effect_error(naive, X))
            print(f"{noise:5.2f} {share:6.2f}  {statistics.fmean(adoption):11.3f} ({max(adoption):.3f})  "
                  f"{statistics.fmean(em_err):9.3f} ({max(em_err):.3f})  "
                  f"{statistics.fmean(naive_err):11.3f} ({max(naive_err):.3f})", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
