"""Arbitrary JSON at every write endpoint: a clear 4xx, never a 500, never a half-applied change."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from diagnosis_service.store.schema import branch_metrics, member_metrics, served
from tests.support.service import make_service

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                    st.text(max_size=8), st.sampled_from(["B00002", "M000001", "2025-12", "dues_paid", "village"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)
fields = st.sampled_from(["branch_id", "member_id", "name", "type", "street", "period", "dues_paid",
                          "theory_study_sessions", "dues_on_time_rate", "branch", ""])
rows = st.lists(st.dictionaries(fields, json_values, max_size=5), max_size=4)
bodies = st.one_of(json_values, st.fixed_dictionaries({}, optional={"branches": st.one_of(rows, json_values),
                                                                    "members": st.one_of(rows, json_values)}))
events = st.fixed_dictionaries({}, optional={
    "subject": st.sampled_from(["branch", "member", "x"]), "id": st.sampled_from(["B00002", "M000001", "", 3]),
    "period": st.sampled_from(["2025-12", "2025-13", "2024-01", 5]),
    "values": st.one_of(st.dictionaries(fields, scalars, max_size=3), json_values)})


@pytest.fixture(scope="module")
def robust_service(tmp_path_factory):
    svc = make_service("sqlite", tmp_path_factory.mktemp("robust"), diagnose=("2025-12",))
    yield svc
    svc.close()


def counts(svc):
    with svc.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar()
                     for t in (branch_metrics, member_metrics, served))


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)


@SETTINGS
@given(body=bodies)
def test_put_metrics_with_any_json(robust_service, body):
    svc = robust_service
    before = counts(svc)
    r = svc.client.put("/v1/periods/2030-01/metrics", json=body, headers=svc.h("platform"))
    assert r.status_code in (200, 400, 422), r.get_json()
    if r.status_code != 200:
        assert r.mimetype == "application/problem+json" and counts(svc) == before
        assert all(e["path"] and e["message"] for e in r.get_json().get("errors", [{"path": "x", "message": "y"}]))


@SETTINGS
@given(body=events)
def test_events_with_any_json(robust_service, body):
    r = robust_service.client.post("/v1/events", json=body, headers=robust_service.h("platform"))
    assert r.status_code in (200, 400, 404, 409, 422), r.get_json()


@SETTINGS
@given(body=json_values)
def test_prescriptions_feedback_and_rules_with_any_json(robust_service, body):
    svc = robust_service
    for method, path, who in (("post", "/v1/prescriptions", "platform"), ("post", "/v1/prescriptions/1/feedback",
                                                                           "platform"),
                              ("post", "/v1/rules/validate", "admin"), ("post", "/v1/rules/preview", "admin"),
                              ("put", "/v1/rules", "admin"), ("post", "/v1/diagnoses", "platform")):
        r = getattr(svc.client, method)(path, json=body, headers=svc.h(who))
        assert r.status_code in (200, 201, 400, 404, 409, 422), (path, r.get_json())


yaml_texts = st.one_of(st.text(max_size=60), st.sampled_from([
    "rules: [", "version: 1\nrules: []\n", "rules:\n  - id: x\n", "a: &x 1\nb: *x\n", "- 1\n- 2\n",
    "version: 1\nrules:\n  - id: r\n    subject: member\n    when: {indicator: dues_paid, op: eq, value: 0}\n",
    "\ufeffversion: 1\n", "rules: !!python/object:os.system x\n"]), st.none())
rule_files = st.dictionaries(st.sampled_from(["member_lamps.yaml", "new.yaml", "tests/new_test.yaml", "../a.yaml",
                                              "indicators.yaml", "tests/", "x.txt"]), yaml_texts, max_size=3)


@SETTINGS
@given(files=rule_files, comment=st.one_of(st.none(), st.text(max_size=5)))
def test_rule_endpoints_with_any_files(robust_service, files, comment):
    svc = robust_service
    v = svc.client.post("/v1/rules/validate", json={"files": files}, headers=svc.h("admin"))
    assert v.status_code in (200, 422), v.get_json()
    p = svc.client.put("/v1/rules", json={"files": files, "comment": comment}, headers=svc.h("admin"))
    assert p.status_code in (201, 409, 422), p.get_json()
    if p.status_code == 201:  # a valid change was published: put the original back for the next example
        svc.client.post("/v1/rules/versions/1/activate", headers=svc.h("admin"))
