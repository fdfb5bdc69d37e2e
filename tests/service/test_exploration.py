"""Before a model exists the service's prior explores (DIAGNOSIS_PRIOR_EXPLORATION): half the time the
first item of a list is drawn uniformly, and the probability each list had is logged with it."""

from dataclasses import replace

from sqlalchemy import select

from diagnosis_service.service import create_app
from diagnosis_service.store.schema import results, served
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
