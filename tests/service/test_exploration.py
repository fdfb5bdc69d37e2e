"""Before a model exists the service's prior explores (DIAGNOSIS_PRIOR_EXPLORATION): half the time the
first item of a list is drawn uniformly, and the probability each list had is logged with it. Once a
model serves, DIAGNOSIS_LEARNED_EXPLORATION says how often its first item is drawn uniformly."""

from dataclasses import replace

from sqlalchemy import select

from diagnosis_service.learning.estimator import EffectivenessModel
from diagnosis_service.learning.persist import save
from diagnosis_service.service import create_app
from diagnosis_service.store.schema import results, served
from tests.support.learning import frame
from tests.support.service import settings_for


def test_before_a_model_the_prior_explores_with_logged_probabilities(fresh_service, tmp_path):
    svc = fresh_service
    plain = create_app({"SETTINGS": replace(settings_for(tmp_path / "plain"), prior_exploration=0),
                        "DATABASE_URL": svc.db.url, "TESTING": True}).test_client()
    with svc.engine.connect() as conn:
        diagnosed = sorted(conn.execute(select(results.c.period, results.c.subject_id).where(
            results.c.subject == "branch")).all())
    same = differ = 0
    for period, branch in diagnosed:
        lists = []
        for client in (svc.client, plain):
            r = client.post("/v1/prescriptions", json={"branch_id": branch, "period": period},
                            headers=svc.h("platform"))
            assert r.status_code == 201
            body = r.get_json()
            assert body["ranker"] == "prior"
            with svc.engine.connect() as conn:
                logged = {(t, rid): p for t, rid, p in conn.execute(
                    select(served.c.topic, served.c.resource_id, served.c.propensity)
                    .where(served.c.list_id == body["list_id"])).all()}
            firsts = {}
            for p in body["prescriptions"]:
                firsts.setdefault(p["topic"], p["resource_id"])
            lists.append({t: (rid, logged[t, rid]) for t, rid in firsts.items()})
        exploring, prior = lists
        assert exploring.keys() == prior.keys()
        for topic, (rid, propensity) in exploring.items():
            assert prior[topic][1] == 1.0  # the plain prior: its best, always
            if rid == prior[topic][0]:  # the prior's best: half the time, plus its share of the uniform half
                same += 1
                assert 0.5 < propensity < 1
            else:  # drawn uniformly among n candidates: 0.5 / n
                differ += 1
                assert 0 < propensity <= 0.25
    assert same >= 3 and differ >= 3


def first_items(client, engine, headers, branch: str, period: str) -> dict:
    """Each weakness's first recommendation in the list served to ``branch``: resource and logged probability."""
    r = client.post("/v1/prescriptions", json={"branch_id": branch, "period": period}, headers=headers)
    assert r.status_code == 201
    body = r.get_json()
    with engine.connect() as conn:
        rows = conn.execute(select(served.c.topic, served.c.resource_id, served.c.propensity)
                            .where(served.c.list_id == body["list_id"], served.c.position == 0)).all()
    return body["ranker"], {t: (rid, p) for t, rid, p in rows}


def test_the_learned_rankers_exploration_is_a_setting(fresh_service, tmp_path):
    """Uniform choice every time (1) logs 1/n for the first item of n; none (0) leaves the model's Thompson
    draws alone: shares of its 256 draws (the default, 0.02, would add 0.02 / n to each)."""
    from diagnosis_service.learning.policy import DRAWS

    svc = fresh_service
    X, y, _ = frame()
    services = {}
    for epsilon in (0.0, 1.0):
        settings = replace(settings_for(tmp_path / str(epsilon)), learned_exploration=epsilon)
        save(EffectivenessModel().fit(X, y), settings.models_dir / "effectiveness.json", {"fingerprint": "m1"})
        services[epsilon] = create_app({"SETTINGS": settings, "DATABASE_URL": svc.db.url,
                                         "TESTING": True}).test_client()
    with svc.engine.connect() as conn:
        diagnosed = sorted(conn.execute(select(results.c.period, results.c.subject_id).where(
            results.c.subject == "branch")).all())[:40]
    uniform, greedy = [], []
    for period, branch in diagnosed:
        for epsilon, out in ((1.0, uniform), (0.0, greedy)):
            ranker, firsts = first_items(services[epsilon], svc.engine, svc.h("platform"), branch, period)
            assert ranker == "learned:m1"
            out += [p for _, p in firsts.values()]
    assert len(uniform) >= 10 and len(uniform) == len(greedy)
    assert all(p <= 0.5 and abs(1 / p - round(1 / p)) < 1e-9 for p in uniform)  # 1/n, n >= 2 candidates
    assert all(abs(p * DRAWS - round(p * DRAWS)) < 1e-6 for p in greedy)
    assert any(abs(1 / p - round(1 / p)) > 1e-6 for p in greedy)
