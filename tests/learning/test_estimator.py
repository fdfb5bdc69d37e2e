"""The effectiveness model: scikit-learn's estimator contract, cold start, training frames and model files."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from diagnosis_service.errors import ModelError
from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.features import FEATURES, training_frame
from diagnosis_service.learning.outcomes import compute
from diagnosis_service.learning.persist import load, save
from tests.support.learning import frame, log_row, metrics


def test_the_estimator_contract():
    X, y, true = frame()
    model = EffectivenessModel(prior_strength=3.0)
    assert model.get_params() == {"prior_strength": 3.0, "adoption_strength": 20.0, "ridge_alpha": 4.0}
    assert not any(k.endswith("_") for k in vars(model)), "no learned state before fit"
    assert model.fit(X, y) is model
    assert model.n_features_in_ == len(FEATURES) and list(model.feature_names_in_) == list(FEATURES)
    twin = clone(model)
    assert twin.get_params() == model.get_params() and not hasattr(twin, "coef_")
    effects = dict(zip(X["resource_id"], model.predict_effect(X), strict=True))
    assert effects["BASE01"] > effects["LEC001"] > effects["VID001"] > effects["BASE02"] - 0.05
    pred = model.predict(X)
    assert pred.shape == (len(X),) and np.all(np.isfinite(pred))
    assert model.score(X, y) > 0.2  # R2 of the expected value: bounded by whether each list was adopted
    with pytest.raises(ValueError, match="lacks columns"):
        EffectivenessModel().fit(X.drop(columns=["adopted"]), y)

def test_a_new_resource_starts_at_its_kind_average():
    X, y, _ = frame()
    model = EffectivenessModel().fit(X, y)
    new = X.iloc[:1].assign(resource_id="BASE99", kind="base")
    bases = X[X["kind"] == "base"].iloc[:1]
    assert model.evidence("BASE99") == 0 and model.uncertainty("BASE99") > model.uncertainty("BASE01")
    kind_only = model.predict_effect(new)[0]
    assert min(model.predict_effect(bases.assign(resource_id="BASE01"))[0],
               model.predict_effect(bases.assign(resource_id="BASE02"))[0]) <= kind_only + 1e-9

def test_save_load_and_incompatible_files(tmp_path):
    X, y, _ = frame()
    model = EffectivenessModel().fit(X, y)
    path = save(model, tmp_path / "m.json", {"note": "test"})
    back, card = load(path)
    assert card == {"note": "test"} and json.loads((tmp_path / "m.card.json").read_text()) == card
    assert np.allclose(back.predict(X), model.predict(X))
    doc = json.loads(path.read_text())
    doc["libraries"]["scikit-learn"] = "0.1.0"
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="trained with scikit-learn 0.1.0"):
        load(path)
    path.write_text('{"format": 99}')
    with pytest.raises(ModelError, match="incompatible model format 99"):
        load(path)
    with pytest.raises(ModelError, match="no trained model"):
        load(tmp_path / "missing.json")

def test_training_frame_clips_and_marks_adoption(ruleset, catalog):
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined")])
    out = compute(log, metrics({"A": [1, 30, 30, 30], "B": [1, 1, 1, 1]}), ruleset)
    X, y = training_frame(out, catalog)
    assert list(X["adopted"]) == [True, False] and y[0] == 2.0 and bool(X["main_topic"].iloc[0])


def test_a_retired_resource_keeps_counting_for_its_kind_and_keeps_its_past(ruleset, catalog):
    """Retiring (active: false) changes what is prescribed, not what was learned: the resource's served
    history still shapes its kind-and-topic average, and when it returns it has its own record."""
    import dataclasses

    from diagnosis_service.remedies.catalog import Catalog

    rows = [log_row(f"A{i}", "adopted", resource="BASE09") for i in range(12)]
    rows += [log_row(f"B{i}", "adopted", resource="BASE11") for i in range(12)]
    rows += [log_row(f"C{i}", "declined", resource="BASE12") for i in range(12)]
    series = {f"A{i}": [1, 9, 9, 9] for i in range(12)} | {f"B{i}": [1, 2, 2, 2] for i in range(12)}
    series |= {f"C{i}": [1, 1, 1, 1] for i in range(12)}
    out = compute(pd.DataFrame(rows), metrics(series), ruleset)
    retired = Catalog(tuple(dataclasses.replace(r, active=False) if r.id == "BASE09" else r
                            for r in catalog.resources), catalog.streets, catalog.version, catalog.directory,
                      catalog.street_names_en)
    assert retired.get("BASE09").active is False
    X_active, y = training_frame(out, catalog)
    X_retired, y_retired = training_frame(out, retired)
    pd.testing.assert_frame_equal(X_active, X_retired)
    model = EffectivenessModel().fit(X_retired, y_retired)
    without = out[out["resource_id"] != "BASE09"]
    forgotten = EffectivenessModel().fit(*training_frame(without, retired))
    newcomer = X_retired.iloc[:1].assign(resource_id="BASE99")  # a base never served: its kind's average
    assert model.predict_effect(newcomer)[0] > forgotten.predict_effect(newcomer)[0] + 0.1
    assert model.evidence("BASE09") == 12  # it returns with its own record
    back = X_retired.iloc[:1].assign(resource_id="BASE09")
    assert model.predict_effect(back)[0] > model.predict_effect(newcomer)[0]


def test_lists_of_secretaries_who_never_answer_are_learned_from_what_followed():
    """Two fifths of the lists come from branches that never answer, though they adopt as often as the
    others: treated as not adopted, their adopters pull the zero point up and BASE01's effect down; the
    EM estimates their adoption from the outcomes and recovers the effects."""
    X, y, true = frame(n=3000, seed=4)
    rng = np.random.default_rng(9)
    silent = rng.random(len(X)) < 0.4
    said = X.assign(adopted=X["adopted"] & ~silent)  # what the log says: silent lists look "not adopted"
    naive = EffectivenessModel().fit(said, y)
    em = EffectivenessModel().fit(said.assign(silent_branch=silent), y)
    assert naive.silent_adoption_ is None
    assert em.silent_adoption_ == pytest.approx(X["adopted"][silent].mean(), abs=0.05)
    rows = X.drop_duplicates("resource_id").set_index("resource_id")
    for model, tolerance in ((em, 0.06),):
        for rid, effect in true.items():
            got = float(model.predict_effect(rows.loc[[rid]].reset_index())[0])
            assert got == pytest.approx(effect, abs=tolerance), (rid, got)
    base = rows.loc[["BASE01"]].reset_index()
    assert abs(float(naive.predict_effect(base)[0]) - true["BASE01"]) > abs(float(em.predict_effect(base)[0]) -
                                                                             true["BASE01"])
    # Their adoption is counted (as estimated), not taken as refusals.
    assert em.predict_adoption(base)[0] > naive.predict_adoption(base)[0]
    # Without silent branches the fit is exactly what it was.
    plain = EffectivenessModel().fit(said.assign(silent_branch=False), y)
    assert plain.state() == naive.state()


def test_the_silent_list_estimate_holds_when_refusals_all_measure_the_same():
    """Clipped outcomes are often exactly equal: a zero spread among refusals must neither divide by zero
    nor send every silent list back to the starting rate."""
    X, y, _ = frame(n=600, seed=2)
    rng = np.random.default_rng(3)
    silent = rng.random(len(X)) < 0.4
    y = np.where(~X["adopted"].to_numpy(), 0.0, y)  # every list not adopted measured exactly 0 (clipped)
    said = X.assign(adopted=X["adopted"] & ~silent, silent_branch=silent)
    model = EffectivenessModel().fit(said, y)
    assert model.silent_adoption_ == pytest.approx(X["adopted"][silent].mean(), abs=0.08)
    assert 0 < model.sigma_ < 0.2 and np.isfinite(model.zero_point_)
