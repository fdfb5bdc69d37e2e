"""The effectiveness model: scikit-learn's estimator contract, cold start, training frames and model files."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from diagnosis_service.errors import ModelError
from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.features import FEATURES, Row, one_hot, training_frame
from diagnosis_service.learning.outcomes import compute
from diagnosis_service.learning.persist import load, save
from tests.support.learning import frame, log_row, metrics


def test_the_estimator_contract():
    X, y, true = frame()
    model = EffectivenessModel(prior_strength=3.0)
    assert model.get_params() == {"prior_strength": 3.0, "adoption_strength": 20.0, "ridge_alpha": 4.0,
                                  "blend": 0.5, "adoption_offsets": True, "log_ridge_alpha": "cv",
                                  "weakness_flags": False, "noise_weights": True}
    assert not any(k.endswith("_") for k in vars(model)), "no learned state before fit"
    assert model.fit(X, y) is model
    # The features it uses: all but the weakness's months, whose flags are off by default.
    used = [f for f in FEATURES if f != "weakness_months"]
    assert model.n_features_in_ == len(used) and list(model.feature_names_in_) == used
    assert model.log_intercept_ is not None and model.log_coef_ and model.multiplicative_ == "fitted"
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


def _multiplicative(n_per=100, seed=0):
    """Effects that multiply: a resource's quality times how well its kind suits the branch type. Bases
    do 1.8x on village branches and 0.1x on community ones; lecturers 1x on both."""
    rng = np.random.default_rng(seed)
    quality = {"BASE01": 1.0, "BASE02": 0.3, "LEC001": 0.6, "LEC002": 0.4}
    suits = {("base", "village"): 1.8, ("base", "community"): 0.1, ("lecturer", "village"): 1.0,
             ("lecturer", "community"): 1.0}
    rows, y = [], []
    for rid, q in quality.items():
        kind = "base" if rid.startswith("BASE") else "lecturer"
        for branch_type in ("village", "community"):
            for _ in range(n_per):
                rows.append({"resource_id": rid, "kind": kind, "topic": "theory_study", "main_topic": True,
                             "branch_type": branch_type, "street": "古林镇", "members": 30.0, "shortfall": 0.5,
                             "adopted": True})
                y.append(q * suits[(kind, branch_type)] + rng.normal(0, 0.1))
    X = pd.DataFrame(rows)
    truth = {(r, t): q * suits[("base" if r.startswith("BASE") else "lecturer", t)]
             for r, q in quality.items() for t in ("village", "community")}
    return X, np.array(y), truth


def test_effects_that_multiply_are_ranked_by_the_blend_and_not_by_the_additive_fit_alone():
    """On community branches the best base (1.0 x 0.1) does less than the weaker lecturer (0.4): the
    additive fit gives BASE01 the same lead over BASE02 on both branch types, so it ranks BASE01 above
    LEC002 there; the blend with the multiplicative fit ranks as the truth does, and is closer to it."""
    X, y, truth = _multiplicative()
    additive = EffectivenessModel(blend=0.0).fit(X, y)
    blended = EffectivenessModel().fit(X, y)
    assert additive.log_intercept_ is None and blended.log_intercept_ is not None
    combos = X.drop_duplicates(["resource_id", "branch_type"]).reset_index(drop=True)
    true = np.array([truth[(r, t)] for r, t in zip(combos["resource_id"], combos["branch_type"], strict=True)])

    def on_community(model):
        effects = dict(zip(combos["resource_id"] + "|" + combos["branch_type"], model.predict_effect(combos),
                           strict=True))
        return sorted(("BASE01", "BASE02", "LEC001", "LEC002"), key=lambda r: -effects[f"{r}|community"])

    assert on_community(additive)[:3] == ["LEC001", "BASE01", "LEC002"]
    assert on_community(blended) == ["LEC001", "LEC002", "BASE01", "BASE02"]
    error = {name: float(np.mean((model.predict_effect(combos) - true) ** 2))
             for name, model in (("additive", additive), ("blended", blended))}
    assert error["blended"] < error["additive"] / 2, error


def test_without_a_positive_mean_effect_the_additive_fit_stands_alone():
    """A log link cannot fit a mean at or below zero: the multiplicative part is left out, quietly (the
    suite turns warnings into errors), and the estimates are the additive fit's."""
    X, y, _ = frame(n=400, seed=1)
    y = np.where(X["adopted"], -0.3, 0.0) + np.random.default_rng(2).normal(0, 0.1, len(X))  # remedies harm
    model = EffectivenessModel().fit(X, y)
    additive = EffectivenessModel(blend=0.0).fit(X, y)
    assert model.log_intercept_ is None and model.log_coef_ == {} and "not positive" in model.multiplicative_
    assert np.array_equal(model.predict_effect(X), additive.predict_effect(X))


def test_when_the_multiplicative_fit_fails_the_additive_fit_stands_alone():
    """An outcome far beyond anything measured (the service clips them to +-CLIP; ``fit`` takes any) leaves
    the log-link fit failing (L-BFGS unconverged here): the multiplicative part is left out with the reason,
    no warning escapes (the suite turns them into errors), and the estimates are the additive fit's.
    (1e100, not a smaller outcome: 1e20 converged on one machine and not on another.)"""
    X, _, _ = frame(n=400, seed=1)
    y = np.where(X["adopted"], 0.3, 0.0) + np.random.default_rng(2).normal(0, 0.1, len(X))
    y = np.where(X["adopted"] & X["resource_id"].eq("BASE01"), 1e100, y)
    model = EffectivenessModel().fit(X, y)
    additive = EffectivenessModel(blend=0.0).fit(X, y)
    assert model.log_intercept_ is None and model.log_coef_ == {}
    assert model.multiplicative_.startswith("left out: the fit failed ("), model.multiplicative_
    assert np.array_equal(model.predict_effect(X), additive.predict_effect(X))


def test_a_model_file_from_before_the_blend_loads_as_the_additive_fit(tmp_path):
    X, y, _ = frame()
    model = EffectivenessModel().fit(X, y)
    path = save(model, tmp_path / "m.json", {"note": "test"})
    doc = json.loads(path.read_text())
    del doc["params"]["blend"], doc["state"]["log_coef_"], doc["state"]["log_intercept_"], doc["state"]["multiplicative_"]
    path.write_text(json.dumps(doc))
    old, _ = load(path)
    additive = EffectivenessModel(blend=0.0).fit(X, y)
    assert old.log_intercept_ is None and old.multiplicative_.startswith("absent")
    assert np.allclose(old.predict_effect(X), additive.predict_effect(X))
    assert not np.allclose(model.predict_effect(X), additive.predict_effect(X))


def test_a_branch_without_a_street_has_one_key_whether_served_or_trained():
    """Served rows carry street None, training frames NaN: the two are the same feature, or what the model
    learned of street-less branches would never reach them."""
    served = Row("BASE01", "base", "T1", True, "rural", None, 30.0, 1.0)
    trained = pd.DataFrame([{**{f: getattr(served, f) for f in served.__slots__}, "street": np.nan}])
    row = next(trained.itertuples(index=False))
    assert one_hot(served) == one_hot(row) and "street=" in one_hot(served)
    assert "street=S01" in one_hot(Row("BASE01", "base", "T1", True, "rural", "S01", 30.0, 1.0))
    unknown_size = [one_hot(Row("BASE01", "base", "T1", True, "rural", None, m, 1.0))["log_members"]
                    for m in (float("nan"), None, -3.0, 0.0)]
    assert unknown_size == [0.0, 0.0, 0.0, 0.0]


def test_promoting_a_model_without_its_card_file_never_leaves_the_previous_card(tmp_path):
    from diagnosis_service.learning.persist import promote
    X, y, _ = frame()
    active = save(EffectivenessModel().fit(X, y), tmp_path / "models" / "effectiveness.json", {"fingerprint": "old"})
    candidate = save(EffectivenessModel(blend=0.0).fit(X, y), tmp_path / "cand.json", {"fingerprint": "new"})
    (tmp_path / "cand.card.json").unlink()  # copied without its card
    promote(candidate, active, {"promoted": "new"})
    assert json.loads(active.with_suffix(".card.json").read_text()) == {"fingerprint": "new"} == load(active)[1]
    assert (tmp_path / "models" / "history" / "effectiveness-old.json").exists()
    doc = json.loads(candidate.read_text())
    del doc["card"]
    candidate.write_text(json.dumps(doc))  # no card anywhere: none beside the active model either
    promote(candidate, active, {"promoted": "cardless"})
    assert not active.with_suffix(".card.json").exists() and load(active)[1] == {}


def test_promotion_activates_the_bytes_that_were_compared(tmp_path):
    """`model promote` compares the candidate file, then activates it: a `model train` rewriting the file
    in between must not slip its unjudged model (or card) in."""
    from diagnosis_service.learning.persist import promote
    X, y, _ = frame()
    candidate = save(EffectivenessModel().fit(X, y), tmp_path / "cand.json", {"fingerprint": "judged"})
    compared = candidate.read_bytes()
    save(EffectivenessModel(blend=0.0).fit(X, y), candidate, {"fingerprint": "unjudged"})  # a train meanwhile
    active = tmp_path / "models" / "effectiveness.json"
    promote(candidate, active, {"promoted": "judged"}, model_bytes=compared)
    assert active.read_bytes() == compared and load(active)[1] == {"fingerprint": "judged"}
    assert json.loads(active.with_suffix(".card.json").read_text()) == {"fingerprint": "judged"}


def test_a_street_where_going_on_site_works_better_is_learned_for_on_site_resources_alone():
    """Street x on-site: a base (on site) beats a video (online) in the street where visits work, and loses
    to it in the street where they do not; street main effects alone (every resource alike) could not
    rank the two apart by street."""
    rng = np.random.default_rng(3)
    n = 1200
    rid = rng.choice(["BASE01", "VID001"], n)
    street = rng.choice(["S01", "S02"], n)
    site = (rid == "BASE01") * 1.0
    adopted = rng.random(n) < 0.7
    effect = 0.3 + site * np.where(street == "S01", 0.4, -0.25)
    X = pd.DataFrame({"resource_id": rid, "kind": np.where(site == 1.0, "base", "video"), "topic": "theory_study",
                      "main_topic": True, "branch_type": "village", "street": street, "members": 30.0,
                      "shortfall": 0.5, "on_site": site, "adopted": adopted})
    y = np.where(adopted, effect, 0.0) + rng.normal(0, 0.1, n)
    model = EffectivenessModel().fit(X, y)
    assert model.coef_["onsite_street=S01"] > 0.1 > -0.1 > model.coef_["onsite_street=S02"]
    for where, first in (("S01", "BASE01"), ("S02", "VID001")):
        values = model.predict_candidates("theory_study", "village", where, 30.0, 0.5,
                                          [("BASE01", "base", True), ("VID001", "video", True)], [0.0, 0.0],
                                          [0.0, 0.0], [1.0, 0.0])
        expected = [p * e for e, p, *_ in values]
        assert ["BASE01", "VID001"][int(np.argmax(expected))] == first, (where, values)
    # Where the format is not told (a frame from before it), nothing is on site: no interaction is learned.
    blind = EffectivenessModel().fit(X.drop(columns=["on_site"]), y)
    assert not any(name.startswith("onsite_street=S") for name in blind.coef_)


def test_the_training_frame_and_a_needs_features_take_on_site_from_the_catalogs_format(catalog):
    from diagnosis_service.learning.features import features_for
    from tests.support.learning import need

    by_format = {f: next(r for r in catalog.resources if r.format == f) for f in ("on_site", "online", "self_run")}
    rows = features_for(need(), list(by_format.values()))
    assert rows["on_site"].tolist() == [1.0, 0.0, 0.0]
    outcomes = pd.DataFrame([{**log_row("B1", "adopted", resource=r.id), "kind": r.kind, "improvement": 0.5,
                              "repeat": 0.0, "repeat_kind": 0.0} for r in by_format.values()])
    X, _ = training_frame(outcomes, catalog)
    assert X["on_site"].tolist() == [1.0, 0.0, 0.0]
