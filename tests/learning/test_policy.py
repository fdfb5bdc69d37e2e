"""The learned policy's propensities, and off-policy estimates on a bandit whose values are known."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.ope import estimate
from diagnosis_service.learning.policy import LearnedRanker
from diagnosis_service.remedies.prescribe import Prescriber
from tests.support.learning import frame, need
from tests.support.paths import CATALOG, RULES


def _resources():
    from diagnosis_service.remedies.catalog_files import load_catalog
    from diagnosis_service.rules import load_ruleset

    return load_catalog(CATALOG, load_ruleset(RULES).registry).resources[:12]


CATALOG_RESOURCES = _resources()  # the shipped catalog's first resources


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(epsilon=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_propensities_are_exact_and_sum_to_one(catalog, ruleset, epsilon, seed):
    X, y, _ = frame(seed=seed % 7)
    ranker = LearnedRanker(EffectivenessModel().fit(X, y), epsilon=epsilon, seed=seed)
    pool = [r for r in catalog.for_topic("theory_study") if r.active and r.suits("village", "古林镇")]
    ranked = sorted(ranker.rank(need(), pool), key=lambda s: (-s.score, s.resource.id))
    probs = ranker.distribution(need(), ranked)
    assert math.isclose(probs.sum(), 1.0, rel_tol=1e-9) and np.all(probs >= epsilon / len(pool) - 1e-12)
    index, p = ranker.explore(need(), ranked)
    assert p == pytest.approx(probs[index])
    assert ranker.explore(need(), ranked) == (index, p), "seeded: the same need gets the same draw"
    # Through the prescriber: the chosen list's probability is what is logged.
    choice = Prescriber(catalog, ruleset, ranker).choose(need())
    assert choice.prescriptions[0].resource_id == ranked[index].resource.id and choice.propensity == pytest.approx(p)

def test_off_policy_estimates_recover_a_known_bandit():
    """Three actions with known mean rewards, logged with known probabilities."""
    rng = np.random.default_rng(3)
    means = np.array([0.2, 0.5, 0.1])
    logging = np.array([0.6, 0.2, 0.2])
    n = 20_000
    a = rng.choice(3, n, p=logging)
    r = means[a] + rng.normal(0, 0.3, n)
    for target, truth in (([0, 1, 0], 0.5), ([1 / 3] * 3, means.mean()), ([1, 0, 0], 0.2)):
        est = estimate("t", r, logging[a], np.array(target)[a], boot=200)
        assert est.ips_ci[0] <= truth <= est.ips_ci[1]
        assert abs(est.snips - truth) < 0.03
    ones = estimate("logged", r, logging[a], logging[a], boot=50)  # the logging policy itself: weights 1
    assert ones.effective_sample_size == pytest.approx(n)


@settings(max_examples=80, deadline=None)
@given(scores=st.lists(st.sampled_from([0.0, 0.5, 0.57, 0.6, 0.9, 1.0, -0.2]), min_size=1, max_size=12),
       epsilon=st.sampled_from([0.0, 0.02, 0.5, 1.0]), seed=st.integers(0, 3),
       branch=st.sampled_from(["B1", "B2", "B00017"]), topic=st.sampled_from(["theory_study", "org_life"]))
def test_the_exploring_prior_draws_what_the_learned_ranker_with_an_empty_model_draws(scores, epsilon, seed, branch,
                                                                                    topic):
    # Its explore is written out (no 256 Thompson draws of zero width); the picks and the logged
    # probabilities must stay those of the learned ranker it stands for, ties included.
    import dataclasses

    from diagnosis_service.learning.policy import ExploringPrior
    from diagnosis_service.remedies.ranking import Scored

    catalog = CATALOG_RESOURCES[: len(scores)]
    ranked = [Scored(r, s) for r, s in zip(catalog, scores, strict=True)]
    asked = dataclasses.replace(need(topic), branch_id=branch)
    old = LearnedRanker(EffectivenessModel(), epsilon, seed, thompson=False).explore(asked, ranked)
    assert ExploringPrior(epsilon, seed).explore(asked, ranked) == old


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(epsilon=st.sampled_from([0.0, 0.1, 0.5, 1.0]), learned_epsilon=st.sampled_from([0.0, 0.05, 1.0]),
       seed=st.integers(0, 1000), topic=st.sampled_from(["theory_study", "org_life"]), recent=st.integers(0, 4))
def test_a_challenger_on_trial_makes_part_of_the_exploring_choices_with_exact_probabilities(
        catalog, ruleset, epsilon, learned_epsilon, seed, topic, recent):
    """The prior keeps 1 - epsilon on its best; of epsilon, TRIAL_SHARE follows the challenger's own
    distribution over the same candidates and the rest stays uniform; the probability the prescriber
    logs (after its repeat filter) is the one off-policy evaluation replays."""
    from diagnosis_service.learning.ope import distribution
    from diagnosis_service.learning.policy import TRIAL_SHARE, ExploringPrior
    from diagnosis_service.remedies.history import History

    X, y, _ = frame(seed=seed % 5)
    challenger = LearnedRanker(EffectivenessModel().fit(X, y), epsilon=learned_epsilon, seed=seed)
    plain, trial = ExploringPrior(epsilon, seed), ExploringPrior(epsilon, seed, challenger=challenger)
    asked = need(topic)
    pool = [r for r in catalog.for_topic(topic) if r.active and r.suits("village", "古林镇")]
    ranked = sorted(plain.rank(asked, pool), key=lambda s: (-s.score, s.resource.id))
    mixed = trial.distribution(asked, ranked)
    own = challenger.distribution(asked, challenger.rank(asked, [s.resource for s in ranked]))
    best = int(np.array([s.score for s in ranked]).argmax())
    expected = epsilon * (TRIAL_SHARE * own + (1.0 - TRIAL_SHARE) / len(ranked))
    expected[best] += 1.0 - epsilon
    assert mixed == pytest.approx(expected, abs=1e-12) and math.isclose(mixed.sum(), 1.0, rel_tol=1e-9)
    if epsilon > 0:  # every candidate keeps at least half its uniform chance: the log supports any policy
        assert np.all(mixed >= (1.0 - TRIAL_SHARE) * epsilon / len(ranked) - 1e-15)
    index, p = trial.explore(asked, ranked)
    assert p == pytest.approx(mixed[index]) and trial.explore(asked, ranked) == (index, p)
    if epsilon == 0.0:
        assert trial.explore(asked, ranked) == plain.explore(asked, ranked) == (best, 1.0)
    # Through the prescriber, with some resources served to the branch the month before (left out):
    # the first item and its logged probability are what ope.distribution replays among the same candidates.
    served = History()
    shown = {s.resource.id for s in ranked[:recent]}
    for rid in shown:
        served.add(asked.branch_id, "2025-05", topic, rid, first=False)
    choice = Prescriber(catalog, ruleset, trial).choose(asked, served)
    replayed = distribution(catalog, trial, asked, shown)
    first = choice.prescriptions[0].resource_id
    assert choice.propensity == pytest.approx(replayed[first], rel=1e-12)
    assert (first not in shown or len(shown) == len(ranked)) and math.isclose(sum(replayed.values()), 1.0)


def test_a_challenger_on_trial_takes_its_part_of_the_exploring_share_to_its_favourite(catalog):
    """Over many branches, the challenger's favourite is picked about epsilon x TRIAL_SHARE of the time,
    where uniform exploration gave it epsilon / n; the prior's best keeps about 1 - epsilon."""
    import dataclasses

    from diagnosis_service.learning.policy import TRIAL_SHARE, ExploringPrior

    X, y, _ = frame(seed=1)
    challenger = LearnedRanker(EffectivenessModel().fit(X, y), epsilon=0.0, thompson=False)
    trial = ExploringPrior(0.5, 0, challenger=challenger)
    pool = [r for r in catalog.for_topic("theory_study") if r.active and r.suits("village", "古林镇")]
    ranked = sorted(trial.rank(need(), pool), key=lambda s: (-s.score, s.resource.id))
    own = challenger.distribution(need(), challenger.rank(need(), [s.resource for s in ranked]))
    favourite, best = ranked[int(own.argmax())].resource.id, ranked[0].resource.id
    assert favourite != best and own.max() == 1.0, "the test needs a challenger that disagrees with the prior"
    picks = [ranked[trial.explore(dataclasses.replace(need(), branch_id=f"B{i:05d}"), ranked)[0]].resource.id
             for i in range(400)]
    share = 0.5 * TRIAL_SHARE + 0.5 * (1 - TRIAL_SHARE) / len(ranked)
    assert abs(picks.count(favourite) / len(picks) - share) < 0.08
    assert abs(picks.count(best) / len(picks) - (0.5 + 0.5 * (1 - TRIAL_SHARE) / len(ranked))) < 0.08


def test_a_reason_says_the_share_of_the_gap_closed_or_widened():
    from diagnosis_service.learning.policy import _note
    names = ("理论学习", "theory study")
    assert _note(names, 0.35, 12) == (
        "在类似支部中采纳后，理论学习与参考线的差距平均缩小35%（12次采纳）",
        "after adoption in similar branches, the gap between theory study and the norm closed by 35% on average (12 adoptions)")
    zh, en = _note(names, -0.1, 3)
    assert "扩大10%" in zh and "widened by 10%" in en


class _WithoutScores:
    """The learned ranker seen through ``rank`` and ``distribution`` only: how offline evaluation judged it
    before its fast path (``scores``), and how it judges every other ranker."""

    def __init__(self, ranker):
        self.rank, self.distribution, self.name = ranker.rank, ranker.distribution, ranker.name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 6), thompson=st.booleans(), epsilon=st.sampled_from([0.0, 0.02, 0.5]),
       topic=st.sampled_from(["theory_study", "org_life", "dues", "democratic_consultation"]),
       branch_type=st.sampled_from(["village", "community", "enterprise"]),
       street=st.sampled_from(["古林镇", "鼓楼街道", None]), members=st.sampled_from([None, 3, 30, 400]),
       value=st.sampled_from([None, 0.0, 1.0, 7.5]), picks=st.lists(st.integers(0, 60), max_size=6),
       recent_picks=st.lists(st.integers(0, 60), max_size=60))
def test_offline_evaluation_of_the_learned_ranking_without_its_notes_gives_the_same_probabilities(
        catalog, seed, thompson, epsilon, topic, branch_type, street, members, value, picks, recent_picks):
    import dataclasses

    from diagnosis_service.learning.ope import distribution

    X, y, _ = frame(seed=seed)
    ranker = LearnedRanker(EffectivenessModel().fit(X, y), epsilon=epsilon, seed=seed, thompson=thompson)
    ids = sorted(r.id for r in catalog.resources)
    base = need(topic)
    asked = dataclasses.replace(base, branch_type=branch_type, street=street, members=members, value=value,
                                recent_first=tuple((ids[p % len(ids)], 1 + p % 3) for p in picks),
                                recent_adopted=tuple(ids[p % len(ids)] for p in picks[:2]))
    recent = frozenset(ids[p % len(ids)] for p in recent_picks) | frozenset(["BASE01", "LEC001"])
    fast = distribution(catalog, ranker, asked, recent)
    slow = distribution(catalog, _WithoutScores(ranker), asked, recent)
    assert list(fast.items()) == list(slow.items())  # the same candidates, order and floats, to the bit
