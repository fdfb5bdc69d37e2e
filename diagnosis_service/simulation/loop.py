"""The closed loop: a simulated district whose remedies have true effects that only the simulator knows.

Month after month: diagnose, prescribe with a policy (lists of SHOWN items, as the service's), let
simulated secretaries adopt (or not) the first recommendation for each weakness, apply the true effect
of what was adopted to the following months' metrics, log what was served with its probability,
compute outcomes from the metrics, retrain. Only
this module and the ``oracle`` policy read the hidden truth (``Truth``); the learned policy sees what
the service would see: the served log, the feedback and the metrics.

The truth (seeded): each resource has a quality (a fifth are useless, a few excellent; some videos are
attractive but useless), a fit by kind and branch type, full effect on its main topic and half on its
others; each kind has an adoption rate by branch type, varied per resource. A tenth of the resources
are new: unavailable for the first half of the loop, and better than average. An adopted remedy raises
the weakness's indicator by ``effect x max(|reference - value|, 1)`` (it closes that share of the gap
to the norm) for the next three months (counts are rounded at random, rates and flags capped at their
range), plus the noise the district has anyway. What counts as true improvement is the realized change
(after the caps: a rate already at 100% gains nothing), for the totals and for the oracle alike.
Weaknesses of red-member share are out of the remedies' reach (effect 0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.model import Dataset
from ..errors import InputError, Problem
from ..learning.estimator import EffectivenessModel
from ..learning.outcomes import HORIZON
from ..learning.policy import ExploringPrior, LearnedRanker, RandomRanker
from ..learning.train import fit, measurable
from ..periods import parse_period, period_str
from ..pipeline.month import diagnose_month
from ..pipeline.snapshot import Snapshot
from ..remedies.catalog import Catalog
from ..remedies.history import History
from ..remedies.prescribe import DEFAULT_PER_WEAKNESS
from ..remedies.ranking import Need, PriorRanker
from ..rules.model import RuleSet
from .adjust import Adjuster
from .district import SimulationSpec, simulate
from .truth import OracleRanker, PopularityRanker, Truth
from .worlds import WORLDS, world

POLICIES = ("learned", "prior", "random", "popularity", "oracle")
WARMUP = 3  # months of history before the first diagnosed month
SHOWN = DEFAULT_PER_WEAKNESS  # items a list shows, as the service's (the first is the one acted on)


@dataclass(frozen=True)
class LoopSpec:
    policy: str = "learned"
    months: int = 12
    seed: int = 0
    branches: int = 2654
    members: int = 47411
    end: str = "2025-12"
    epsilon: float = 0.02
    prior_epsilon: float = 0.0  # the prior policy's exploration in the evaluated months (0: the plain prior)
    ignore_share: float = 0.3  # of the lists not adopted, how many get no feedback at all
    history: int = 12  # months served before the evaluated ones, the same for every policy (see run_loop)
    history_epsilon: float = 0.5
    world: str = "project"  # simulation/worlds.py: the truth's variant

    def validate(self) -> None:
        """InputError naming each field out of its range."""
        problems = []
        if self.policy not in POLICIES:
            problems.append(Problem(f"unknown policy {self.policy!r}", field=("policy",),
                                    suggestion="one of " + ", ".join(POLICIES)))
        if not 1 <= self.months <= 60:
            problems.append(Problem("must be from 1 to 60", field=("months",)))
        for name in ("epsilon", "prior_epsilon"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(Problem("must be from 0 to 1", field=(name,)))
        if not 0 <= self.history <= 36:
            problems.append(Problem("must be from 0 to 36", field=("history",)))
        if self.world not in WORLDS:
            problems.append(Problem(f"unknown world {self.world!r}", field=("world",),
                                    suggestion="one of " + ", ".join(WORLDS)))
        if self.members < self.branches:
            problems.append(Problem("must be at least the number of branches", field=("members",)))
        if problems:
            raise InputError(problems)


@dataclass
class LoopResult:
    spec: LoopSpec
    monthly: list[dict]
    log: pd.DataFrame
    truth: Truth = dataclasses.field(repr=False)
    branch_metrics: pd.DataFrame | None = dataclasses.field(default=None, repr=False)  # with the effects
    dataset: Dataset | None = dataclasses.field(default=None, repr=False)  # the district at the end
    base_metrics: pd.DataFrame | None = dataclasses.field(default=None, repr=False)  # without any effect

    @property
    def true_improvement(self) -> float:
        return round(sum(m["true_improvement"] for m in self.monthly), 4)

    @property
    def of_best_shown(self) -> float:
        """The expected worth of the first recommendations as a share of the best item of each list."""
        best = sum(m["best_shown"] for m in self.monthly)
        return round(sum(m["expected_first"] for m in self.monthly) / best, 4) if best > 0 else 1.0

    @property
    def weaknesses_resolved(self) -> int:
        return sum(m["weaknesses_resolved"] for m in self.monthly)

    def summary(self) -> dict:
        return {"policy": self.spec.policy, "world": self.spec.world, "seed": self.spec.seed, "months": self.spec.months,
                "true_improvement": self.true_improvement, "weaknesses_resolved": self.weaknesses_resolved,
                "of_best_shown": self.of_best_shown,
                "prescribed": int(sum(m["weaknesses"] for m in self.monthly)),
                "adopted": int(sum(m["adopted"] for m in self.monthly)),
                "cumulative": [round(x, 4) for x in np.cumsum([m["true_improvement"] for m in self.monthly])]}


class World:
    """The district and its hidden truth, as every policy meets them (same seed, same district, same
    draws in the same order): the metrics with the effects of what was adopted so far, and what the
    secretaries do with a list (``act``). ``run_loop`` serves its lists in process;
    ``simulation.served`` asks a running service for them."""

    def __init__(self, spec: LoopSpec, ruleset: RuleSet, catalog: Catalog):
        total = WARMUP + spec.history + spec.months + HORIZON
        end = period_str(parse_period(spec.end) + HORIZON)
        self.spec = spec
        self.base = simulate(SimulationSpec(branches=spec.branches, members=spec.members, months=total, end=end,
                                            seed=spec.seed), ruleset.registry)
        base = self.base
        the_world = world(spec.world)
        self.truth = Truth(catalog, sorted(ruleset.registry.branch_types), spec.seed, the_world,
                           sorted({str(s) for s in base.branches["street"]}))
        self.untouched = base.branch_metrics.copy()
        self.first = int(base.branch_metrics["pidx"].min()) + WARMUP  # the first month served
        self.rng = np.random.default_rng(spec.seed + 7)
        self.adjust = Adjuster(base.branch_metrics.copy(), ruleset.registry, the_world.fade)
        self.silent = _silent(base.branches.index, the_world.silent_share, spec.seed)
        self.popularity = PopularityRanker()
        self.served = History()  # what was shown, by month: the repeat filter's input, as the service's log
        self.types = base.branches["type"].to_dict()
        self.streets = base.branches["street"].to_dict()
        self.sizes = base.members.groupby("branch_id").size().to_dict()

    def dataset(self) -> Dataset:
        """The district as it is now: the branches' metrics carry the effects adopted so far."""
        return Dataset(self.base.branches, self.base.members, self.adjust.frame, self.base.member_metrics,
                       source="loop")

    def act(self, month: dict, need: Need, shown: list[str], pidx: int) -> tuple[str, float]:
        """A list of ``shown`` resource ids for ``need``, served in month ``pidx``: its worth counted in
        ``month``, its items kept as served, the first adopted or not (the truth's rate), the effect of
        an adoption applied to the months after it. (status as logged, the realized improvement had it
        been adopted)."""
        truth, adjust, branch = self.truth, self.adjust, need.branch_id
        # The secretary acts on the first; what the list could have been worth had its best been first is
        # learned/best-of-shown's denominator (expected values: the truth's, no draws).
        worth = [truth.true_value(rid, need, adjust) for rid in shown]
        month["expected_first"] += worth[0]
        month["best_shown"] += max(worth)
        for n, rid in enumerate(shown):
            self.served.add_month(branch, pidx, need.topic, rid, first=n == 0)
        rid = shown[0]
        adopted = self.rng.random() < truth.adoption(rid, self.types[branch])
        status = "adopted" if adopted else ("ignored" if self.rng.random() < self.spec.ignore_share else "declined")
        if branch in self.silent:
            status = "ignored"  # adopted or not, this secretary never says
        if status == "adopted":  # what the service hears (the feedback), not the truth's adoption
            self.served.add_adopted(branch, pidx, rid)
        month["weaknesses"] += 1
        effect = truth.need_effect(rid, need)
        realized = adjust.realized(branch, need.indicator, pidx, effect, need.reference, need.value)
        if adopted:
            month["adopted"] += 1
            month["true_improvement"] += realized
            self.popularity.adoptions[rid] += 1
            adjust.apply(branch, need.indicator, pidx, effect, need.reference, need.value, self.rng)
            truth.adopted(branch, rid, pidx)
        return status, realized


def new_month(period: str) -> dict:
    return {"period": period, "weaknesses": 0, "adopted": 0, "true_improvement": 0.0, "expected_first": 0.0,
            "best_shown": 0.0}


def close_month(month: dict, previous_weak: set, weak_now: set) -> None:
    """The weaknesses gone since last month; the sums rounded (stable bytes)."""
    month["weaknesses_resolved"] = len(previous_weak - weak_now)
    for k in ("true_improvement", "expected_first", "best_shown"):
        month[k] = round(month[k], 6)


def run_loop(spec: LoopSpec, ruleset: RuleSet, catalog: Catalog, *, on_month=None) -> LoopResult:
    """``spec.history`` months are served first by the service as deployed before any model exists (the
    prior, exploring with ``history_epsilon``), identically for every policy (same seed, same draws);
    then ``spec.months`` months by the policy, which alone are counted. This is the situation the
    learned policy meets in production: some months of logs from the prior, then its own."""
    spec.validate()
    w = World(spec, ruleset, catalog)
    truth, adjust, reg = w.truth, w.adjust, ruleset.registry
    log_rows: list[dict] = []
    monthly: list[dict] = []
    previous_weak: set[tuple[str, str]] = set()
    model: EffectivenessModel | None = None
    for step in range(spec.history + spec.months):
        counted = step >= spec.history
        pidx = w.first + step
        period = period_str(pidx)
        available = catalog_at(catalog, truth, step - spec.history, spec.months)
        ranker = (_ranker(spec, truth, w.popularity, model, reg, adjust) if counted
                  else ExploringPrior(spec.history_epsilon, spec.seed))
        # As the service prescribes (POST /v1/prescriptions): SHOWN items a weakness, and what a branch was
        # served for a topic in the months before is not recommended again for it (the repeat filter).
        diagnosed = diagnose_month(w.dataset(), Snapshot(ruleset, available, ranker), period, per_weakness=SHOWN,
                                   history=w.served)
        weak_now = set()
        month = new_month(period)
        for result in diagnosed.branches:
            for choice in diagnosed.choices[result.id]:
                need = choice.need
                weak_now.add((result.id, need.topic))
                if not choice.prescriptions:
                    continue
                p = choice.prescriptions[0]
                rid = p.resource_id
                status, realized = w.act(month, need, [q.resource_id for q in choice.prescriptions], pidx)
                btype = w.types[result.id]
                log_rows.append({
                    "branch_id": result.id, "period": period, "pidx": pidx, "topic": need.topic, "rule": need.rule,
                    "indicator": need.indicator, "resource_id": rid, "kind": p.resource.kind,
                    "propensity": choice.propensity, "status": status, "branch_type": btype,
                    "street": w.streets.get(result.id), "members": w.sizes.get(result.id, 0),
                    "value": need.value, "reference": need.reference, "policy": spec.policy,
                    "truth_value": truth.adoption(rid, btype) * realized, "truth_effect": realized,
                    "shown": " ".join(q.resource_id for q in choice.prescriptions),
                    "kinds": " ".join(need.preferred_kinds)})
        close_month(month, previous_weak, weak_now)
        previous_weak = weak_now
        if counted:
            monthly.append(month)
        if spec.policy == "learned" and step + 1 >= spec.history:
            # Only the months that have happened: the world's frame already holds the months ahead (their
            # draws, and the effects of what was adopted so far), which a service cannot measure yet.
            model = train_from_log(pd.DataFrame(log_rows), adjust.frame[adjust.frame["pidx"] <= pidx], ruleset,
                                   catalog)
        if on_month is not None and counted:
            on_month(month)
    return LoopResult(spec, monthly, pd.DataFrame(log_rows), truth, adjust.frame, w.dataset(), w.untouched)


def _silent(branches, share: float, seed: int) -> set[str]:
    """The branches whose secretaries never answer (seeded)."""
    if not share:
        return set()
    draws = np.random.default_rng(seed + 15_485_863).random(len(branches))
    return {b for b, u in zip(branches, draws, strict=True) if u < share}


def train_from_log(log: pd.DataFrame, branch_metrics: pd.DataFrame, ruleset: RuleSet, catalog: Catalog,
                   model: EffectivenessModel | None = None) -> EffectivenessModel | None:
    """Outcomes of the lists served so far, then the model (None while nothing is measurable)."""
    trained = fit(measurable(log, branch_metrics, ruleset), catalog, model)
    return None if trained is None else trained.model


def _ranker(spec: LoopSpec, truth: Truth, popularity: PopularityRanker, model: EffectivenessModel | None, reg,
            adjust: Adjuster | None = None):
    names = {t: (n.name_zh, n.name_en) for t, n in reg.topics.items()}
    if spec.policy == "prior":
        return ExploringPrior(spec.prior_epsilon, spec.seed) if spec.prior_epsilon else PriorRanker()
    if spec.policy == "random":
        return RandomRanker()
    if spec.policy == "popularity":
        return popularity
    if spec.policy == "oracle":
        return OracleRanker(truth, adjust)
    if model is None:
        return ExploringPrior(spec.epsilon, spec.seed, name="learned")
    return LearnedRanker(model, spec.epsilon, spec.seed, topic_names=names)


def catalog_at(catalog: Catalog, truth: Truth, step: int, months: int) -> Catalog:
    """New resources join the catalog halfway through the loop."""
    if step >= months // 2:
        return catalog
    resources = tuple(dataclasses.replace(r, active=False) if r.id in truth.new else r for r in catalog.resources)
    return Catalog(resources, catalog.streets, catalog.version, catalog.directory, catalog.street_names_en)


__all__ = ["HORIZON", "POLICIES", "LoopResult", "LoopSpec", "World", "catalog_at", "close_month", "new_month", "run_loop",
           "train_from_log"]
