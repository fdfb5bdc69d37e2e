"""The hidden truth of the closed loop, and the policies that read it or need no model.

``Truth`` holds each resource's true quality and adoption behaviour (seeded); only the simulator and
the ``oracle`` policy read it. See ``loop`` for how it acts on the district.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..periods import parse_period
from ..remedies.catalog import Catalog, Resource
from ..remedies.ranking import Need, PriorRanker, Scored
from .worlds import World

if TYPE_CHECKING:
    from .adjust import Adjuster


class Truth:
    """Hidden effects and adoption behaviour. Read by the simulator and the oracle only."""

    KIND_ADOPTION = {"activity": 0.65, "lesson": 0.55, "video": 0.6, "lecturer": 0.45, "base": 0.4}

    def __init__(self, catalog: Catalog, types: Sequence[str], seed: int, world: World | None = None,
                 streets: Sequence[str] = ()):
        self.world = world or World()
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
        self.on_site = {r.id for r in catalog.resources if r.format == "on_site"}
        # The world's departures from the project's own truth, drawn from a stream of their own so that the
        # project world's draws above stay what they were.
        w, wrng = self.world, np.random.default_rng(seed + 7_919)
        if w.kind_type_range != (0.5, 1.5):
            lo, hi = w.kind_type_range
            self.kind_type = {key: float(wrng.uniform(lo, hi)) for key in sorted(self.kind_type)}
        if w.quality_spread:
            self.quality = {rid: q * float(wrng.lognormal(0.0, w.quality_spread))
                            for rid, q in sorted(self.quality.items())}
        self.street_factor = ({s: float(wrng.uniform(1 - w.street_spread, 1 + w.street_spread))
                               for s in sorted({str(x) for x in streets})} if w.street_spread else {})
        self.adopted_at: dict[tuple[str, str], int] = {}  # (branch, resource) -> month index of its last adoption

    def effect(self, resource_id: str, topic: str, branch_type: str, indicator: str, branch_id: str | None = None,
               street: str | None = None, pidx: int | None = None) -> float:
        if indicator == "red_member_share":
            return 0.0
        topics = self.topics[resource_id]
        fit = 1.0 if topics[0] == topic else (0.5 if topic in topics else 0.0)
        out = self.quality[resource_id] * fit * self.kind_type.get((self.kinds[resource_id], branch_type), 1.0)
        if self.street_factor and resource_id in self.on_site:
            out *= self.street_factor.get(str(street), 1.0)
        if self.world.repeat_months and branch_id is not None and pidx is not None:
            last = self.adopted_at.get((branch_id, resource_id))
            if last is not None and pidx - last <= self.world.repeat_months:
                out *= self.world.repeat_factor
        return out

    def adopted(self, branch_id: str, resource_id: str, pidx: int) -> None:
        self.adopted_at[(branch_id, resource_id)] = pidx

    def adoption(self, resource_id: str, branch_type: str) -> float:
        base = self.adopt_type.get((self.kinds[resource_id], branch_type), 0.5)
        return float(np.clip(base + self.adopt_tweak[resource_id], 0.02, 0.98))

    def need_effect(self, resource_id: str, need: Need) -> float:
        return self.effect(resource_id, need.topic, need.branch_type, need.indicator, need.branch_id, need.street,
                           parse_period(need.period))

    def value(self, resource_id: str, need: Need) -> float:
        """Expected nominal improvement of recommending this resource first."""
        return self.adoption(resource_id, need.branch_type) * self.need_effect(resource_id, need)

    def true_value(self, resource_id: str, need: Need, adjust: Adjuster | None) -> float:
        """Expected realized improvement of recommending it first, given the district's metrics."""
        effect = self.need_effect(resource_id, need)
        if adjust is not None:
            effect = adjust.realized(need.branch_id, need.indicator, parse_period(need.period), effect, need.reference,
                                     need.value)
        return self.adoption(resource_id, need.branch_type) * effect


@dataclass
class PopularityRanker:
    """The resources adopted most often so far (ties: the prior)."""

    adoptions: Counter = field(default_factory=Counter)
    name: str = "popularity"
    prior: PriorRanker = field(default_factory=PriorRanker, repr=False, compare=False)  # its scores are kept

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        prior = {s.resource.id: s.score for s in self.prior.rank(need, resources)}
        return [Scored(r, self.adoptions[r.id] + prior[r.id] / 10) for r in resources]

    def cache_key(self, need: Need) -> tuple | None:
        return None


@dataclass
class OracleRanker:
    """Knows the truth: the best possible first recommendation (adoption x realized effect)."""

    truth: Truth
    adjust: Adjuster | None = None
    name: str = "oracle"

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        return [Scored(r, self.truth.true_value(r.id, need, self.adjust)) for r in resources]

    def cache_key(self, need: Need) -> tuple | None:
        return None


__all__ = ["OracleRanker", "PopularityRanker", "Truth"]
