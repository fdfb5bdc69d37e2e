"""The time since the branch's last list for the same weakness: told alike when training and ranking, and
learned where an earlier remedy's effect is still moving the months a list is measured over."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.features import FEATURES, Row, one_hot, weakness_months, weakness_values
from diagnosis_service.learning.persist import fingerprint
from diagnosis_service.learning.policy import LearnedRanker
from diagnosis_service.learning.rollout import same_recipe
from diagnosis_service.learning.train import measurable
from diagnosis_service.periods import parse_period, period_str
from diagnosis_service.remedies.catalog import Resource
from diagnosis_service.remedies.history import History
from diagnosis_service.remedies.ranking import REPEAT_WINDOW
from tests.learning.test_repeats import _needs_told
from tests.support.learning import frame, log_row, metrics, need

BASE = parse_period("2025-01")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["B1", "B2"]), st.sampled_from(["theory_study", "dues"]),
                          st.sampled_from(["R1", "R2"]), st.integers(min_value=0, max_value=14)), max_size=40))
def test_the_months_at_training_are_what_the_history_tells_the_ranker(served):
    """Every list counts (its first item or another, answered or not); a list of the same month, another
    weakness or another branch does not, nor one past the window."""
    log = pd.DataFrame({"branch_id": [b for b, *_ in served], "topic": [t for _, t, _, _ in served],
                        "resource_id": [r for *_, r, _ in served], "period": [period_str(BASE + m) for *_, m in served]},
                       columns=["branch_id", "topic", "resource_id", "period"])
    months = weakness_months(log)
    for i, (b, t, _, m) in enumerate(served):
        gaps = [m - m2 for b2, t2, _, m2 in served if b2 == b and t2 == t and 1 <= m - m2 <= REPEAT_WINDOW]
        history = History()  # what the ranker knows in month m: what was served before it
        for b2, t2, r2, m2 in served:
            if m2 < m:
                history.add_month(b2, BASE + m2, t2, r2, first=r2 == "R1")
        told = history.last_on_topic(b, t, period_str(BASE + m), REPEAT_WINDOW)
        assert months[i] == float(min(gaps, default=0)) == told, (i, served)


def test_the_months_become_two_flags():
    assert [weakness_values(m) for m in (0, 1, 2, 3, 4, 6)] == [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, 1.0),
                                                                 (0.0, 0.0), (0.0, 0.0)]
    assert {weakness_values(m) for m in (None, math.nan, pd.NA, -1)} == {(0.0, 0.0)}
    features = one_hot(Row("R1", "video", "dues", True, "village", None, 30.0, 0.5, weakness_months=1))
    assert features["weakness_last_month"] == 1.0 and features["weakness_lately"] == 0.0


def test_measurable_outcomes_carry_the_months_of_the_whole_log(ruleset):
    # The first list has no measurable outcome (no metrics of the months after it); it still counts.
    early = {**log_row("B1", "adopted"), "period": "2025-02", "pidx": parse_period("2025-02")}
    later = log_row("B1", "declined")  # 2025-06
    out = measurable(pd.DataFrame([early, later]), metrics({"B1": [1, 1, 2, 2]}), ruleset, derived=True)
    assert out["period"].tolist() == ["2025-06"] and out["weakness_months"].tolist() == [4.0]


def test_the_prescriber_tells_the_ranker_the_months_since_the_weaknesss_last_list(ruleset, catalog):
    history = History()
    history.add("B1", "2025-05", "dues", "R1", first=True)  # another weakness: not this one's
    assert [n.weakness_months for n in _needs_told(ruleset, catalog, history)] == [0]
    history.add("B1", "2025-03", "theory_study", "R2", first=True)
    history.add("B1", "2025-03", "theory_study", "R4", first=False)
    assert [n.weakness_months for n in _needs_told(ruleset, catalog, history)] == [3]
    history.add("B1", "2025-04", "theory_study", "R3", first=False)  # any item of a list tells its month
    assert history.last_on_topic("B1", "theory_study", "2025-06", REPEAT_WINDOW) == 2
    history.add("B1", "2025-04", "theory_study", "R5", first=True)
    assert [n.weakness_months for n in _needs_told(ruleset, catalog, history)] == [2]
    later = History()
    later.add("B1", "2024-11", "theory_study", "R3", first=True)  # 7 months before 2025-06: past the window
    assert [n.weakness_months for n in _needs_told(ruleset, catalog, later)] == [0]


def _carried_frame(seed: int = 6):
    """A world where a remedy adopted for a weakness the month before is still moving the months the next
    list is measured over (its measured improvement 0.4 lower), and the better resource (BASE01, 0.5
    against LEC001's 0.3) is mostly shown to weaknesses that had a list last month."""
    X, _, true = frame(n=1200, seed=seed)
    rng = np.random.default_rng(seed + 1)
    rid = X["resource_id"].to_numpy()
    X["weakness_months"] = np.where(rng.random(len(X)) < np.where(rid == "BASE01", 0.85, 0.1), 1.0, 0.0)
    y = (np.where(X["adopted"].to_numpy(), [true[r] for r in rid], 0.0) - 0.4 * X["weakness_months"].to_numpy()
         + rng.normal(0, 0.05, len(X)))
    return X, y


def _carried_over(weakness_flags: bool):
    model = EffectivenessModel(weakness_flags=weakness_flags).fit(*_carried_frame())
    resources = [Resource(r, k, r, r, ("theory_study",), "online", 60, (), (), True)
                 for r, k in (("BASE01", "base"), ("LEC001", "lecturer"))]
    return model, LearnedRanker(model, epsilon=0.0, thompson=False), resources


def test_a_world_where_an_earlier_remedy_carries_over_is_told_apart_from_the_resource():
    model, ranker, resources = _carried_over(weakness_flags=True)
    assert model.coef_["weakness_last_month"] < -0.2 and "weakness_lately" not in model.coef_
    for months in (0, 1):  # the better resource first, whether the weakness had a list last month or not
        scores = {s.resource.id: s.score for s in ranker.rank(dataclasses.replace(need(), weakness_months=months),
                                                              resources)}
        assert scores["BASE01"] > scores["LEC001"], months
    # Without the flags the carried-over months are blamed on the resource shown most after them.
    blind, blind_ranker, _ = _carried_over(weakness_flags=False)
    assert not any(k.startswith("weakness_") for k in (*blind.coef_, *blind.log_coef_))
    scores = {s.resource.id: s.score for s in blind_ranker.rank(need(), resources)}
    assert scores["BASE01"] < scores["LEC001"]


def test_a_frame_from_before_the_feature_fits_as_it_always_did():
    X, y, _ = frame()
    model = EffectivenessModel(weakness_flags=True).fit(X, y)
    assert "weakness_months" not in X.columns and not any(k.startswith("weakness_") for k in model.coef_)
    same = EffectivenessModel().fit(X.assign(weakness_months=0.0), y)
    assert same.coef_ == model.coef_ and same.intercept_ == model.intercept_


def test_off_by_default_the_months_change_nothing_and_the_model_is_the_one_made_before_them():
    X, y = _carried_frame()
    default = EffectivenessModel().fit(X, y)
    assert not default.weakness_flags and not any(k.startswith("weakness_") for k in (*default.coef_,
                                                                                        *default.log_coef_))
    without = EffectivenessModel().fit(X.drop(columns=["weakness_months"]), y)  # a frame from before them
    assert fingerprint(default) == fingerprint(without) and default.state() == without.state()
    # The features it says it uses, in its card too, are the ones before them: the same recipe as a model
    # made then (a retrain of it is a refresh, not a new challenger).
    assert "weakness_months" not in default.feature_names_in_ and default.n_features_in_ == len(FEATURES) - 1
    loaded = EffectivenessModel.from_state(default.get_params(), default.state())
    assert list(loaded.feature_names_in_) == list(default.feature_names_in_)
    on = EffectivenessModel(weakness_flags=True).fit(X, y)
    assert "weakness_months" in on.feature_names_in_ and fingerprint(on) != fingerprint(default)
    old_card = {"features": [f for f in FEATURES if f != "weakness_months"], "libraries": {}, "source": "store",
                "params": {k: v for k, v in default.get_params().items() if k != "weakness_flags"}}
    new_card = {**old_card, "params": default.get_params()}
    assert same_recipe(new_card, old_card)
    assert not same_recipe({**new_card, "params": on.get_params(), "features": list(FEATURES)}, old_card)
