"""Off-policy evaluation: what another ranking policy would have achieved, estimated from the served log.

Each logged decision is one weakness of one branch in one month: the first recommendation ``a`` shown,
the probability ``p`` with which the logging policy chose it, and the reward ``r``: the measured
improvement (outcomes.compute) minus the measurement's zero point (the average of lists not adopted),
so that ``r`` estimates ``adopted x effect``. For a target policy with probability ``pi(a | x)``:

    IPS   = mean(w x r)              w = pi(a | x) / p      (unbiased when p > 0 wherever pi > 0)
    SNIPS = sum(w x r) / sum(w)      (self-normalised: a little bias, much less variance)

Confidence intervals are percentile bootstraps over decisions (seeded: the same log gives the same
interval). The effective sample size ``(sum w)^2 / sum w^2`` says how much of the log supports the
estimate: a target policy far from the logging one is estimated from few decisions.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

import numpy as np
import pandas as pd

from ..periods import parse_period
from ..remedies.catalog import Catalog
from ..remedies.history import History
from ..remedies.prescribe import DEFAULT_REPEAT_MONTHS, recent_kinds, suitable
from ..remedies.ranking import REPEAT_WINDOW, Need
from ..rules.model import RuleSet
from .outcomes import ADOPTED

REWARD_CLIP = 10.0  # shares of the gap: ten times closing it


@dataclass(frozen=True)
class Estimate:
    policy: str
    ips: float
    ips_ci: tuple[float, float]
    snips: float
    snips_ci: tuple[float, float]
    decisions: int
    effective_sample_size: float

    def as_dict(self) -> dict:
        return {"policy": self.policy, "ips": round(self.ips, 5), "ips_ci95": [round(x, 5) for x in self.ips_ci],
                "snips": round(self.snips, 5), "snips_ci95": [round(x, 5) for x in self.snips_ci],
                "decisions": self.decisions, "effective_sample_size": round(self.effective_sample_size, 1)}


def rewards(outcomes: pd.DataFrame, clip: float = REWARD_CLIP) -> np.ndarray:
    """Measured improvement minus its zero point (the mean of the same rule's non-adopted lists), so
    that a list not adopted is worth 0 on average. Bounded far wider than for training: clipping at
    the training bound (2) shrank estimates by 3% (heavy-tailed noise of small counts); the bound is
    only a guard against broken data."""
    y = pd.Series(np.clip(outcomes["improvement"].to_numpy(dtype=float), -clip, clip), index=outcomes.index)
    adopted = outcomes["status"].isin(ADOPTED)
    zero = y[~adopted].groupby(outcomes.loc[~adopted, "rule"]).mean()
    return (y - outcomes["rule"].map(zero).fillna(0.0)).to_numpy(dtype=float)


def estimate(policy: str, reward: np.ndarray, propensity: np.ndarray, target: np.ndarray, *, boot: int = 1000,
             seed: int = 0) -> Estimate:
    """IPS and SNIPS with 95% bootstrap intervals. ``target``: pi(logged action | context)."""
    ok = np.isfinite(reward) & (propensity > 0)
    r, p, t = reward[ok], propensity[ok], target[ok]
    w = t / p
    n = len(r)
    if n == 0:
        nan = float("nan")
        return Estimate(policy, nan, (nan, nan), nan, (nan, nan), 0, 0.0)
    ips = float(np.mean(w * r))
    snips = float(np.sum(w * r) / np.sum(w)) if np.sum(w) > 0 else float("nan")
    rng = np.random.default_rng(seed)
    ips_b, snips_b = [], []
    for _ in range(boot):
        idx = rng.integers(0, n, n)
        wb, rb = w[idx], r[idx]
        ips_b.append(np.mean(wb * rb))
        snips_b.append(np.sum(wb * rb) / np.sum(wb) if np.sum(wb) > 0 else np.nan)
    ess = float(np.sum(w) ** 2 / np.sum(w ** 2)) if np.sum(w ** 2) > 0 else 0.0
    return Estimate(policy, ips, _ci(ips_b), snips, _ci(snips_b), n, ess)


def _ci(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if not len(arr):
        return (float("nan"), float("nan"))
    return float(np.percentile(arr, 2.5)), float(np.percentile(arr, 97.5))


def need_of(row) -> Need:
    """The Need a logged decision answered (enough for a policy to rank again)."""
    return Need(row.branch_id, row.branch_type, row.street, row.period, row.topic, row.rule, row.indicator,
                "yellow", _num(row.value), _num(row.reference), (), int(row.members))


def _num(x) -> float | None:
    return None if x is None or x != x else float(x)


SERVED_COLUMNS = ("branch_id", "period", "topic", "resource_id", "first")


def served_from_log(log: pd.DataFrame) -> pd.DataFrame:
    """Everything a log says was served (SERVED_COLUMNS): each decision's ``shown`` items (space-separated,
    the first first) when the log has them, else its first recommendation alone."""
    rows = []
    for branch_id, period, topic, rid, shown in zip(log["branch_id"], log["period"], log["topic"], log["resource_id"],
                                                    log["shown"] if "shown" in log.columns else log["resource_id"],
                                                    strict=True):
        items = str(shown).split() if isinstance(shown, str) and shown.strip() else [rid]
        rows += [(branch_id, period, topic, item, n == 0) for n, item in enumerate(items)]
    return pd.DataFrame(rows, columns=list(SERVED_COLUMNS))


def target_probabilities(log: pd.DataFrame, ranker, catalog_at: Callable[[str], Catalog], ruleset: RuleSet,
                         served: pd.DataFrame | None = None, replayed: list | None = None,
                         catalogs: Mapping[int, Catalog] | None = None) -> np.ndarray:
    """pi(logged first recommendation | context) under ``ranker`` (its exploration included when it has
    one), in the contexts ``contexts`` gives: the candidates the logged choice was made among.
    ``replayed``: ``list(contexts(log, ruleset, served))`` already made (for several rankers on one log).
    ``catalogs``: stored catalog versions by number; a decision whose list came from one of them
    (``catalog_version``) is judged among that catalog's resources, the others among ``catalog_at``'s
    for their month."""
    out = np.zeros(len(log))
    logged = log["resource_id"].to_numpy()
    versions = catalog_versions(log) if catalogs else []
    for i, need, recent in contexts(log, ruleset, served) if replayed is None else replayed:
        catalog = catalogs.get(versions[i]) if catalogs else None  # a version of None is never a key
        out[i] = distribution(catalog or catalog_at(need.period), ranker, need, recent).get(logged[i], 0.0)
    return out


def catalog_versions(log: pd.DataFrame) -> list[int | None]:
    """Each decision's stored catalog version (None where the log has none: a catalog directory, a loop,
    a list served before versions were kept)."""
    if "catalog_version" not in log.columns:
        return [None] * len(log)
    return [None if v is None or v != v else int(v) for v in log["catalog_version"]]


def contexts(log: pd.DataFrame, ruleset: RuleSet, served: pd.DataFrame | None = None):
    """(row position, Need, resources left out) of each logged decision, in month order, as the service
    met it: the Need with its preferred kinds (``preferred_kinds``) and what the branch had first in the
    months before (the ranker's repeat feature), and what it was served for the topic in the months
    before (the Prescriber's repeat filter leaves those out). ``served`` (SERVED_COLUMNS) holds every
    month of the log, not only ``log``'s decisions. The logged probabilities were taken among those
    candidates: a target policy judged among others would be judged on decisions it could not have made.

    When both carry ``list_id`` (the store's: ids grow in the order lists were served), a list of an
    earlier month shown only after the decision's own list is left out too: the service did not know it
    yet. Such branches (a secretary opening last month's list again) are replayed decision by decision."""
    rows = list(log.itertuples(index=False))
    months = _served_by_month(served)
    late = _shown_late(rows, served)
    # What the branches said they adopted, by month (the ranker's repeat_adopted reads it).
    adoptions = sorted((parse_period(r.period), r.branch_id, r.resource_id) for r in rows
                       if getattr(r, "status", None) in ADOPTED)
    history, added, told = History(), 0, 0
    for i in sorted(range(len(rows)), key=lambda k: (parse_period(rows[k].period), k)):
        row = rows[i]
        pidx = parse_period(row.period)
        while added < len(months) and months[added][0] < pidx:  # only the months before: as the service knew
            for branch_id, period, topic, rid, first in months[added][1]:
                history.add(branch_id, period, topic, rid, first=bool(first))
            added += 1
        while told < len(adoptions) and adoptions[told][0] < pidx:
            history.add_adopted(adoptions[told][1], adoptions[told][0], adoptions[told][2])
            told += 1
        known = (_known_then(row.branch_id, late[row.branch_id], pidx, int(row.list_id))
                 if row.branch_id in late and row.list_id == row.list_id else history)
        need = Need(**{**need_of(row).__dict__, "preferred_kinds": preferred_kinds(row, ruleset),
                       "recent_first": known.first_before(row.branch_id, row.period, REPEAT_WINDOW),
                       "recent_adopted": history.adopted_before(row.branch_id, row.period, REPEAT_WINDOW),
                       "weakness_months": known.last_on_topic(row.branch_id, row.topic, row.period, REPEAT_WINDOW)})
        yield i, need, known.recent(row.branch_id, row.topic, row.period, DEFAULT_REPEAT_MONTHS)


def _shown_late(rows: list, served: pd.DataFrame | None) -> dict[str, list[tuple]]:
    """Branch -> its served items (pidx, list_id, topic, resource_id, first), for the branches where an
    item of a month before a decision was served after the decision's list."""
    if served is None or served.empty or "list_id" not in served.columns or not rows or \
            not hasattr(rows[0], "list_id"):
        return {}
    items: dict[str, list[tuple]] = {}
    columns = [*SERVED_COLUMNS, "list_id"]
    for pidx, (branch_id, _, topic, rid, first, list_id) in _served_rows(served, columns):
        items.setdefault(branch_id, []).append((pidx, int(list_id), topic, rid, bool(first)))
    # Per branch, by month: the latest list id among the items of each month and the months before.
    latest: dict[str, tuple[list[int], list[int]]] = {}
    for branch_id, mine in items.items():
        mine.sort()
        latest[branch_id] = ([p for p, *_ in mine], list(accumulate((lid for _, lid, *_ in mine), max)))
    late = {}
    for row in rows:
        if row.branch_id in late or row.branch_id not in latest or row.list_id != row.list_id:
            continue  # already late, nothing served, or no list id logged (NaN)
        pidx_of, upto = latest[row.branch_id]
        before = bisect_left(pidx_of, parse_period(row.period))  # the items of earlier months
        if before and upto[before - 1] > int(row.list_id):
            late[row.branch_id] = items[row.branch_id]
    return late


def _known_then(branch_id: str, items: list[tuple], pidx: int, list_id: int) -> History:
    """What the service knew of a branch when it served list ``list_id`` for month ``pidx``: the items of
    earlier months in lists served before it."""
    history = History()
    for p, lid, topic, rid, first in items:
        if p < pidx and lid < list_id:
            history.add_month(branch_id, p, topic, rid, first=first)
    return history


def preferred_kinds(row, ruleset: RuleSet) -> tuple[str, ...]:
    """The kinds the ranker preferred for a logged decision: as logged (``kinds``, space-separated: every
    finding's on the topic, merged as the Prescriber merges them), else the logged rule's alone (a log
    written before the kinds were kept; the service's merged kinds differ for about 7% of decisions)."""
    kinds = getattr(row, "kinds", None)
    if isinstance(kinds, str):
        return tuple(kinds.split())
    rule = ruleset.rule(row.rule)
    return rule.remedy_kinds if rule else ()


def _served_by_month(served: pd.DataFrame | None) -> list[tuple[int, list[tuple]]]:
    if served is None or served.empty:
        return []
    by: dict[int, list[tuple]] = {}
    for pidx, row in _served_rows(served, SERVED_COLUMNS):
        by.setdefault(pidx, []).append(row)
    return sorted(by.items())


def _served_rows(served: pd.DataFrame, columns: Sequence[str]):
    """(month index, row of ``columns``) of each served item. Columns as plain arrays: iterating a
    frame's Arrow-backed strings row by row costs ten times that."""
    months: dict[str, int] = {}
    at = list(columns).index("period")
    for row in zip(*(served[c].to_numpy(dtype=object) for c in columns), strict=True):
        period = row[at]
        if period not in months:
            months[period] = parse_period(period)
        yield months[period], row


def cross_fitted_probabilities(outcomes: pd.DataFrame, make_ranker: Callable, fit: Callable,
                               catalog_at: Callable[[str], Catalog], ruleset: RuleSet,
                               served: pd.DataFrame | None = None,
                               catalogs: Mapping[int, Catalog] | None = None,
                               replayed: list | None = None) -> np.ndarray:
    """pi(logged first recommendation | context) for a policy built on a model, cross-fitted: a model is
    fitted (``fit(outcome_rows)``) on each half of the months and ranks (``make_ranker(model)``) the
    other half. A model evaluated on the decisions it learned from looks better than it is. Needs two
    months or more with outcomes. ``replayed``: ``list(contexts(outcomes, ruleset, served))`` already
    made (a decision's context does not depend on the other decisions evaluated with it)."""
    periods = sorted(set(outcomes["period"]))
    if len(periods) < 2:
        raise ValueError("cross-fitting needs outcomes in at least two months")
    first = (outcomes["period"] < periods[len(periods) // 2]).to_numpy()
    if replayed is None:
        replayed = list(contexts(outcomes, ruleset, served))
    out = np.zeros(len(outcomes))
    for fold in (True, False):
        rows = first == fold
        out[rows] = fold_probabilities(outcomes, rows, make_ranker(fit(outcomes[first != fold])), catalog_at, ruleset,
                                       served, replayed, catalogs)
    return out


def fold_probabilities(outcomes: pd.DataFrame, rows: np.ndarray, ranker, catalog_at: Callable[[str], Catalog],
                       ruleset: RuleSet, served: pd.DataFrame | None, replayed: list,
                       catalogs: Mapping[int, Catalog] | None = None) -> np.ndarray:
    """``target_probabilities`` of the decisions ``rows`` (a mask over ``outcomes``) under ``ranker``, from
    the contexts of all of them (``replayed``: ``list(contexts(outcomes, ruleset, served))``)."""
    at = np.cumsum(rows) - 1  # a decision's position among the fold's
    return target_probabilities(outcomes[rows], ranker, catalog_at, ruleset, served,
                                replayed=[(int(at[i]), need, recent) for i, need, recent in replayed if rows[i]],
                                catalogs=catalogs)


def distribution(catalog: Catalog, ranker, need: Need, recent: set[str] | frozenset[str] = frozenset()
                 ) -> dict[str, float]:
    """``ranker``'s probability of putting each candidate first for ``need``: the catalog's suitable
    resources, less ``recent`` (unless that leaves none, as the Prescriber does)."""
    pool = suitable(catalog, need)
    if not pool:
        return {}
    if need.recent_first and not need.recent_kinds:  # as the Prescriber tells the ranker, from this catalog
        need = dataclasses.replace(need, recent_kinds=recent_kinds(catalog, need.recent_first))
    if hasattr(ranker, "scores") and hasattr(ranker, "distribution_of"):  # the learned ranking: no notes made
        mu, sd = ranker.scores(need, pool)
        order = sorted(range(len(pool)), key=lambda i: (-mu[i], pool[i].id))
        kept = [i for i in order if pool[i].id not in recent] if recent else order
        kept = kept or order
        return dict(zip((pool[i].id for i in kept), ranker.distribution_of(
            need, np.array([mu[i] for i in kept]), np.array([sd[i] for i in kept])), strict=True))
    ranked = sorted(ranker.rank(need, pool), key=lambda s: (-s.score, s.resource.id))
    fresh = [s for s in ranked if s.resource.id not in recent] if recent else ranked
    return probabilities(ranker, need, fresh or ranked)


def action_probability(catalog: Catalog, ranker, need: Need, resource_id: str,
                       recent: set[str] | frozenset[str] = frozenset()) -> float:
    """Probability that ``ranker`` puts ``resource_id`` first for ``need`` (``distribution``)."""
    return float(distribution(catalog, ranker, need, recent).get(resource_id, 0.0))


def probabilities(ranker, need: Need, ranked) -> dict[str, float]:
    """The policy's distribution over first recommendations (exact for the rankers here)."""
    n = len(ranked)
    if getattr(ranker, "name", "") == "random":
        return {s.resource.id: 1.0 / n for s in ranked}
    dist = getattr(ranker, "distribution", None)
    if dist is not None:
        return dict(zip((s.resource.id for s in ranked), dist(need, ranked), strict=True))
    return {ranked[0].resource.id: 1.0}


__all__ = ["SERVED_COLUMNS", "Estimate", "action_probability", "catalog_versions", "contexts",
           "cross_fitted_probabilities", "distribution", "estimate", "fold_probabilities", "need_of", "preferred_kinds",
           "probabilities", "rewards", "served_from_log", "target_probabilities"]
