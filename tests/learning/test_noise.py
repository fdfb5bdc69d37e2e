"""A list counts inversely to its rule's outcome noise (learning/noise.py, ``noise_weights``): the noise
is read where a branch said it did not adopt, and a rule whose outcomes are mostly noise moves a
resource's estimate less than one whose outcomes are quiet."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.noise import WEIGHT_RANGE, noise_variances, rule_weights
from tests.support.learning import frame


def test_a_noisier_rule_weighs_less_and_a_rule_with_few_quiet_lists_stays_near_one():
    rng = np.random.default_rng(0)
    rules = pd.Series(["quiet"] * 200 + ["noisy"] * 200 + ["rare"] * 3 + ["unseen"] * 5)
    y = np.r_[rng.normal(0, 0.2, 200), rng.normal(0, 1.0, 200), rng.normal(0, 1.0, 3), np.zeros(5)]
    quiet = np.r_[np.ones(403, bool), np.zeros(5, bool)]  # the last rule's lists were all adopted
    weights, by_rule = rule_weights(rules, y, quiet)
    assert by_rule["quiet"] > 1 > by_rule["noisy"] and by_rule["quiet"] / by_rule["noisy"] > 5
    assert abs(by_rule["rare"] - 1) < abs(by_rule["noisy"] - 1), "3 lists: shrunk toward the pooled noise"
    assert "unseen" not in by_rule and (weights[-5:] == 1.0).all()
    assert weights.min() >= WEIGHT_RANGE[0] and weights.max() <= WEIGHT_RANGE[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(-5, 5)), min_size=0, max_size=40),
       st.floats(0.5, 50))
def test_variances_are_shrunk_between_the_rules_own_and_the_pooled(rows, strength):
    rules = pd.Series([r for r, _ in rows], dtype=object)
    y = np.array([v for _, v in rows], dtype=float)
    pooled, shrunk = noise_variances(rules, y, np.ones(len(rows), bool), strength)
    for rule, variance in shrunk.items():
        own = pd.Series(y[(rules == rule).to_numpy()]).var(ddof=1)
        own = 0.0 if own != own else own
        low, high = sorted((own, pooled))
        assert low - 1e-9 <= variance <= high + 1e-9
    weights, _ = rule_weights(rules, y, np.ones(len(rows), bool), strength)
    assert len(weights) == len(rows) and np.isfinite(weights).all()


def test_a_rule_of_pure_noise_moves_the_estimates_less_with_noise_weights():
    X, y, true = frame(n=600, seed=1)
    rng = np.random.default_rng(2)
    noisy_X, _, _ = frame(n=600, seed=3)
    noisy_y = rng.normal(0, 1.5, 600)  # outcomes that say nothing of the resources
    both_X = pd.concat([X.assign(rule="quiet"), noisy_X.assign(rule="noisy")], ignore_index=True)
    both_y = np.r_[y, noisy_y]
    quiet_only = EffectivenessModel(noise_weights=False).fit(X.assign(rule="quiet"), y)
    rows = X.assign(rule="quiet").drop_duplicates("resource_id")
    reference = quiet_only.predict_effect(rows)
    errors = {}
    for on in (False, True):
        model = EffectivenessModel(noise_weights=on).fit(both_X, both_y)
        errors[on] = float(np.abs(model.predict_effect(rows) - reference).mean())
    assert errors[True] < errors[False] / 2, errors
