"""The effectiveness model's parts: outcomes on hand-made cases, the estimator contract, exact
propensities, persistence and the fallback to the prior, off-policy estimates on a known bandit."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from diagnosis_service.learning.estimator import (
    FEATURES,
    EffectivenessModel,
    LearnedRanker,
    ModelError,
    load,
    save,
    training_frame,
)
from diagnosis_service.learning.ope import estimate
from diagnosis_service.learning.outcomes import compute
from diagnosis_service.remedies.catalog import load_catalog
from diagnosis_service.remedies.prescribe import Prescriber
from diagnosis_service.remedies.ranking import Need
from tests.conftest import REPO


@pytest.fixture(scope="module")
def catalog(ruleset):
    return load_catalog(REPO / "resources_catalog", ruleset.registry)


def log_row(branch, status, value=1.0, reference=2.0, btype="village", topic="theory_study",
            rule="theory_study_below_average", indicator="theory_study_sessions", resource="BASE09"):
    return {"branch_id": branch, "period": "2025-06", "pidx": 2025 * 12 + 5, "topic": topic, "rule": rule,
            "indicator": indicator, "resource_id": resource, "kind": "base", "propensity": 1.0, "status": status,
            "branch_type": btype, "street": "古林镇", "members": 30, "value": value, "reference": reference}


def metrics(rows):
    """rows: branch -> list of theory_study_sessions for months 2025-06.."""
    out = []
    for branch, values in rows.items():
        for h, v in enumerate(values):
            out.append({"branch_id": branch, "pidx": 2025 * 12 + 5 + h, "theory_study_sessions": v})
    return pd.DataFrame(out)


def test_outcome_is_the_change_against_comparable_non_adopters(ruleset):
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined"), log_row("C", "ignored"),
                        log_row("D", "completed", value=0.0, reference=4.0)])
    m = metrics({"A": [1, 3, 3, 3], "B": [1, 1, 2, 1], "C": [1, 2, 2, 2], "D": [0, 2, 2, 2]})
    out = compute(log, m, ruleset, horizon=3).set_index("branch_id")
    # A: own change 2; control (B, C): mean of (1/3, 1) = 2/3; gap |2 - 1| = 1.
    assert out.loc["A", "own_change"] == pytest.approx(2.0)
    assert out.loc["A", "control_change"] == pytest.approx(2 / 3)
    assert out.loc["A", "improvement"] == pytest.approx(4 / 3)
    # D (completed counts as adopted): own 2, same control, gap 4 -> (2 - 2/3) / 4.
    assert out.loc["D", "improvement"] == pytest.approx((2 - 2 / 3) / 4)
    assert list(out["adopted"]) == [True, False, False, True]
    # Declined and ignored stay apart.
    assert set(out["status"]) == {"adopted", "declined", "ignored", "completed"}


def test_outcomes_follow_the_rule_direction_and_need_later_months(ruleset):
    # A "greater than" rule: lower is better (no such shipped branch rule: use a made-up one by id).
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined")])
    m = metrics({"A": [1], "B": [1]})  # no later month
    out = compute(log, m, ruleset, horizon=3)
    assert out["improvement"].isna().all()
    m2 = metrics({"A": [1, 3], "B": [1, 1]})
    out2 = compute(log, m2, ruleset, horizon=3)
    assert out2.set_index("branch_id").loc["A", "improvement"] == pytest.approx(2.0)


def overlapping_district(n=600, months=14, effect=0.5, seed=0, levels=0.0):
    """Every branch weak every month (gap 1); a secretary who did not adopt last month adopts more often
    this month, so the non-adopters' later months carry more remedies than the adopters': the bias
    an outcome must not have. Each adopted remedy lifts the next three months by ``effect``."""
    rng = np.random.default_rng(seed)
    base = 2025 * 12
    values = rng.normal(0.0, levels, (n, 1)) + rng.normal(0.0, 0.4, (n, months))  # a level per branch + noise
    adopted = np.zeros((n, months), dtype=bool)
    for t in range(3, months - 3):
        adopted[:, t] = rng.random(n) < np.where(adopted[:, t - 1], 0.25, 0.75)
        for h in (1, 2, 3):
            values[adopted[:, t], t + h] += effect
    log = [{**log_row(f"B{b:04d}", "adopted" if adopted[b, t] else rng.choice(["declined", "ignored"]),
                      value=values[b, t], reference=values[b, t] + 1.0),
            "period": f"2025-{t + 1:02d}" if t < 12 else f"2026-{t - 11:02d}", "pidx": base + t}
           for b in range(n) for t in range(3, months - 3)]
    rows = [{"branch_id": f"B{b:04d}", "pidx": base + t, "theory_study_sessions": values[b, t]}
            for b in range(n) for t in range(months)]
    return pd.DataFrame(log), pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_outcomes_discount_the_other_remedies_in_their_windows(ruleset, seed):
    log, m = overlapping_district(seed=seed)
    out = compute(log, m, ruleset, horizon=3)
    naive = compute(log, m, ruleset, horizon=3, rounds=0)
    adopted = out["adopted"]
    # The true effect of every adopted remedy is 0.5 of the gap. Without accounting for the others,
    # the non-adopters' later remedies make it look much smaller; with it, it is recovered.
    assert naive.loc[adopted, "improvement"].mean() < 0.4
    assert out.loc[adopted, "improvement"].mean() == pytest.approx(0.5, abs=0.03)
    # Not adopted: no effect of their own, measured as none.
    assert out.loc[~adopted, "improvement"].mean() == pytest.approx(0.0, abs=1e-9)
    # The discounted share is reported, and zero where no other remedy is near.
    assert (naive["other_remedies"] == 0).all() and out["other_remedies"].abs().gt(0).any()


@pytest.mark.parametrize(("levels", "effect", "weight"), [(0.0, 0.5, 0.0), (3.0, 0.5, 1.0), (0.0, 0.0, 0.0)])
def test_the_baseline_counts_as_much_as_it_predicts(ruleset, levels, effect, weight):
    # Months that are pure noise: the baseline predicts nothing and subtracting it would only add its
    # noise (weight 0). Branches with lasting levels: the baseline carries the level (weight 1). The
    # same when no remedy works.
    log, m = overlapping_district(seed=3, levels=levels, effect=effect)
    out = compute(log, m, ruleset, horizon=3)
    assert out["baseline_weight"].to_numpy() == pytest.approx(weight, abs=0.08)
    assert out.loc[out["adopted"], "improvement"].mean() == pytest.approx(effect, abs=0.03)
    assert (compute(log, m, ruleset, horizon=3, rounds=0)["baseline_weight"] == 1.0).all()


def frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    resources = ["BASE01", "BASE02", "LEC001", "VID001"]
    kinds = {"BASE01": "base", "BASE02": "base", "LEC001": "lecturer", "VID001": "video"}
    true = {"BASE01": 0.5, "BASE02": 0.0, "LEC001": 0.3, "VID001": 0.1}
    rid = rng.choice(resources, n)
    adopted = rng.random(n) < 0.6
    X = pd.DataFrame({"resource_id": rid, "kind": [kinds[r] for r in rid], "topic": "theory_study",
                      "main_topic": True, "branch_type": rng.choice(["village", "community"], n),
                      "street": "古林镇", "members": 30.0, "shortfall": 0.5, "adopted": adopted})
    y = np.where(adopted, [true[r] for r in rid], 0.0) + rng.normal(0, 0.1, n)
    return X, y, true


def test_the_estimator_contract():
    X, y, true = frame()
    model = EffectivenessModel(prior_strength=3.0)
    assert model.get_params() == {"prior_strength": 3.0, "adoption_strength": 10.0, "ridge_alpha": 2.0}
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


def need(topic="theory_study"):
    return Need("B1", "village", "古林镇", "2025-06", topic, "theory_study_below_average", "theory_study_sessions",
                "yellow", 1.0, 2.5, ("base", "lecturer"), 30)


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


def test_service_falls_back_to_the_prior_visibly_and_uses_a_model(fresh_service, tmp_path):
    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    ready = svc.client.get("/readyz", headers=svc.h("admin")).get_json()
    assert ready["status"] == "ready" and ready["checks"]["ranking"]["ranker"] == "prior"
    assert "no trained model" in ready["checks"]["ranking"]["fallback"]
    X, y, _ = frame()
    save(EffectivenessModel().fit(X, y), runtime.settings.models_dir / "effectiveness.json", {"fingerprint": "abc"})
    runtime.load_model()
    ready = svc.client.get("/readyz", headers=svc.h("admin")).get_json()
    assert ready["checks"]["ranking"]["ranker"] == "learned" and ready["checks"]["ranking"]["fingerprint"] == "abc"
    body = svc.client.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                           headers=svc.h("platform")).get_json()
    assert body["ranker"] == "learned"
    if body["prescriptions"]:
        assert any("采纳" in p["reason_zh"] or "同类资源" in p["reason_zh"] for p in body["prescriptions"])


def test_train_and_evaluate_from_the_store(fresh_service, runner):
    """The whole path on a real database: lists served over HTTP (probabilities logged), feedback,
    later months' metrics, then `model train` and `model evaluate` from the store, and the service
    ranking with the trained model."""
    from diagnosis_service.cli.main import main

    svc = fresh_service
    c, h = svc.client, svc.h
    served, statuses = 0, ("adopted", "declined", "adopted", "completed")
    for period in ("2025-08", "2025-09"):
        assert c.post("/v1/diagnoses", json={"period": period}, headers=h("platform")).status_code == 201
        for n in range(1, 25):
            body = c.post("/v1/prescriptions", json={"branch_id": f"B{n:05d}", "period": period},
                          headers=h("platform")).get_json()
            firsts = {}  # the first recommendation of each weakness
            for p in body.get("prescriptions", []):
                firsts.setdefault(p["rule"], p["prescription_id"])
            for i, pid in enumerate(firsts.values()):
                if (n + i) % 5:  # a fifth left without feedback: ignored
                    r = c.post(f"/v1/prescriptions/{pid}/feedback", json={"status": statuses[(n + i) % 4]},
                               headers=h("platform"))
                    assert r.status_code == 201
            served += len(firsts)
    assert served > 20
    # A list shown again is the same decision, not a new one.
    assert c.post("/v1/prescriptions", json={"branch_id": "B00001", "period": "2025-09"},
                  headers=h("platform")).status_code == 201
    settings = svc.app.extensions["diagnosis"].settings
    env = {"DATABASE_URL": svc.db.url, "DIAGNOSIS_MODELS": str(settings.models_dir)}
    r = runner.invoke(main, ["model", "train"], env=env)
    assert r.exit_code == 0, r.output
    assert f"trained on {served} lists" in r.stdout and "2025-08 to 2025-09" in r.stdout
    card = json.loads((settings.models_dir / "effectiveness.card.json").read_text(encoding="utf-8"))
    assert card["data_window"] == {"from": "2025-08", "to": "2025-09"}
    ev = runner.invoke(main, ["model", "evaluate", "--json"], env=env)
    assert ev.exit_code == 0, ev.output
    result = json.loads(ev.stdout)
    assert result["logged"]["decisions"] == served
    assert [e["policy"] for e in result["estimates"]] == ["prior", "learned", "greedy", "random"]
    assert all(e["decisions"] == served and e["ips_ci95"][0] <= e["ips"] <= e["ips_ci95"][1]
               for e in result["estimates"])
    svc.app.extensions["diagnosis"].load_model()
    body = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                  headers=h("platform")).get_json()
    assert body["ranker"] == "learned"


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


def test_training_frame_clips_and_marks_adoption(ruleset, catalog):
    log = pd.DataFrame([log_row("A", "adopted"), log_row("B", "declined")])
    out = compute(log, metrics({"A": [1, 30, 30, 30], "B": [1, 1, 1, 1]}), ruleset)
    X, y = training_frame(out, catalog)
    assert list(X["adopted"]) == [True, False] and y[0] == 2.0 and bool(X["main_topic"].iloc[0])
