"""Champion and challenger: a trained candidate replaces the active ranking only when it is better,
with confidence, on months it did not learn from; a retrain of the model in service on later months
replaces it unless it is worse with confidence.

``model train`` fits a candidate on the months before its held-out window (the latest months, kept
out of the fit); ``compare`` estimates, on the held-out decisions neither ranking learned from
(``judged_after``), the value of the candidate's policy
and of the active one (the prior, or the model in service), as served (exploration included), by
self-normalised importance sampling against the logged propensities, and the difference of the two
with a paired bootstrap (the same resampled decisions for both). ``verdict``:
- a **challenger** (the active ranking is the prior, or a model of another recipe: features,
  parameters, libraries; or one trained on no later months) is promoted only when the difference's
  lower bound at ``confidence`` (one-sided, 0.9 by default) is above zero, with enough decisions and an
  effective sample of at least 10 for each policy, and a log that could have made at least half of the
  candidate's choices (``MIN_SUPPORT``);
- a **refresh** (the recipe in service, trained on months that end later, the same source) is promoted
  unless the upper bound is below zero (worse with that confidence), or, where an effective sample is
  below 10 or there are fewer than ``MIN_DECISIONS`` held-out decisions (but ``MIN_REFRESH_DECISIONS``
  or more), unless it is estimated worse at all. Such a candidate is what the service would
  have become anyway, a month on; requiring it to beat its own predecessor on a log that the
  predecessor chose near-deterministically (an effective sample of 5 to 15) kept a service on a
  model trained months before (benchmarks/bench_served_loop.py).

A challenger refused against the prior may still go **on trial** (``on_trial``): estimated better on at
least ``MIN_DECISIONS`` decisions and an effective sample of 10 or more, not yet with confidence. It then
makes half (``policy.TRIAL_SHARE``) of the exploring prior's uniform choices (``policy.ExploringPrior``):
the share the service gives to exploration anyway, where a choice of the prior's ~180 candidates each
had a 0.3% chance, and a next candidate like it was compared on effective samples of 27 to 61. A retrain
of its recipe estimated no better ends the trial (``ends_trial``).

Against the prior, a first candidate may also be **cross-fitted** (``cross_fit_folds``, ``model promote
--cross-fit``): its held-out months ranked by the candidate, each block of its training months by its
recipe fitted on the other months. The prior learned from no month, so every month with outcomes can
judge the recipe; what is then promoted is the recipe fitted on every month.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from ..remedies.catalog import Catalog
from ..rules.model import RuleSet
from .ope import contexts, fold_probabilities, rewards
from .params import AS_BEFORE
from .verdicts import (
    CONFIDENCE,
    MIN_DECISIONS,
    MIN_REFRESH_DECISIONS,
    MIN_SUPPORT,
    sample_said,
    verdict,
    verdict_said,
)

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
    confidence: float = CONFIDENCE
    bounds: tuple[float, float] = (float("nan"), float("nan"))  # one-sided bounds at ``confidence``
    refresh: bool = False  # the candidate retrains the active model's recipe on later months
    cross_fitted: list[str] = field(default_factory=list)  # months ranked by the recipe fitted without them
    # Each policy's mean importance weight: 1 in expectation where the log could have made every choice the
    # policy makes; below, about the share it could have made (``MIN_SUPPORT``, ``verdict``).
    supported: dict[str, float] = field(default_factory=dict)
    reason_zh: str = ""  # the reason in Chinese, for a person (``reason`` stays the record's)

    def as_dict(self) -> dict:
        """JSON-ready: a figure there is none of (no held-out decisions) is null, not NaN (not JSON)."""
        out = asdict(self)
        out["ci95"] = list(self.ci95)
        out["bounds"] = list(self.bounds)
        return {k: _finite(v) for k, v in out.items()}


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def held_out(outcomes: pd.DataFrame, after: str | None) -> pd.DataFrame:
    """The decisions of the months after ``after`` (a candidate's last training month), index reset."""
    if after is None:
        return outcomes.iloc[:0]
    return outcomes[outcomes["period"] > after].reset_index(drop=True)


def judged_after(candidate_card: Mapping, active_card: Mapping | None) -> str | None:
    """The month after which decisions are compared: neither ranking learned from them. A model in service
    refitted on every month (``model promote --refit``) learned from a later candidate's first held-out
    months: judged on them, it would be judged on its own training data and look better than it is (in
    the served loop, 16 retrains of 31 were refused so; benchmarks/bench_served_loop.py)."""
    ends = [_trained_to(card) for card in (candidate_card, active_card or {})]
    return None if ends[0] is None else max(e for e in ends if e is not None)


def _trained_to(card: Mapping) -> str | None:
    """The last month a model card's model learned from (its data window's end)."""
    return (card.get("data_window") or {}).get("to")


RECIPE = ("features", "params", "libraries", "source")  # what a model card says of how it was made


def same_recipe(card: Mapping | None, other: Mapping | None) -> bool:
    """Whether two model cards say the same recipe (``RECIPE``); False where either does not say it."""
    if not card or not other or any(c.get(k) is None for c in (card, other) for k in RECIPE):
        return False
    return all(card[k] == other[k] for k in RECIPE if k != "params") and \
        {**AS_BEFORE, **card["params"]} == {**AS_BEFORE, **other["params"]}


def is_refresh(candidate_card: Mapping, active_card: Mapping | None) -> bool:
    """Whether a candidate retrains the active model's recipe (features, parameters, libraries) on months
    that end later than the active model's: not a new challenger (``verdict``)."""
    if not same_recipe(candidate_card, active_card):
        return False  # another recipe, or a card that does not say it: judged as a new challenger
    # A refit (``model promote --refit``) learned from every month, its held-out ones too: it counts as
    # trained to where the candidate it was validated as ended.
    ends = [_trained_to(candidate_card), active_card.get("validated_to") or _trained_to(active_card)]
    return None not in ends and ends[0] > ends[1]


def cross_fit_folds(outcomes: pd.DataFrame, trained_to: str, block: int,
                    fitted: Callable[[pd.DataFrame], object]) -> list[tuple[np.ndarray, object]]:
    """The candidate's own training months (to ``trained_to``) as folds for ``compare``: blocks of ``block``
    months from the latest back, each a (mask over ``outcomes``, ``fitted(the other months' outcomes)``)
    pair. The candidate's recipe fitted without a block ranks that block: every month with outcomes is
    then judged by a model that did not learn from it, and a first candidate is judged on all of them
    instead of its held-out months alone (about three times the evidence after six months)."""
    earlier = sorted(p for p in set(outcomes["period"]) if p <= trained_to)
    folds = []
    while earlier:
        months, earlier = earlier[-block:], earlier[:-block]
        rows = outcomes["period"].isin(months).to_numpy()
        folds.append((rows, fitted(outcomes[~rows].reset_index(drop=True))))
    return folds


def compare(outcomes: pd.DataFrame, catalog: Catalog, ruleset: RuleSet, candidate, active,
            min_decisions: int = MIN_DECISIONS, boot: int = BOOTSTRAP, seed: int = 0,
            served: pd.DataFrame | None = None, catalogs: Mapping[int, Catalog] | None = None,
            refresh: bool = False, confidence: float = CONFIDENCE,
            folds: Sequence[tuple[np.ndarray, object]] = ()) -> Comparison:
    """Candidate against active ranker (objects with ``rank`` and ``name``) on ``outcomes``: the decisions
    neither was fitted on; ``served``: everything served in the log's months (``ope.SERVED_COLUMNS``), for
    the repeat filter the logged choices were made under; ``catalogs``: the stored catalog versions the
    lists were served from (``ope.target_probabilities``); ``refresh``: the candidate retrains the active
    model's recipe on later months (``is_refresh``); ``folds``: (mask over ``outcomes``, ranker) pairs
    whose rankers stand for the candidate on those decisions (``cross_fit_folds``: its recipe fitted on
    the other months), the candidate itself ranking the rest. Deterministic for a seed."""
    months = sorted(set(outcomes["period"]))
    if outcomes.empty:
        return Comparison(candidate.name, active.name, months, 0, float("nan"), float("nan"), float("nan"),
                          (float("nan"), float("nan")), {}, False,
                          "no held-out decisions with outcomes: train with held-out months "
                          "(model train --holdout-months N) and wait for their outcomes", confidence,
                          refresh=refresh, reason_zh="没有带结果的留出决策：训练时留出月份（model train "
                                                     "--holdout-months N），并等待其结果")
    reward = rewards(outcomes)
    propensity = outcomes["propensity"].to_numpy(dtype=float)
    replayed = list(contexts(outcomes, ruleset, served))  # the same contexts for both rankers
    own = np.ones(len(outcomes), dtype=bool)
    for rows, _ in folds:
        own &= ~rows
    targets = [np.zeros(len(outcomes)), np.zeros(len(outcomes))]
    for rows, ranker, target in ((own, candidate, 0), *((rows, r, 0) for rows, r in folds),
                                 (np.ones(len(outcomes), dtype=bool), active, 1)):
        if rows.any():
            targets[target][rows] = fold_probabilities(outcomes, rows, ranker, lambda _p: catalog, ruleset, served,
                                                       replayed, catalogs)
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

    def percentiles(*q: float) -> tuple[float, ...]:
        return tuple(float(np.percentile(diffs, x)) for x in q) if len(diffs) else (float("nan"),) * len(q)

    ci = percentiles(2.5, 97.5)
    bounds = percentiles(100 * (1 - confidence), 100 * confidence)
    ess = {name: round(float(w.sum() ** 2 / (w ** 2).sum()), 1) if (w ** 2).sum() > 0 else 0.0
           for name, w in (("candidate", wc), ("active", wa))}
    supported = {name: float(w.mean()) if n else 0.0 for name, w in (("candidate", wc), ("active", wa))}
    bounds = (round(bounds[0], 6), round(bounds[1], 6))  # as kept: the reason and the figures say the same
    promote, reason, reason_zh = verdict_said(n, vc - va, bounds, ess, min_decisions, refresh, confidence,
                                              supported["candidate"])
    supported = {name: round(value, 3) for name, value in supported.items()}
    return Comparison(candidate.name, active.name, months, n, round(vc, 6), round(va, 6), round(vc - va, 6),
                      (round(ci[0], 6), round(ci[1], 6)), ess, promote, reason, confidence,
                      (round(bounds[0], 6), round(bounds[1], 6)), refresh,
                      sorted(set(outcomes.loc[~own, "period"])), supported, reason_zh)


def on_trial(comparison: Comparison, active_is_prior: bool) -> bool:
    """Whether a candidate that was not promoted goes on trial: the active ranking is the prior, the
    candidate is a challenger estimated better than it on at least ``MIN_DECISIONS`` decisions, with an
    effective sample of at least 10 for each (what a promotion asks, but the confidence)."""
    return bool(active_is_prior and not comparison.promote and not comparison.refresh and _says_enough(comparison)
                and comparison.difference > 0)


def ends_trial(comparison: Comparison, candidate_card: Mapping, challenger_card: Mapping | None) -> bool:
    """Whether a candidate that was not promoted ends the trial of ``challenger_card``'s model: it is the
    same recipe (``same_recipe``: the challenger's, retrained on the newest months) estimated no better
    than the active ranking on enough evidence (``on_trial``'s). A comparison that says too little (few
    decisions, a small effective sample, a log that could have made too few of its choices, no estimate),
    or one of another recipe, says nothing of the challenger and leaves the trial as it is."""
    return bool(not comparison.promote and _says_enough(comparison) and comparison.difference <= 0
                and same_recipe(candidate_card, challenger_card))


def _says_enough(comparison: Comparison) -> bool:
    return (comparison.decisions >= MIN_DECISIONS and math.isfinite(comparison.difference)
            and min(comparison.effective_sample.values(), default=0.0) >= 10
            and comparison.supported.get("candidate", 1.0) >= MIN_SUPPORT)


__all__ = ["AS_BEFORE", "BOOTSTRAP", "CONFIDENCE", "MIN_DECISIONS", "MIN_REFRESH_DECISIONS", "MIN_SUPPORT", "Comparison", "compare", "cross_fit_folds", "held_out", "is_refresh", "judged_after",
           "RECIPE", "ends_trial", "on_trial", "same_recipe", "sample_said", "verdict", "verdict_said"]
