"""The service ranks with the prior until a usable model is there, says so in /readyz, and learns from what it served: lists over HTTP, feedback, then `model train` and `model evaluate` from the store."""

import json

from sqlalchemy import text

from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.persist import save
from diagnosis_service.learning.policy import TRIAL_SHARE
from tests.support.learning import frame


def test_service_falls_back_to_the_prior_visibly_and_uses_a_model(fresh_service, tmp_path):
    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    ready = svc.client.get("/readyz", headers=svc.h("admin")).get_json()
    assert ready["status"] == "ready" and ready["checks"]["ranking"]["ranker"] == "prior"
    assert "no trained model" in ready["checks"]["ranking"]["fallback"]
    X, y, _ = frame()
    save(EffectivenessModel().fit(X, y), runtime.settings.models_dir / "effectiveness.json", {"fingerprint": "abc"})
    runtime.rankers.load()
    ready = svc.client.get("/readyz", headers=svc.h("admin")).get_json()
    assert ready["checks"]["ranking"]["ranker"] == "learned:abc" and ready["checks"]["ranking"]["fingerprint"] == "abc"
    body = svc.client.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                           headers=svc.h("platform")).get_json()
    assert body["ranker"] == "learned:abc"  # the model version that ranked the list
    if body["prescriptions"]:
        assert any("采纳" in p["reason_zh"] or "同类资源" in p["reason_zh"] for p in body["prescriptions"])

def test_a_model_file_that_would_not_rank_leaves_the_prior_serving(fresh_service, caplog):
    """A file that parses but lacks its learned state is refused at load, not at the first request: /readyz
    says why, the log warns (a model that is there but unusable, unlike none yet) and prescriptions keep
    coming from the prior."""
    import logging

    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    X, y, _ = frame()
    path = save(EffectivenessModel().fit(X, y), runtime.settings.models_dir / "effectiveness.json", {"fingerprint": "abc"})
    doc = json.loads(path.read_text())
    doc["state"] = []
    path.write_text(json.dumps(doc))
    logger = logging.getLogger("diagnosis_service")
    logger.addHandler(caplog.handler)
    try:
        runtime.rankers.load()
    finally:
        logger.removeHandler(caplog.handler)
    assert [r.levelname for r in caplog.records if "ranking with the prior" in r.getMessage()] == ["WARNING"]
    ranking = svc.client.get("/readyz", headers=svc.h("admin")).get_json()["checks"]["ranking"]
    assert ranking["ranker"] == "prior" and "state is not an object" in ranking["fallback"]
    r = svc.client.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=svc.h("platform"))
    assert r.status_code == 201 and r.get_json()["ranker"] == "prior"

def test_a_challenger_on_trial_makes_the_exploring_choices_until_a_model_serves(fresh_service, monkeypatch):
    """With the prior in service (exploring, as configured by default), a usable challenger file puts
    that model on trial, picked up by the running service: /readyz names it, lists record
    ``prior+learned:<fingerprint>``; a broken one is said and ignored;
    once a model serves, it alone ranks; without the file the plain exploring prior is back."""
    from diagnosis_service.service import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "MODEL_CHECK_EVERY", 0.0)  # look at the files on every request
    svc = fresh_service
    runtime = svc.app.extensions["diagnosis"]
    models = runtime.settings.models_dir
    assert runtime.settings.prior_exploration > 0

    def ranking() -> dict:
        return svc.client.get("/readyz", headers=svc.h("admin")).get_json()["checks"]["ranking"]

    def served(branch: str) -> dict:
        return svc.client.post("/v1/prescriptions", json={"branch_id": branch, "period": "2025-12"},
                               headers=svc.h("platform")).get_json()

    X, y, _ = frame()
    save(EffectivenessModel().fit(X, y), models / "challenger.json", {"fingerprint": "c1"})
    body = served("B00002")  # the request itself finds the new file
    assert body["ranker"] == "prior+learned:c1"
    now = ranking()
    assert now["ranker"] == "prior+learned:c1" and now["challenger"] == "learned:c1"
    assert now["challenger_share"] == TRIAL_SHARE * runtime.settings.prior_exploration
    assert "no trained model" in now["fallback"]
    with runtime.engine.connect() as conn:
        stored = conn.execute(text("SELECT ranker FROM served_lists WHERE branch_id = 'B00002'")).scalars().all()
    assert stored and set(stored) == {"prior+learned:c1"}
    with runtime.engine.connect() as conn:  # the trial's probabilities (tests/learning/test_policy.py: exact)
        logged = conn.execute(text("SELECT propensity FROM served WHERE branch_id = 'B00002' AND position = 0")
                              ).scalars().all()
    assert logged and all(0 < p <= 1 for p in logged)

    (models / "challenger.json").write_text("{not json", encoding="utf-8")
    now = ranking()
    assert now["ranker"] == "prior" and "challenger_problem" in now and "challenger" not in now

    save(EffectivenessModel().fit(X, y), models / "challenger.json", {"fingerprint": "c1"})
    save(EffectivenessModel().fit(X, y), models / "effectiveness.json", {"fingerprint": "m1"})
    now = ranking()
    assert now["ranker"] == "learned:m1" and "challenger" not in now
    (models / "effectiveness.json").unlink()
    (models / "challenger.json").unlink()
    assert ranking()["ranker"] == "prior" and served("B00003")["ranker"] == "prior"


def test_train_and_evaluate_from_the_store(fresh_service, runner):
    """The whole path on a real database: lists served over HTTP (probabilities logged), feedback,
    later months' metrics, then `model train` and `model evaluate` from the store, and the service
    ranking with the trained model."""
    from diagnosis_service.cli import main
    from diagnosis_service.rules import load_ruleset
    from tests.support.paths import RULES

    # A weakness measured from the members' lamps (red_member_share) has no outcome in the branch metrics
    # the model follows: its lists are served but not trained on.
    ruleset = load_ruleset(RULES)
    member_based = {i.id for i in ruleset.registry.derived("branch")
                    if next(iter(i.derived)) in ("member_share", "member_mean")}
    svc = fresh_service
    c, h = svc.client, svc.h
    served, unmeasurable, statuses = 0, 0, ("adopted", "declined", "adopted", "completed")
    for period in ("2025-08", "2025-09"):
        assert c.post("/v1/diagnoses?wait=true", json={"period": period}, headers=h("platform")).status_code == 201
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
            unmeasurable += sum(ruleset.rule(rule).indicator in member_based for rule in firsts)
    assert served > 20
    # A list shown again is the same decision, not a new one.
    assert c.post("/v1/prescriptions", json={"branch_id": "B00001", "period": "2025-09"},
                  headers=h("platform")).status_code == 201
    settings = svc.app.extensions["diagnosis"].settings
    env = {"DATABASE_URL": svc.db.url, "DIAGNOSIS_MODELS": str(settings.models_dir)}
    r = runner.invoke(main, ["model", "train", "--lang", "en"], env=env)
    assert r.exit_code == 0, r.output
    assert f"trained on {served - unmeasurable} lists" in r.stdout and "2025-08 to 2025-09" in r.stdout
    assert "none held out" in r.stderr  # two months of outcomes: nothing left to compare on
    card = json.loads((settings.models_dir / "candidate.card.json").read_text(encoding="utf-8"))
    assert card["data_window"] == {"from": "2025-08", "to": "2025-09"} and card["held_out"] is None
    assert not (settings.models_dir / "effectiveness.json").exists()  # a candidate, not yet served
    refused = runner.invoke(main, ["model", "promote", "--lang", "en"], env=env)
    assert refused.exit_code == 1 and "no held-out decisions" in refused.stderr
    assert not (settings.models_dir / "effectiveness.json").exists()
    forced = runner.invoke(main, ["model", "promote", "--lang", "en", "--force"], env=env)
    assert forced.exit_code == 0 and "by --force" in forced.stderr
    refusal, record = (json.loads(line) for line in
                       (settings.models_dir / "promotions.jsonl").read_text(encoding="utf-8").splitlines())
    assert refusal["refused"] == record["promoted"] and "no held-out decisions" in refusal["comparison"]["reason"]
    assert record["forced"] is True and record["replaced"] == "prior"
    ev = runner.invoke(main, ["model", "evaluate", "--lang", "en", "--json"], env=env)
    assert ev.exit_code == 0, ev.output
    result = json.loads(ev.stdout)
    assert result["logged"]["decisions"] == served - unmeasurable
    assert [e["policy"] for e in result["estimates"]] == ["prior", "learned", "greedy", "random"]
    assert all(e["decisions"] == served - unmeasurable and e["ips_ci95"][0] <= e["ips"] <= e["ips_ci95"][1]
               for e in result["estimates"])
    svc.app.extensions["diagnosis"].rankers.load()
    body = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                  headers=h("platform")).get_json()
    assert body["ranker"] == f"learned:{card['fingerprint']}" == record["promoted"]  # the version that ranked it


def test_each_decision_keeps_the_kinds_and_the_catalog_it_was_ranked_with(fresh_service):
    """A weakness found by several rules is ranked with every finding's remedy kinds merged (the main
    finding's first); the served log keeps them, and the off-policy estimates replay the decision with
    them, not with the logged rule's kinds alone."""
    from diagnosis_service.engine.findings import SubjectResult
    from diagnosis_service.learning.ope import contexts
    from diagnosis_service.pipeline import training
    from diagnosis_service.store import metrics as metrics_store
    from diagnosis_service.store import results as results_store

    svc = fresh_service
    for n in range(1, 25):
        assert svc.client.post("/v1/prescriptions", json={"branch_id": f"B{n:05d}", "period": "2025-12"},
                               headers=svc.h("platform")).status_code == 201
    snapshot = svc.app.extensions["diagnosis"].snapshot()
    prescriber = snapshot.prescriber()
    expected = {}
    with svc.engine.connect() as conn:
        for n in range(1, 25):
            stored = results_store.result(conn, "2025-12", "branch", f"B{n:05d}")
            street = (metrics_store.branch(conn, f"B{n:05d}") or {}).get("street")
            for need in prescriber.needs(SubjectResult.from_dict(stored), street):
                expected[(need.branch_id, need.rule)] = need.preferred_kinds
    log, _ = training.from_store(svc.engine, snapshot.ruleset)
    assert len(log) == len(expected) > 20
    got = {(r.branch_id, r.rule): tuple(r.kinds.split()) for r in log.itertuples()}
    assert got == expected
    merged = [k for k, kinds in expected.items() if kinds != snapshot.ruleset.rule(k[1]).remedy_kinds]
    assert merged, "the district should have weaknesses found by rules that prefer different kinds"
    replayed = {(log.iloc[i].branch_id, log.iloc[i].rule): need.preferred_kinds
                for i, need, _ in contexts(log, snapshot.ruleset)}
    assert replayed == expected
    # Each list keeps the stored catalog version it was served from, and that version loads again.
    assert set(log["catalog_version"]) == {snapshot.catalog_version} and snapshot.catalog_version is not None
    catalogs, warnings = training.catalogs_served(log, svc.engine, snapshot.ruleset.registry)
    assert warnings == [] and list(catalogs) == [snapshot.catalog_version]
    assert catalogs[snapshot.catalog_version].resources == snapshot.catalog.resources
    catalogs, warnings = training.catalogs_served(log.assign(catalog_version=99), svc.engine,
                                                  snapshot.ruleset.registry)
    assert catalogs == {} and warnings == ["catalog version 99 does not load (not in the store): its lists are "
                                           "judged against the catalog given"]
