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
