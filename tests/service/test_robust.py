"""Generated requests at every write endpoint, each kind with its one right answer: a clear 4xx with a
path and a message for what is wrong, the success for what is right, never a 500, and nothing stored
by a refused request."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from diagnosis_service.store.schema import branch_metrics, member_metrics, served
from tests.support.service import make_service

pytestmark = pytest.mark.slow  # a few hundred generated requests

PERIOD = "2030-01"
# Text a JSON client can send as UTF-8 (lone surrogates and NUL are tests/reliability/test_inputs.py's).
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
                    texts, st.sampled_from(["B00002", "M000001", "2025-12", "dues_paid", "village"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)
not_objects = json_values.filter(lambda v: v is not None and not isinstance(v, dict))
bad_ids = st.one_of(st.none(), st.integers(), st.just(""), st.just("   "), st.text(min_size=65, max_size=70))
branch_values = st.fixed_dictionaries({}, optional={
    "theory_study_sessions": st.integers(0, 30), "dues_on_time_rate": st.floats(0, 100),
    "star_rating": st.sampled_from([None, 1, 3, 5])})
known_branch = st.sampled_from(["B00002", "B00003", "B00010"])


@pytest.fixture(scope="module")
def robust_service(tmp_path_factory):
    svc = make_service("sqlite", tmp_path_factory.mktemp("robust"), diagnose=("2025-12",))
    yield svc
    svc.close()


def counts(svc):
    with svc.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar()
                     for t in (branch_metrics, member_metrics, served))


def refused(svc, r, before, status=422):
    """The one right answer for a bad request: this status, problem+json naming where, nothing stored."""
    assert r.status_code == status, r.get_json()
    body = r.get_json()
    assert r.mimetype == "application/problem+json" and body["status"] == status and body["detail"]
    assert all(e["message"] and "path" in e for e in body.get("errors", []))
    assert counts(svc) == before


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)


# ------------------------------------------------------------------ PUT /v1/periods/{period}/metrics

@SETTINGS
@given(body=not_objects)
def test_a_body_that_is_not_an_object_is_refused(robust_service, body):
    svc = robust_service
    before = counts(svc)
    refused(svc, svc.client.put(f"/v1/periods/{PERIOD}/metrics", json=body, headers=svc.h("platform")), before)


@SETTINGS
@given(extra=texts.filter(lambda k: k and k not in ("branches", "members")), value=json_values)
def test_an_unknown_field_is_refused_and_named(robust_service, extra, value):
    svc = robust_service
    before = counts(svc)
    r = svc.client.put(f"/v1/periods/{PERIOD}/metrics", json={extra: value, "branches": []}, headers=svc.h("platform"))
    refused(svc, r, before)
    assert r.get_json()["errors"][0]["path"] == extra[:100]


@SETTINGS
@given(rows=st.one_of(st.dictionaries(st.text(max_size=4), scalars, max_size=2), st.text(), st.integers(),
                      st.booleans()))
def test_rows_that_are_not_a_list_are_refused(robust_service, rows):
    svc = robust_service
    before = counts(svc)
    refused(svc, svc.client.put(f"/v1/periods/{PERIOD}/metrics", json={"branches": rows}, headers=svc.h("platform")),
            before)


@SETTINGS
@given(good=st.lists(st.tuples(known_branch, branch_values), max_size=2, unique_by=lambda t: t[0]), bad=bad_ids,
       at=st.integers(0, 2))
def test_a_row_without_a_good_id_is_refused_whole_and_named(robust_service, good, bad, at):
    svc = robust_service
    before = counts(svc)
    rows = [{"branch_id": b, **v} for b, v in good]
    index = min(at, len(rows))
    rows.insert(index, {"branch_id": bad, "theory_study_sessions": 1})
    r = svc.client.put(f"/v1/periods/{PERIOD}/metrics", json={"branches": rows}, headers=svc.h("platform"))
    refused(svc, r, before)
    assert f"branches[{index}].branch_id" in [e["path"] for e in r.get_json()["errors"]]


@SETTINGS
@given(branch=known_branch, column=st.sampled_from(["dues_paid", "theory_study_sesions", "branch", "x", "member_id"]),
       value=scalars)
def test_an_unknown_column_is_refused_with_its_path(robust_service, branch, column, value):
    svc = robust_service
    before = counts(svc)
    r = svc.client.put(f"/v1/periods/{PERIOD}/metrics", json={"branches": [{"branch_id": branch, column: value}]},
                       headers=svc.h("platform"))
    refused(svc, r, before)
    assert f"branches[0].{column}" in [e["path"] for e in r.get_json()["errors"]]


@SETTINGS
@given(branch=known_branch, value=st.one_of(st.floats(100.001, 1e6), st.floats(-1e6, -0.001), st.booleans(),
                                           st.sampled_from(["many", "1,5", "1_000", "五十", "inf", "nan", "0x10", "1e9",
                                                            "50%", "--1", "１００"])))
def test_a_value_out_of_range_or_not_a_number_is_refused(robust_service, branch, value):
    svc = robust_service
    before = counts(svc)
    r = svc.client.put(f"/v1/periods/{PERIOD}/metrics", json={"branches": [{"branch_id": branch,
                                                                            "dues_on_time_rate": value}]},
                       headers=svc.h("platform"))
    refused(svc, r, before)
    assert "branches[0].dues_on_time_rate" in [e["path"] for e in r.get_json()["errors"]]


@SETTINGS
@given(rows=st.lists(st.tuples(known_branch, branch_values), min_size=1, max_size=3, unique_by=lambda t: t[0]))
def test_good_rows_are_stored(robust_service, rows):
    svc = robust_service
    r = svc.client.put(f"/v1/periods/{PERIOD}/metrics", json={"branches": [{"branch_id": b, **v} for b, v in rows]},
                       headers=svc.h("platform"))
    assert r.status_code == 200, r.get_json()
    out = r.get_json()["branches"]
    assert out["inserted"] + out["updated"] + out["unchanged"] == len(rows)


# ------------------------------------------------------------------ POST /v1/events

valid_event = st.fixed_dictionaries({"subject": st.just("member"), "id": st.just("M000001"),
                                     "period": st.just("2025-12"),
                                     "values": st.fixed_dictionaries({"dues_paid": st.sampled_from([0, 1])})})


@SETTINGS
@given(event=valid_event, field=st.sampled_from(["subject", "id", "period", "values"]),
       wrong=st.one_of(st.none(), st.integers(), st.just(""), st.just("2025-13"), st.just({}), st.just("x")))
def test_an_event_with_a_bad_field_is_refused_and_names_it(robust_service, event, field, wrong):
    svc = robust_service
    if field == "id" and isinstance(wrong, str) and wrong not in ("",):
        wrong = 3  # a string id is a well-formed id (unknown ones are 404, below)
    before = counts(svc)
    r = svc.client.post("/v1/events", json={**event, field: wrong}, headers=svc.h("platform"))
    refused(svc, r, before)
    assert field in [e["path"] for e in r.get_json()["errors"]]


@SETTINGS
@given(event=valid_event, sid=st.sampled_from(["M999999", "B09999"]))
def test_an_event_of_an_unknown_subject_is_not_found(robust_service, event, sid):
    svc = robust_service
    before = counts(svc)
    refused(svc, svc.client.post("/v1/events", json={**event, "id": sid}, headers=svc.h("platform")), before, 404)


@SETTINGS
@given(event=valid_event)
def test_an_event_before_its_period_is_diagnosed_conflicts_and_a_good_one_is_applied(robust_service, event):
    svc = robust_service
    before = counts(svc)
    refused(svc, svc.client.post("/v1/events", json={**event, "period": "2025-06"}, headers=svc.h("platform")), before,
            409)
    r = svc.client.post("/v1/events", json=event, headers=svc.h("platform"))
    assert r.status_code == 200 and r.get_json()["id"] == "M000001", r.get_json()


# ------------------------------------------------------------------ the other write endpoints

@SETTINGS
@given(body=json_values.filter(lambda v: v is not None and not (isinstance(v, dict) and "period" in v)))
def test_any_other_body_gets_its_one_answer(robust_service, body):
    """No generated value is a good request for these endpoints, so each has one answer: 422, except
    feedback on a prescription that does not exist (404)."""
    svc = robust_service
    before = counts(svc)
    for method, path, who, status in (("post", "/v1/prescriptions", "platform", 422),
                                      ("post", "/v1/prescriptions/999999/feedback", "platform", 404),
                                      ("post", "/v1/rules/preview", "admin", 422),
                                      ("put", "/v1/rules", "admin", 422), ("post", "/v1/diagnoses", "platform", 422)):
        refused(svc, getattr(svc.client, method)(path, json=body, headers=svc.h(who)), before, status)


def test_a_missing_body_is_a_bad_request(robust_service):
    svc = robust_service
    for method, path, who in (("put", f"/v1/periods/{PERIOD}/metrics", "platform"), ("post", "/v1/events", "platform"),
                              ("post", "/v1/prescriptions", "platform"), ("post", "/v1/diagnoses", "platform")):
        refused(svc, getattr(svc.client, method)(path, headers=svc.h(who)), counts(svc), 400)


yaml_texts = st.one_of(st.text(max_size=60), st.sampled_from([
    "rules: [", "version: 1\nrules: []\n", "rules:\n  - id: x\n", "a: &x 1\nb: *x\n", "- 1\n- 2\n",
    "version: 1\nrules:\n  - id: r\n    subject: member\n    when: {indicator: dues_paid, op: eq, value: 0}\n",
    "\ufeffversion: 1\n", "rules: !!python/object:os.system x\n"]), st.none())
rule_files = st.dictionaries(st.sampled_from(["member_lamps.yaml", "new.yaml", "tests/new_test.yaml", "../a.yaml",
                                              "indicators.yaml", "tests/", "x.txt"]), yaml_texts, max_size=3)


@SETTINGS
@given(files=rule_files, comment=st.one_of(st.none(), st.text(max_size=5)))
def test_publishing_agrees_with_validation(robust_service, files, comment):
    """Validate answers 200 (with the verdict) for any set of files it can merge, 422 for one it cannot;
    publishing then answers exactly as the verdict says: 201 for a valid change, 409 for no change,
    422 for invalid files or a missing comment."""
    svc = robust_service
    mergeable = bool(files) and all(text is not None or name in ("member_lamps.yaml",) for name, text in files.items())
    v = svc.client.post("/v1/rules/validate", json={"files": files}, headers=svc.h("admin"))
    assert v.status_code == (200 if mergeable else 422), v.get_json()
    p = svc.client.put("/v1/rules", json={"files": files, "comment": comment}, headers=svc.h("admin"))
    good_comment = isinstance(comment, str) and comment.strip() != ""
    if not mergeable or not good_comment or not v.get_json()["valid"]:
        expected = 422
    else:
        active = svc.client.get("/v1/rules", headers=svc.h("admin")).get_json()["files"]
        expected = 409 if all(active.get(n) == t for n, t in files.items()) else 201
    assert p.status_code == expected, (p.status_code, p.get_json())
    if p.status_code == 201:  # a valid change was published: put the original back for the next example
        assert svc.client.post("/v1/rules/versions/1/activate", headers=svc.h("admin")).status_code == 200
