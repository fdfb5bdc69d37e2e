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
from ..remedies.ranking import PriorRanker
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
        if not 0.0 <= self.epsilon <= 1.0:
            problems.append(Problem("must be from 0 to 1", field=("epsilon",)))
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


def run_loop(spec: LoopSpec, ruleset: RuleSet, catalog: Catalog, *, on_month=None) -> LoopResult:
    """``spec.history`` months are served first by the service as deployed before any model exists (the
    prior, exploring with ``history_epsilon``), identically for every policy (same seed, same draws);
    then ``spec.months`` months by the policy, which alone are counted. This is the situation the
    learned policy meets in production: some months of logs from the prior, then its own."""
    spec.validate()
    total = WARMUP + spec.history + spec.months + HORIZON
    end = period_str(parse_period(spec.end) + HORIZON)
    base = simulate(SimulationSpec(branches=spec.branches, members=spec.members, months=total, end=end,
                                   seed=spec.seed), ruleset.registry)
    the_world = world(spec.world)
    truth = Truth(catalog, sorted(ruleset.registry.branch_types), spec.seed, the_world,
                  sorted({str(s) for s in base.branches["street"]}))
    reg = ruleset.registry
    branch_metrics = base.branch_metrics.copy()
    untouched = base.branch_metrics.copy()
    first = int(branch_metrics["pidx"].min()) + WARMUP
    rng = np.random.default_rng(spec.seed + 7)
    adjust = Adjuster(branch_metrics, reg, the_world.fade)
    silent = _silent(base.branches.index, the_world.silent_share, spec.seed)
    popularity = PopularityRanker()
    log_rows: list[dict] = []
    monthly: list[dict] = []
    previous_weak: set[tuple[str, str]] = set()
    served = History()
    model: EffectivenessModel | None = None
    types = base.branches["type"].to_dict()
    streets = base.branches["street"].to_dict()
    sizes = base.members.groupby("branch_id").size().to_dict()
    for step in range(spec.history + spec.months):
        counted = step >= spec.history
        pidx = first + step
        period = period_str(pidx)
        available = catalog_at(catalog, truth, step - spec.history, spec.months)
        ranker = _ranker(spec, truth, popularity, model, reg, adjust) if counted else ExploringPrior(spec.history_epsilon,
                                                                                             spec.seed)
        dataset = Dataset(base.branches, base.members, adjust.frame, base.member_metrics, source="loop")
        # As the service prescribes (POST /v1/prescriptions): SHOWN items a weakness, and what a branch was
        # served for a topic in the months before is not recommended again for it (the repeat filter).
        diagnosed = diagnose_month(dataset, Snapshot(ruleset, available, ranker), period, per_weakness=SHOWN,
                                   history=served)
        weak_now = set()
        month = {"period": period, "weaknesses": 0, "adopted": 0, "true_improvement": 0.0, "expected_first": 0.0,
                 "best_shown": 0.0}
        for result in diagnosed.branches:
            for choice in diagnosed.choices[result.id]:
                need = choice.need
                weak_now.add((result.id, need.topic))
                if not choice.prescriptions:
                    continue
                p = choice.prescriptions[0]
                rid = p.resource_id
                # The secretary acts on the first; what the list could have been worth had its best been
                # first is learned/best-of-shown's denominator (expected values: the truth's, no draws).
                worth = [truth.true_value(q.resource_id, need, adjust) for q in choice.prescriptions]
                month["expected_first"] += worth[0]
                month["best_shown"] += max(worth)
                for n, q in enumerate(choice.prescriptions):
                    served.add_month(result.id, pidx, need.topic, q.resource_id, first=n == 0)
                adopted = rng.random() < truth.adoption(rid, types[result.id])
                status = "adopted" if adopted else ("ignored" if rng.random() < spec.ignore_share else "declined")
                if result.id in silent:
                    status = "ignored"  # adopted or not, this secretary never says
                month["weaknesses"] += 1
                effect = truth.need_effect(rid, need)
                realized = adjust.realized(result.id, need.indicator, pidx, effect, need.reference, need.value)
                if adopted:
                    month["adopted"] += 1
                    month["true_improvement"] += realized
                    popularity.adoptions[rid] += 1
                    adjust.apply(result.id, need.indicator, pidx, effect, need.reference, need.value, rng)
                    truth.adopted(result.id, rid, pidx)
                log_rows.append({
                    "branch_id": result.id, "period": period, "pidx": pidx, "topic": need.topic, "rule": need.rule,
                    "indicator": need.indicator, "resource_id": rid, "kind": p.resource.kind,
                    "propensity": choice.propensity, "status": status, "branch_type": types[result.id],
                    "street": streets.get(result.id), "members": sizes.get(result.id, 0),
                    "value": need.value, "reference": need.reference, "policy": spec.policy,
                    "truth_value": truth.adoption(rid, types[result.id]) * realized, "truth_effect": realized,
                    "shown": " ".join(q.resource_id for q in choice.prescriptions),
                    "kinds": " ".join(need.preferred_kinds)})
        month["weaknesses_resolved"] = len(previous_weak - weak_now)
        for k in ("true_improvement", "expected_first", "best_shown"):
            month[k] = round(month[k], 6)
        previous_weak = weak_now
        if counted:
            monthly.append(month)
        if spec.policy == "learned" and step + 1 >= spec.history:
            model = train_from_log(pd.DataFrame(log_rows), adjust.frame, ruleset, catalog)
        if on_month is not None and counted:
            on_month(month)
    return LoopResult(spec, monthly, pd.DataFrame(log_rows), truth, adjust.frame,
                      Dataset(base.branches, base.members, adjust.frame, base.member_metrics, source="loop"),
                      untouched)


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
        return PriorRanker()
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


__all__ = ["HORIZON", "POLICIES", "LoopResult", "LoopSpec", "catalog_at", "run_loop", "train_from_log"]
