"""Champion and challenger: a trained candidate replaces the active ranking only when it is better,
with confidence, on months it did not learn from.

``model train`` fits a candidate on the months before its held-out window (the latest months, kept
out of the fit); ``compare`` estimates, on the held-out decisions, the value of the candidate's policy
and of the active one (the prior, or the model in service), as served (exploration included), by
self-normalised importance sampling against the logged propensities, and the difference of the two
with a paired 95% bootstrap interval (the same resampled decisions for both). ``verdict`` promotes only
when the interval's lower end is above zero and there are enough decisions; otherwise the active
ranking stays, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..remedies.catalog import Catalog
from ..rules.model import RuleSet
from .ope import contexts, rewards, target_probabilities

MIN_DECISIONS = 100  # held-out decisions with outcomes below which nothing is promoted
BOOTSTRAP = 2000


@dataclass(frozen=True)
class Comparison:
    candidate: str  # a ranker's name, e.g. learned:3f2a9c1d04be
    active: str
    months: list[str]  # the held-out months compared on
    decisions: int
    candidate_value: float  # SNIPS estimate of the mean reward per decision
    active_value: float
    difference: float
    ci95: tuple[float, float]  # paired bootstrap interval of the difference
    effective_sample: dict[str, float]
    promote: bool
    reason: str

    def as_dict(self) -> dict:
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        return out


def held_out(outcomes: pd.DataFrame, after: str | None) -> pd.DataFrame:
    """The decisions of the months after ``after`` (a candidate's last training month), index reset."""
    if after is None:
        return outcomes.iloc[:0]
    return outcomes[outcomes["period"] > after].reset_index(drop=True)


def compare(outcomes: pd.DataFrame, catalog: Catalog, ruleset: RuleSet, candidate, active,
            min_decisions: int = MIN_DECISIONS, boot: int = BOOTSTRAP, seed: int = 0,
            served: pd.DataFrame | None = None, catalogs: Mapping[int, Catalog] | None = None) -> Comparison:
    """Candidate against active ranker (objects with ``rank`` and ``name``) on ``outcomes``: the decisions
    neither was fitted on; ``served``: everything served in the log's months (``ope.SERVED_COLUMNS``), for
    the repeat filter the logged choices were made under; ``catalogs``: the stored catalog versions the
    lists were served from (``ope.target_probabilities``). Deterministic for a seed."""
    months = sorted(set(outcomes["period"]))
    if outcomes.empty:
        return Comparison(candidate.name, active.name, months, 0, float("nan"), float("nan"), float("nan"),
                          (float("nan"), float("nan")), {}, False,
                          "no held-out decisions with outcomes: train with held-out months "
                          "(model train --holdout-months N) and wait for their outcomes")
    reward = rewards(outcomes)
    propensity = outcomes["propensity"].to_numpy(dtype=float)
    replayed = list(contexts(outcomes, ruleset, served))  # the same contexts for both rankers
    targets = [target_probabilities(outcomes, r, lambda _p: catalog, ruleset, replayed=replayed, catalogs=catalogs)
               for r in (candidate, active)]
    ok = np.isfinite(reward) & (propensity > 0)
    r = reward[ok]
    wc, wa = (t[ok] / propensity[ok] for t in targets)
    n = int(ok.sum())

    def snips(w: np.ndarray, rr: np.ndarray) -> float:
        total = w.sum()
        return float((w * rr).sum() / total) if total > 0 else float("nan")

    vc, va = snips(wc, r), snips(wa, r)
    rng = np.random.default_rng(seed)
    diffs = np.empty(boot)
    for b in range(boot):
        idx = rng.integers(0, n, n)
        diffs[b] = snips(wc[idx], r[idx]) - snips(wa[idx], r[idx])
    diffs = diffs[np.isfinite(diffs)]
    ci = (float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))) if len(diffs) else \
        (float("nan"), float("nan"))
    ess = {name: round(float(w.sum() ** 2 / (w ** 2).sum()), 1) if (w ** 2).sum() > 0 else 0.0
           for name, w in (("candidate", wc), ("active", wa))}
    promote, reason = verdict(n, vc - va, ci, ess, min_decisions)
    return Comparison(candidate.name, active.name, months, n, round(vc, 6), round(va, 6), round(vc - va, 6),
                      (round(ci[0], 6), round(ci[1], 6)), ess, promote, reason)


def verdict(decisions: int, difference: float, ci: tuple[float, float], ess: dict[str, float],
            min_decisions: int = MIN_DECISIONS) -> tuple[bool, str]:
    """(promote?, why) from a comparison's figures."""
    if decisions < min_decisions:
        return False, f"too few held-out decisions with outcomes ({decisions} < {min_decisions})"
    if min(ess.values(), default=0.0) < 10:
        return False, (f"the logged decisions say too little about one of the policies (effective sample "
                       f"{min(ess.values(), default=0.0):.0f} < 10)")
    if not ci[0] > 0:
        worse = "worse than" if ci[1] < 0 else "not better with confidence than"
        return False, (f"the candidate is {worse} the active ranking: difference {difference:+.4f}, "
                       f"95% interval [{ci[0]:+.4f}, {ci[1]:+.4f}]")
    return True, f"better with confidence: difference {difference:+.4f}, 95% interval [{ci[0]:+.4f}, {ci[1]:+.4f}]"


__all__ = ["BOOTSTRAP", "MIN_DECISIONS", "Comparison", "compare", "held_out", "verdict"]
