"""Ranking policies built on the effectiveness model, and the plain ones off-policy evaluation compares.

``LearnedRanker`` ranks by the model's expected improvement and explores (Thompson sampling over the
estimates' uncertainty, mixed with ``epsilon`` of uniform choice, seeded by branch, period and topic so
that reruns give the same bytes). The probability with which the shown list was chosen is exact and
logged with it, so that other policies can be evaluated offline from the logs (``ope``).
``RandomRanker`` is uniform over the suitable candidates; ``ExploringPrior`` is the documented prior
exploring like the learned policy: how a service serves before any model exists.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..remedies.catalog import Resource
from ..remedies.ranking import Need, PriorRanker, Scored
from .features import adopted_repeats, kind_repeats, on_site_flags, repeats

if TYPE_CHECKING:  # a ranker holds a model that was loaded: its module (and scikit-learn) are there by then
    from .estimator import EffectivenessModel

DRAWS = 256  # Thompson draws per decision
# Of the exploring prior's exploration share, what a challenger on trial chooses (the rest stays uniform).
# All of it (tried first, benchmarks/bench_served_loop.py) left a next candidate that disagreed with the
# challenger an effective sample of 5 to 7, and the comparison said nothing.
TRIAL_SHARE = 0.5


@dataclass
class LearnedRanker:
    """Ranks by the model's expected improvement, exploring with probability ``epsilon``."""

    model: EffectivenessModel
    epsilon: float = 0.02  # the service's default (Settings.learned_exploration) and the closed loop's
    seed: int = 0
    name: str = "learned"
    topic_names: dict | None = None
    thompson: bool = True  # False: always the best estimate (with epsilon 0, a greedy policy)
    # Thompson draws use the estimates' standard deviation times this: the ridge's shrinkage already
    # starts new resources at their kind's average, so full-width draws explore more than they learn
    # (measured in the closed loop: 0.3 gave the most true improvement of 0.3, 0.5 and 1).
    temperature: float = 0.3

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        if not resources:
            return []
        names = (self.topic_names or {}).get(need.topic, (need.topic, need.topic))
        out = []
        for r, (e, p, n, uncertainty) in zip(resources, self._values(need, resources), strict=True):
            zh, en = _note(names, e, n)
            out.append(Scored(r, round(p * e, 6), (("adoption", round(p, 4)), ("effect", round(e, 4)),
                                                   ("evidence", float(n)), ("sd", round(p * uncertainty, 6))), zh, en))
        return out

    def scores(self, need: Need, resources: Sequence[Resource]) -> tuple[list[float], list[float]]:
        """Each candidate's score and the standard deviation its Thompson draw uses, the very floats
        ``rank`` puts in its ``Scored``, without what a person reads of them: offline evaluation asks this of
        every logged decision (ope.distribution), where the notes were a third of the time."""
        values = self._values(need, resources) if resources else []
        return [round(p * e, 6) for e, p, _n, _u in values], [round(p * u, 6) for _e, p, _n, u in values]

    def _values(self, need: Need, resources: Sequence[Resource]) -> list[tuple[float, float, int, float]]:
        """(effect, adoption, evidence, uncertainty) of each candidate."""
        return self.model.predict_candidates(
            need.topic, need.branch_type, need.street, float(need.members or 0),
            need.shortfall if need.shortfall is not None else float("nan"),
            [(r.id, r.kind, r.topics[0] == need.topic) for r in resources], repeats(need, resources),
            kind_repeats(need, resources), on_site_flags(resources), adopted_repeats(need, resources),
            float(need.weakness_months))

    def cache_key(self, need: Need) -> tuple | None:
        return None

    def distribution(self, need: Need, ranked: list[Scored]) -> np.ndarray:
        """The probability of each candidate (in ``ranked`` order) to be recommended first.

        Thompson sampling over the estimates' uncertainty, made exact: ``DRAWS`` seeded draws define the
        policy (a candidate's probability is the share of draws it wins), mixed with ``epsilon`` of
        uniform choice so that every candidate keeps a chance (what unbiased offline evaluation needs).
        """
        return self.distribution_of(need, np.array([s.score for s in ranked]),
                                    np.array([dict(s.parts).get("sd", 0.0) for s in ranked]))

    def distribution_of(self, need: Need, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """``distribution`` from the candidates' scores and standard deviations (``scores``), in that order."""
        n = len(mu)
        sd = sd * self.temperature if self.thompson else np.zeros(n)
        wins = np.bincount((mu + sd * self._rng(need, "draws").standard_normal((DRAWS, n))).argmax(axis=1),
                           minlength=n) / DRAWS
        probs = (1.0 - self.epsilon) * wins + self.epsilon / n
        return probs / probs.sum()

    def explore(self, need: Need, ranked: list[Scored]) -> tuple[int, float]:
        """Index of the first recommendation in ``ranked`` and the exact probability it had."""
        return drawn(self.distribution(need, ranked), self.seed, need)

    def _rng(self, need: Need, purpose: str) -> np.random.Generator:
        return seeded(self.seed, purpose, need)


def drawn(probs: np.ndarray, seed: int, need: Need) -> tuple[int, float]:
    """The first recommendation drawn from ``probs`` (seeded by the decision) and its exact probability."""
    pick = int(seeded(seed, "pick", need).choice(len(probs), p=probs))
    return pick, float(probs[pick])


def seeded(seed: int, purpose: str, need: Need) -> np.random.Generator:
    """The draws of one decision: by seed, purpose, branch, period and topic (reruns give the same bytes)."""
    digest = hashlib.sha256(f"{seed}:{purpose}:{need.branch_id}:{need.period}:{need.topic}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _note(names: tuple[str, str], effect: float, n: int) -> tuple[str, str]:
    """What a secretary reads of a candidate's record; ``names``: the weakness's topic in both languages."""
    zh_name, en_name = names
    if n == 0:
        return ("尚无本资源的采纳记录，按同类资源估计", "no adoptions of this resource yet: estimated from similar ones")
    # The effect is a share of the gap to the norm closed (learning.outcomes), not a percent of the norm.
    pct = effect * 100
    verb_zh, verb_en = ("缩小", "closed") if pct >= 0 else ("扩大", "widened")
    return (f"在类似支部中采纳后，{zh_name}与参考线的差距平均{verb_zh}{abs(pct):.0f}%（{n}次采纳）",
            f"after adoption in similar branches, the gap between {en_name} and the norm {verb_en} by "
            f"{abs(pct):.0f}% on average ({n} adoptions)")


class RandomRanker:
    """Uniform over the suitable candidates."""

    name = "random"

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        return [Scored(r, 0.0) for r in resources]

    def cache_key(self, need: Need) -> tuple | None:
        return None

    def explore(self, need: Need, ranked: list[Scored]) -> tuple[int, float]:
        rng = random.Random(f"random:{need.branch_id}:{need.period}:{need.topic}")  # noqa: S311 -- not secret
        return rng.randrange(len(ranked)), 1.0 / len(ranked)


@dataclass
class ExploringPrior:
    """The prior, exploring as the learned policy does (with an empty model): how a service serves
    before a model exists, and the learned policy before its first outcome.

    With a ``challenger`` (a model on trial: estimated better than the prior, not yet with confidence;
    ``learning.rollout.on_trial``), ``TRIAL_SHARE`` of the exploration share is the challenger's choice
    and the rest stays uniform. The prior keeps its share; every candidate keeps at least half the
    chance it had, so the log still supports a next candidate that disagrees with the challenger; and
    the challenger's own choices are logged often enough for the next comparison to say something
    about a model like it. Uniformly, each of a pool of ~180 resources had 0.3% of the choices: a first
    model was compared on effective samples of 27 to 61 (docs/effectiveness.md)."""

    epsilon: float
    seed: int
    name: str = "prior"
    prior: PriorRanker = field(default_factory=PriorRanker, repr=False, compare=False)  # its scores are kept
    challenger: LearnedRanker | None = field(default=None, repr=False, compare=False)

    def rank(self, need: Need, resources: Sequence[Resource]) -> list[Scored]:
        return self.prior.rank(need, resources)

    def cache_key(self, need: Need) -> tuple | None:
        return self.prior.cache_key(need)  # the pool and its scores are the prior's; only the draw is per need

    def distribution(self, need: Need, ranked: list[Scored]) -> np.ndarray:
        """The probability of each candidate (in ``ranked`` order, the prior's scores) to be recommended
        first: the prior's best (the first of the highest scores) with 1 - epsilon, and epsilon spread
        uniformly, or ``TRIAL_SHARE`` of it as the challenger's distribution over the same candidates.
        Without a challenger: the learned ranker's draw with an empty model and no Thompson sampling,
        without its 256 draws."""
        n = len(ranked)
        if self.challenger is None:
            probs = np.full(n, self.epsilon / n)
        else:
            own = self.challenger.rank(need, [s.resource for s in ranked])  # the same order
            probs = self.epsilon * (TRIAL_SHARE * self.challenger.distribution(need, own)
                                    + (1.0 - TRIAL_SHARE) / n)
        probs[int(np.array([s.score for s in ranked]).argmax())] += 1.0 - self.epsilon
        return probs / probs.sum()

    def explore(self, need: Need, ranked: list[Scored]) -> tuple[int, float]:
        """Index of the first recommendation in ``ranked`` and the exact probability it had."""
        return drawn(self.distribution(need, ranked), self.seed, need)


__all__ = ["DRAWS", "TRIAL_SHARE", "ExploringPrior", "LearnedRanker", "RandomRanker", "drawn", "seeded"]
