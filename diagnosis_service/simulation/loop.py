"""The closed loop: a simulated district whose remedies have true effects that only the simulator knows.

Month after month: diagnose, prescribe with a policy, let simulated secretaries adopt (or not) the first
recommendation for each weakness, apply the true effect of what was adopted to the following months'
metrics, log what was served with its probability, compute outcomes from the metrics, retrain. Only
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
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.model import Dataset, parse_period, period_str
from ..engine.derive import derive_own
from ..learning.estimator import EffectivenessModel, LearnedRanker, training_frame
from ..learning.outcomes import compute, gap_scale
from ..pipeline.month import diagnose
from ..remedies.catalog import Catalog, Resource
from ..remedies.prescribe import Prescriber
from ..remedies.ranking import Need, PriorRanker, Scored
from ..rules.model import RuleSet
from .district import SimulationSpec, simulate

POLICIES = ("learned", "prior", "random", "popularity", "oracle")
HORIZON = 3
WARMUP = 3  # months of history before the first diagnosed month


# ------------------------------------------------------------------------------------------- truth

class Truth:
    """Hidden effects and adoption behaviour. Read by the simulator and the oracle only."""

    KIND_ADOPTION = {"activity": 0.65, "lesson": 0.55, "video": 0.6, "lecturer": 0.45, "base": 0.4}

    def __init__(self, catalog: Catalog, types: Sequence[str], seed: int):
        rng = np.random.default_rng(seed + 104_729)
        self.quality: dict[str, float] = {}
        self.adopt_tweak: dict[str, float] = {}
        self.new: set[str] = set()
        for r in catalog.resources:
            u = rng.random()
            if u < 0.2:
                q = abs(rng.normal(0.0, 0.03))  # useless
            elif u < 0.9:
                q = rng.gamma(4.0, 0.1)  # mean 0.4: closes 40% of the gap to the norm
            else:
                q = rng.uniform(0.8, 1.2)  # excellent
            if r.kind == "video" and rng.random() < 0.3:
                q = 0.0  # watched, not acted on
            if rng.random() < 0.1:
                self.new.add(r.id)
                q = max(q, rng.uniform(0.6, 1.0))
            self.quality[r.id] = float(q)
            self.adopt_tweak[r.id] = float(rng.uniform(-0.15, 0.15))
        self.kind_type = {(k, t): float(rng.uniform(0.5, 1.5)) for k in self.KIND_ADOPTION for t in types}
        self.adopt_type = {(k, t): float(np.clip(a * rng.uniform(0.8, 1.2), 0.05, 0.95))
                           for k, a in self.KIND_ADOPTION.items() for t in types}
        self.topics = {r.id: r.topics for r in catalog.resources}
        self.kinds = {r.id: r.kind for r in catalog.resources}

    def effect(self, resource_id: str, topic: str, branch_type: str, indicator: str) -> float:
        if indicator == "red_member_share":
            return 0.0
        topics = self.topics[resource_id]
        fit = 1.0 if topics[0] == topic else (0.5 if topic in topics else 0.0)
        return self.quality[resource_id] * fit * self.kind_type.get((self.kinds[resource_id], branch_type), 1.0)

    def adoption(self, resource_id: str, branch_type: str) -> float:
        base = self.adopt_type.get((self.kinds[resource_id], branch_type), 0.5)
        return float(np.clip(base + self.adopt_tweak[resource_id], 0.02, 0.98))

    def value(self, resource_id: str, need: Need) -> float:
        """Expected nominal improvement of recommending this resource first."""
        return self.adoption(resource_id, need.branch_type) * self.effect(resource_id, need.topic, need.branch_type,
                                                                           need.indicator)

    def true_value(self, resource_id: str, need: Need, adjust: _Adjuster | None) -> float:
        """Expected realized improvement of recommending it first, given the district's metrics."""
        effect = self.effect(resource_id, need.topic, need.branch_type, need.indicator)
        if adjust is not None:
            effect = adjust.realized(need.branch_id, need.indicator, parse_period(need.period), effect, need.reference,
                                     need.value)
        return self.adoption(resource_id, need.branch_type) * effect


# ------------------------------------------------------------------------------------------- policies

class RandomRanker:
    """Uniform over the suitable candidates."""

    name = "random"

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        return [Scored(r, 0.0) for r in resources]

    def cache_key(self, need: Need) -> tuple | None:
        return None

    def explore(self, need: Need, ranked: list[Scored]) -> tuple[int, float]:
        rng = random.Random(f"random:{need.branch_id}:{need.period}:{need.topic}")  # noqa: S311 -- simulation
        return rng.randrange(len(ranked)), 1.0 / len(ranked)


@dataclass
class PopularityRanker:
    """The resources adopted most often so far (ties: the prior)."""

    adoptions: Counter = field(default_factory=Counter)
    name: str = "popularity"

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        prior = {s.resource.id: s.score for s in PriorRanker().rank(need, resources)}
        return [Scored(r, self.adoptions[r.id] + prior[r.id] / 10) for r in resources]

    def cache_key(self, need: Need) -> tuple | None:
        return None


@dataclass
class OracleRanker:
    """Knows the truth: the best possible first recommendation (adoption x realized effect)."""

    truth: Truth
    adjust: _Adjuster | None = None
    name: str = "oracle"

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        return [Scored(r, self.truth.true_value(r.id, need, self.adjust)) for r in resources]

    def cache_key(self, need: Need) -> tuple | None:
        return None


@dataclass
class ExploringPrior:
    """The prior, exploring: how the service serves before a model exists (the history months), and the
    learned policy before its first outcome."""

    epsilon: float
    seed: int
    name: str = "prior"

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        return PriorRanker().rank(need, resources)

    def cache_key(self, need: Need) -> tuple | None:
        return None

    def explore(self, need: Need, ranked: list[Scored]) -> tuple[int, float]:
        return LearnedRanker(EffectivenessModel(), self.epsilon, self.seed, thompson=False).explore(need, ranked)


# ------------------------------------------------------------------------------------------- the loop

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

    def validate(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"--policy must be one of {', '.join(POLICIES)}")
        if not 1 <= self.months <= 60:
            raise ValueError("--months must be from 1 to 60")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError("--epsilon must be from 0 to 1")
        if not 0 <= self.history <= 36:
            raise ValueError("--history must be from 0 to 36")


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
    def weaknesses_resolved(self) -> int:
        return sum(m["weaknesses_resolved"] for m in self.monthly)

    def summary(self) -> dict:
        return {"policy": self.spec.policy, "seed": self.spec.seed, "months": self.spec.months,
                "true_improvement": self.true_improvement, "weaknesses_resolved": self.weaknesses_resolved,
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
    truth = Truth(catalog, sorted(ruleset.registry.branch_types), spec.seed)
    reg = ruleset.registry
    branch_metrics = base.branch_metrics.copy()
    untouched = base.branch_metrics.copy()
    first = int(branch_metrics["pidx"].min()) + WARMUP
    rng = np.random.default_rng(spec.seed + 7)
    adjust = _Adjuster(branch_metrics, reg)
    popularity = PopularityRanker()
    log_rows: list[dict] = []
    monthly: list[dict] = []
    previous_weak: set[tuple[str, str]] = set()
    model: EffectivenessModel | None = None
    types = base.branches["type"].to_dict()
    streets = base.branches["street"].to_dict()
    sizes = base.members.groupby("branch_id").size().to_dict()
    for step in range(spec.history + spec.months):
        counted = step >= spec.history
        pidx = first + step
        period = period_str(pidx)
        available = _catalog_at(catalog, truth, step - spec.history, spec.months)
        ranker = _ranker(spec, truth, popularity, model, reg, adjust) if counted else ExploringPrior(spec.history_epsilon,
                                                                                             spec.seed)
        prescriber = Prescriber(available, ruleset, ranker, per_weakness=1)
        dataset = Dataset(base.branches, base.members, adjust.frame, base.member_metrics, source="loop")
        diag = diagnose(dataset, ruleset, period)
        weak_now = set()
        month = {"period": period, "weaknesses": 0, "adopted": 0, "true_improvement": 0.0}
        for result in diag.branches:
            for choice in prescriber.for_branch(result, streets.get(result.id), None, sizes.get(result.id, 0)):
                need = choice.need
                weak_now.add((result.id, need.topic))
                if not choice.prescriptions:
                    continue
                p = choice.prescriptions[0]
                rid = p.resource_id
                adopted = rng.random() < truth.adoption(rid, types[result.id])
                status = "adopted" if adopted else ("ignored" if rng.random() < spec.ignore_share else "declined")
                month["weaknesses"] += 1
                effect = truth.effect(rid, need.topic, types[result.id], need.indicator)
                realized = adjust.realized(result.id, need.indicator, pidx, effect, need.reference, need.value)
                if adopted:
                    month["adopted"] += 1
                    month["true_improvement"] += realized
                    popularity.adoptions[rid] += 1
                    adjust.apply(result.id, need.indicator, pidx, effect, need.reference, need.value, rng)
                log_rows.append({
                    "branch_id": result.id, "period": period, "pidx": pidx, "topic": need.topic, "rule": need.rule,
                    "indicator": need.indicator, "resource_id": rid, "kind": p.resource.kind,
                    "propensity": choice.propensity, "status": status, "branch_type": types[result.id],
                    "street": streets.get(result.id), "members": sizes.get(result.id, 0),
                    "value": need.value, "reference": need.reference, "policy": spec.policy,
                    "truth_value": truth.adoption(rid, types[result.id]) * realized, "truth_effect": realized})
        month["weaknesses_resolved"] = len(previous_weak - weak_now)
        month["true_improvement"] = round(month["true_improvement"], 6)
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


def train_from_log(log: pd.DataFrame, branch_metrics: pd.DataFrame, ruleset: RuleSet, catalog: Catalog,
                   model: EffectivenessModel | None = None) -> EffectivenessModel | None:
    """Outcomes of the lists served so far, then the model (None while nothing is measurable)."""
    if log.empty:
        return None
    derived = derive_own(branch_metrics, "branch", ruleset)
    outcomes = compute(log, derived, ruleset, HORIZON)
    measurable = outcomes[np.isfinite(outcomes["improvement"])]
    if measurable.empty:
        return None
    X, y = training_frame(measurable, catalog)
    return (model or EffectivenessModel()).fit(X, y)


def _ranker(spec: LoopSpec, truth: Truth, popularity: PopularityRanker, model: EffectivenessModel | None, reg,
            adjust: _Adjuster | None = None):
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


def _catalog_at(catalog: Catalog, truth: Truth, step: int, months: int) -> Catalog:
    """New resources join the catalog halfway through the loop."""
    if step >= months // 2:
        return catalog
    resources = tuple(dataclasses.replace(r, active=False) if r.id in truth.new else r for r in catalog.resources)
    return Catalog(resources, catalog.streets, catalog.version, catalog.directory, catalog.street_names_en)


class _Adjuster:
    """The district's branch metrics with the true effects of adopted remedies added."""

    def __init__(self, frame: pd.DataFrame, registry):
        self.frame = frame
        self.registry = registry
        self.row = {(b, p): i for i, (b, p) in enumerate(zip(frame["branch_id"], frame["pidx"], strict=True))}

    def _target(self, indicator: str):
        ind = self.registry.get("branch", indicator)
        if ind is None:
            return None, None
        if ind.derived is not None:
            kind, arg = next(iter(ind.derived.items()))
            if kind != "sum":
                return None, None
            target = arg[2] if len(arg) > 2 else arg[0]  # raise one of the summed parts
            return target, self.registry.get("branch", target)
        return indicator, ind

    def _steps(self, branch_id: str, indicator: str, pidx: int, effect: float, reference: float | None,
               value: float | None) -> list[tuple[int, int, float, float]]:
        """(row, column, old, expected new) for the months the effect reaches (ranges applied)."""
        target, ind = self._target(indicator)
        if target is None or effect == 0.0:
            return []
        gap = gap_scale(self.registry.get("branch", indicator).unit, reference, value)
        col = self.frame.columns.get_loc(target)
        out = []
        for h in range(1, HORIZON + 1):
            i = self.row.get((branch_id, pidx + h))
            if i is None:
                continue
            old = self.frame.iat[i, col]
            if old != old:
                continue
            new = old + effect * gap  # closes ``effect`` of the gap to the norm
            if ind.max is not None:
                new = min(new, ind.max)
            out.append((i, col, old, max(new, ind.min)))
        return out

    def realized(self, branch_id: str, indicator: str, pidx: int, effect: float, reference: float | None,
                 value: float | None) -> float:
        """What the effect would actually change, in shares of the gap (a rate at its ceiling gains
        little): the truth the improvement totals and the oracle count."""
        steps = self._steps(branch_id, indicator, pidx, effect, reference, value)
        if not steps:
            return 0.0
        gap = gap_scale(self.registry.get("branch", indicator).unit, reference, value)
        return float(sum(new - old for _, _, old, new in steps) / len(steps) / gap)

    def apply(self, branch_id: str, indicator: str, pidx: int, effect: float, reference: float | None,
              value: float | None, rng: np.random.Generator) -> float:
        """Add the effect to the following months; returns the realized share of the gap."""
        realized = self.realized(branch_id, indicator, pidx, effect, reference, value)
        _, ind = self._target(indicator)
        for i, col, _old, new in self._steps(branch_id, indicator, pidx, effect, reference, value):
            if ind.integer:  # counts: rounded at random, the expected value kept
                new = math.floor(new) + (rng.random() < new - math.floor(new))
            self.frame.iat[i, col] = new
        return realized


__all__ = ["POLICIES", "LoopResult", "LoopSpec", "OracleRanker", "PopularityRanker", "RandomRanker", "Truth",
           "run_loop", "train_from_log"]
