"""The learned ranking's fast path for a row's effect: the very float the model's definition gives."""

import dataclasses
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.effects import MAX_MULTIPLICATIVE_LOG
from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.features import Row, one_hot
from tests.support.learning import frame


def _left_to_right(terms) -> float:
    """A plain sum from the left (Python 3.12's ``sum`` compensates its rounding; 3.11's does not)."""
    total = 0.0
    for term in terms:
        total += term
    return total


def _reference_effect(model, row) -> float:
    """The effect as the module docs define it: each one_hot feature times its coefficient, summed."""
    features = one_hot(row).items()
    additive = model.intercept_ + _left_to_right(model.coef_.get(name, 0.0) * value for name, value in features)
    if model.log_intercept_ is None:
        return additive
    z = model.log_intercept_ + _left_to_right(model.log_coef_.get(name, 0.0) * value for name, value in features)
    return (1.0 - model.blend) * additive + model.blend * math.exp(min(z, MAX_MULTIPLICATIVE_LOG))


_FITTED = {}


def _fitted(blend):
    if blend not in _FITTED:  # every feature varies, so that every coefficient counts
        X, y, _ = frame()
        rng = np.random.default_rng(7)
        X = X.assign(street=rng.choice(["古林镇", "S01", "S02"], len(X)), members=rng.integers(3, 90, len(X)) * 1.0,
                     shortfall=rng.random(len(X)) * 3, repeat=rng.integers(0, 2, len(X)) * 1.0,
                     repeat_kind=rng.integers(0, 2, len(X)) * 1.0, main_topic=rng.random(len(X)) < 0.7,
                     topic=rng.choice(["theory_study", "dues", "org_life"], len(X)),
                     on_site=(rng.random(len(X)) < 0.5) * 1.0, repeat_adopted=rng.integers(0, 2, len(X)) * 1.0,
                     weakness_months=rng.choice([0.0, 1.0, 2.0, 3.0, 5.0], len(X)))
        y = (y + 0.05 * X["repeat"].to_numpy() - 0.03 * X["shortfall"].to_numpy() - 0.1 * X["repeat_adopted"].to_numpy()
             + 0.2 * (X["on_site"].to_numpy() * (X["street"] == "S01").to_numpy())
             - 0.15 * (X["weakness_months"] == 1.0).to_numpy() + 0.05 * (X["weakness_months"] == 3.0).to_numpy())
        _FITTED[blend] = (X, EffectivenessModel(blend=blend, weakness_flags=True).fit(X, y))
    return _FITTED[blend]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from([0.0, 0.5]), st.lists(st.tuples(
    st.integers(0, 399), st.sampled_from(["BASE01", "BASE99", None]), st.sampled_from([None, "古林镇", "S01", "S09", math.nan]),
    st.sampled_from([None, math.nan, -3.0, 0.0, 12.0, 400.0]), st.sampled_from([math.nan, -1.0, 0.3, 9.0]),
    st.sampled_from([0.0, 1.0]), st.booleans(), st.sampled_from([0.0, 1.0, True, math.nan, None])), min_size=1,
    max_size=12))
def test_the_effect_of_a_row_is_the_sum_of_its_features_coefficients_to_the_bit(blend, picks):
    """The ranking's fast path (coefficients kept per resource, type and topic) gives the very float the
    definition gives, for seen and unseen resources and streets, missing sizes and shortfalls."""
    X, model = _fitted(blend)
    rows = []
    for i, resource, street, members, shortfall, repeat, main, site in picks:
        base = X.iloc[i]
        rows.append(Row(resource or base["resource_id"], base["kind"], base["topic"], main, base["branch_type"],
                        street, members, shortfall, repeat, 1.0 - repeat, site, repeat * (i % 2), i % 5))
    assert model.predict_rows(rows)[0] == [_reference_effect(model, r) for r in rows]
    # Twice: the second call reads what the first kept.
    assert model.predict_rows(rows)[0] == [_reference_effect(model, r) for r in rows]


def test_values_that_are_equal_but_named_apart_are_not_confused():
    """1, 1.0 and True are equal as keys but name three features (resource=1, resource=1.0, ...)."""
    X, model = _fitted(0.0)
    model = EffectivenessModel.from_state(model.get_params(), {
        **model.state(), "coef_": {**model.coef_, "resource=1": 0.5, "resource=1.0": -0.25}})
    base = X.iloc[0]
    rows = [Row(rid, base["kind"], base["topic"], True, base["branch_type"], "S01", 10.0, 0.5) for rid in (1, 1.0, True)]
    effects = model.predict_rows(rows)[0]
    assert effects == [_reference_effect(model, r) for r in rows] and len(set(effects)) == 3


def test_coefficients_kept_for_ranking_follow_a_refit_and_a_loaded_state():
    X, y, _ = frame()
    model = EffectivenessModel().fit(X, y)
    rows = [Row(r.resource_id, r.kind, r.topic, r.main_topic, r.branch_type, r.street, r.members, r.shortfall)
            for r in X.head(20).itertuples(index=False)]
    before = model.predict_rows(rows)[0]
    flipped = {**model.state(), "coef_": {k: -v for k, v in model.coef_.items()}}
    loaded = EffectivenessModel.from_state(model.get_params(), flipped)
    assert loaded.predict_rows(rows)[0] == [_reference_effect(loaded, r) for r in rows] != before
    model.fit(X, -y)  # the same object refitted: nothing kept from the first fit is used
    assert model.predict_rows(rows)[0] == [_reference_effect(model, r) for r in rows] != before


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from([0.0, 0.5]), st.sampled_from([None, "古林镇", "S01", "S09", math.nan]),
       st.sampled_from([None, math.nan, -3.0, 0.0, 12.0, 400.0]), st.sampled_from([math.nan, -1.0, 0.3, 9.0]),
       st.sampled_from(["village", "community", None]), st.lists(st.tuples(
           st.integers(0, 399), st.sampled_from(["BASE01", "BASE99", None]), st.sampled_from([0.0, 1.0]),
           st.sampled_from([0.0, 1.0]), st.booleans(), st.sampled_from([0.0, 1.0])), min_size=1, max_size=12),
       st.sampled_from([0, 1, 2, 3, 5, math.nan]))
def test_a_needs_candidates_get_the_floats_of_their_rows(blend, street, members, shortfall, branch_type, picks, months):
    """The ranking's per-need path gives, for each candidate, the effect, adoption, evidence and uncertainty
    that the row-by-row definitions give: first met and kept, and for a branch type that is not text."""
    X, model = _fitted(blend)
    topic = X.iloc[picks[0][0]]["topic"]
    btype = X.iloc[picks[0][0]]["branch_type"] if branch_type is None else branch_type
    candidates = [(resource or X.iloc[i]["resource_id"], X.iloc[i]["kind"], main) for i, resource, _, _, main, _ in picks]
    repeat, repeat_kind, site = [p[2] for p in picks], [p[3] for p in picks], [p[5] for p in picks]
    adopted = [p[2] * p[3] for p in picks]  # adopted lately: shown lately too, and not always
    rows = [Row(rid, kind, topic, main, btype, street, members, shortfall, rep, krep, on, done, months)
            for (rid, kind, main), rep, krep, on, done in zip(candidates, repeat, repeat_kind, site, adopted,
                                                              strict=True)]
    effects, adoption = model.predict_rows(rows)
    expected = [(e, p, model.evidence(r.resource_id, topic), model.uncertainty(r.resource_id))
                for r, e, p in zip(rows, effects, adoption, strict=True)]
    for _ in range(2):  # the second call reads what the first kept
        assert model.predict_candidates(topic, btype, street, members, shortfall, candidates, repeat,
                                        repeat_kind, site, adopted, months) == expected
    assert [e for e, *_ in expected] == [_reference_effect(model, r) for r in rows]
    # A branch type that is not text (a number read from a file) is never kept by its text, yet computed alike.
    odd = [dataclasses.replace(r, branch_type=3) for r in rows]
    assert [e for e, *_ in model.predict_candidates(topic, 3, street, members, shortfall, candidates, repeat,
                                                     repeat_kind, site, adopted, months)] == [_reference_effect(model, r)
                                                                                      for r in odd]
    # Without on_site, repeat_adopted and the weakness's months: nothing on site, nothing adopted and no
    # earlier list for the weakness, as rows without them.
    plain = [dataclasses.replace(r, on_site=0.0, repeat_adopted=0.0, weakness_months=0.0) for r in rows]
    assert [e for e, *_ in model.predict_candidates(topic, btype, street, members, shortfall, candidates, repeat,
                                                     repeat_kind)] == [_reference_effect(model, r) for r in plain]


def test_kept_candidate_terms_follow_a_refit_and_a_changed_parameter():
    X, y, _ = frame()
    model = EffectivenessModel().fit(X, y)
    base = X.iloc[0]
    args = (base["topic"], base["branch_type"], "S01", 30.0, 0.4, [(base["resource_id"], base["kind"], True)], [0.0],
            [1.0])
    before = model.predict_candidates(*args)
    model.fit(X, -y)  # refitted in place: the kept sums of the first fit must not be used
    row = Row(base["resource_id"], base["kind"], base["topic"], True, base["branch_type"], "S01", 30.0, 0.4, 0.0, 1.0)
    assert model.predict_candidates(*args)[0][0] == _reference_effect(model, row) != before[0][0]
    uncertainty = model.predict_candidates(*args)[0][3]
    model.set_params(prior_strength=50.0)  # the uncertainty depends on it, and it is not fitted state
    assert model.predict_candidates(*args)[0][3] == model.uncertainty(base["resource_id"]) < uncertainty
