"""The multiplicative fit's penalty chosen by cross-validation grouped by branch (log_ridge_alpha="cv")."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from diagnosis_service.learning import log_link
from diagnosis_service.learning.estimator import LOG_PENALTY_GRID, EffectivenessModel
from diagnosis_service.learning.features import training_frame
from diagnosis_service.learning.outcomes import compute
from diagnosis_service.learning.persist import load, model_card, save
from tests.support.learning import frame, log_row, metrics


def branched(n=600, branches=60, seed=0):
    X, y, _ = frame(n, seed)
    return X.assign(branch_id=[f"B{i % branches:03d}" for i in range(n)]), y


def test_the_penalty_is_chosen_from_the_grid_recorded_and_the_fit_is_that_penaltys():
    X, y = branched()
    model = EffectivenessModel(log_ridge_alpha="cv").fit(X, y)
    assert model.multiplicative_ == "fitted" and model.log_ridge_alpha_ in LOG_PENALTY_GRID
    assert set(model.log_cv_) == {f"{p:g}" for p in LOG_PENALTY_GRID}
    assert model.log_cv_[f"{model.log_ridge_alpha_:g}"] == min(model.log_cv_.values())
    assert model.get_params()["log_ridge_alpha"] == "cv" and clone(model).get_params() == model.get_params()
    fixed = EffectivenessModel(log_ridge_alpha=model.log_ridge_alpha_).fit(X, y)
    assert fixed.log_coef_ == model.log_coef_ and fixed.log_intercept_ == model.log_intercept_
    assert fixed.coef_ == model.coef_  # the additive fit is not touched
    # The fixed penalties record theirs, and hold no errors.
    assert fixed.log_cv_ == {} and EffectivenessModel(log_ridge_alpha=None).fit(X, y).log_ridge_alpha_ == 4.0
    assert EffectivenessModel().log_ridge_alpha == "cv"  # the default


def test_the_choice_is_deterministic_and_follows_the_branches_not_the_rows_order():
    X, y = branched()
    one = EffectivenessModel(log_ridge_alpha="cv").fit(X, y)
    assert EffectivenessModel(log_ridge_alpha="cv").fit(X, y).state() == one.state()
    order = np.random.default_rng(1).permutation(len(X))
    shuffled = EffectivenessModel(log_ridge_alpha="cv").fit(X.iloc[order], y[order])
    assert shuffled.log_ridge_alpha_ == one.log_ridge_alpha_
    assert shuffled.log_cv_ == pytest.approx(one.log_cv_, rel=1e-4)


def test_large_data_are_cross_validated_on_every_kth_branch(monkeypatch):
    X, y = branched(900, 90)
    whole = EffectivenessModel(log_ridge_alpha="cv").fit(X, y)
    monkeypatch.setattr(log_link, "CV_MAX_ROWS", 400)  # every 3rd branch: 30 branches, 300 lists
    sub = EffectivenessModel(log_ridge_alpha="cv").fit(X, y)
    assert sub.log_ridge_alpha_ in LOG_PENALTY_GRID and sub.log_cv_ and sub.log_cv_ != whole.log_cv_
    assert EffectivenessModel(log_ridge_alpha="cv").fit(X, y).state() == sub.state()


def test_without_branches_to_fold_the_ridges_penalty_is_kept():
    X, y = branched()
    plain = EffectivenessModel(ridge_alpha=2.0, log_ridge_alpha=None).fit(X, y)
    for rows in (X.drop(columns=["branch_id"]), X.assign(branch_id=[f"B{i % 10}" for i in range(len(X))])):
        model = EffectivenessModel(ridge_alpha=2.0, log_ridge_alpha="cv").fit(rows, y)
        assert model.log_ridge_alpha_ == 2.0 and model.log_cv_ == {} and model.log_coef_ == plain.log_coef_
    # No multiplicative fit, no penalty.
    assert EffectivenessModel(log_ridge_alpha="cv", blend=0.0).fit(X, y).log_ridge_alpha_ is None
    with pytest.raises(ValueError, match="log_ridge_alpha must be"):
        EffectivenessModel(log_ridge_alpha="auto").fit(X, y)


def test_the_chosen_penalty_is_saved_and_loaded_and_older_files_lack_it(tmp_path):
    X, y = branched()
    model = EffectivenessModel(log_ridge_alpha="cv").fit(X, y)
    card = model_card(X, y, pd.DataFrame({"period": ["2025-06"]}), model, "test", {})
    assert card["log_ridge_alpha"] == model.log_ridge_alpha_ and card["log_cv"] == model.log_cv_
    path = save(model, tmp_path / "m.json", {"note": "test"})
    back, _ = load(path)
    assert back.get_params() == model.get_params() and back.state() == model.state()
    assert back.log_ridge_alpha_ == model.log_ridge_alpha_ and np.allclose(back.predict(X), model.predict(X))
    doc = json.loads(path.read_text())
    for key in ("log_ridge_alpha_", "log_cv_"):
        del doc["state"][key]
    path.write_text(json.dumps(doc))
    older, _ = load(path)
    assert older.log_ridge_alpha_ is None and older.log_cv_ == {}
    assert np.allclose(older.predict(X), model.predict(X))


def test_the_training_frame_carries_the_branch_and_the_design_ignores_it(ruleset, catalog):
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined")])
    out = compute(log, metrics({"A": [1, 30, 30, 30], "B": [1, 1, 1, 1]}), ruleset)
    X, _ = training_frame(out, catalog)
    assert list(X["branch_id"]) == ["A", "B"]
    assert "branch_id" not in training_frame(out.drop(columns=["branch_id"]), catalog)[0].columns
    rows, y = branched()
    with_branch = EffectivenessModel(log_ridge_alpha=None).fit(rows, y)
    without = EffectivenessModel(log_ridge_alpha=None).fit(rows.drop(columns=["branch_id"]), y)
    assert with_branch.state() == without.state()
