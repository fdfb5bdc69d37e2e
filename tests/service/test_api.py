"""The HTTP API through Flask's test client, on SQLite and on PostgreSQL."""

import json

import pytest
from sqlalchemy import func, select

from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.service.openapi import document
from diagnosis_service.store.schema import feedback, results, served
from tests.support.diagnose import diagnose

ENDPOINTS = [
    ("get", "/v1/indicators"), ("get", "/v1/catalog/resources"),
    ("put", "/v1/periods/2025-12/metrics"), ("post", "/v1/diagnoses"), ("get", "/v1/branches/B00002/diagnosis"),
    ("get", "/v1/members/M000001/report"), ("post", "/v1/events"), ("get", "/v1/lamps"),
    ("get", "/v1/lamps/changes"), ("post", "/v1/prescriptions"), ("post", "/v1/prescriptions/1/feedback"),
    ("get", "/v1/rules"), ("post", "/v1/rules/validate"), ("post", "/v1/rules/preview"), ("put", "/v1/rules"),
    ("get", "/v1/rules/versions"), ("post", "/v1/rules/versions/1/activate"), ("get", "/v1/rankings"),
    ("get", "/v1/points"), ("post", "/v1/points/validate"), ("post", "/v1/points/preview"), ("put", "/v1/points"),
    ("get", "/v1/catalog"), ("post", "/v1/catalog/preview"), ("put", "/v1/catalog"),
    ("get", "/openapi.json"),
]


def count(engine, table, *where):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_health_needs_no_token_everything_else_does(service):
    assert service.client.get("/healthz").get_json() == {"status": "ok"}
    for method, path in ENDPOINTS:
        for headers in ({}, {"Authorization": "Bearer ds_not-a-token"}, {"Authorization": "bearer ds_x"},
                        {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}):
            r = getattr(service.client, method)(path, headers=headers)
            assert r.status_code == 401, (method, path)
            assert r.mimetype == "application/problem+json"
            body = r.get_json()
            assert body["status"] == 401 and body["title"] == "Unauthorized" and body["request_id"]
            # RFC 6750: the scheme to use, and for a token given but refused, that it was the token.
            refused = headers.get("Authorization", "").lower().startswith("bearer ds_")
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="diagnosis-service"' + (
                ', error="invalid_token"' if refused else ""), (method, path, headers)
            assert body["detail"].startswith("the token given is not valid" if refused else "a valid token is required")


def test_readyz_reports_every_check(service):
    assert service.client.get("/readyz").get_json() == {"status": "ready"}  # no token needed, no details
    assert service.client.get("/readyz", headers=service.h("secretary")).get_json() == {"status": "ready"}
    r = service.client.get("/readyz", headers=service.h("admin"))
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "ready"
    assert body["checks"]["rules"]["rules"] == 37 and body["checks"]["catalog"]["resources"] == 376
    assert body["checks"]["schema"]["revision"] == body["checks"]["schema"]["head"]


def test_indicators_and_catalog(service):
    ind = service.client.get("/v1/indicators", headers=service.h("secretary")).get_json()
    assert len(ind["branch"]) == 32 and len(ind["member"]) == 35 and len(ind["topics"]) == 9
    cat = service.client.get("/v1/catalog/resources?kind=base&topic=theory_study", headers=service.h("platform"))
    items = cat.get_json()["resources"]
    assert items and all(r["kind"] == "base" and "theory_study" in r["topics"] for r in items)
    bad = service.client.get("/v1/catalog/resources?topic=theory", headers=service.h("platform"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "query.topic"


def test_stored_diagnosis_equals_the_command_line_one(service, ruleset):
    """Import, store, load back, diagnose: the stored JSON is byte for byte the CSV path's."""
    ds = load_dir(service.data_dir, ruleset.registry)
    want = list(diagnose(ds, ruleset, "2025-12").lines())
    with service.engine.connect() as conn:
        rows = conn.execute(select(results.c.subject, results.c.subject_id, results.c.body)
                            .where(results.c.period == "2025-12")).all()
    got = [body for _, _, body in sorted(rows, key=lambda r: (r[0] != "branch", r[1]))]
    assert got == want


def test_branch_diagnosis_and_member_report_with_roles(service):
    c, h = service.client, service.h
    r = c.get("/v1/branches/B00002/diagnosis?period=2025-12", headers=h("secretary"))
    assert r.status_code == 200 and r.get_json()["id"] == "B00002"
    assert c.get("/v1/branches/B00003/diagnosis?period=2025-12", headers=h("secretary")).status_code == 403
    assert c.get("/v1/branches/B00003/diagnosis?period=2025-12", headers=h("admin")).status_code == 200
    assert c.get("/v1/branches/B99999/diagnosis?period=2025-12", headers=h("platform")).status_code == 404
    bad = c.get("/v1/branches/B00002/diagnosis?period=2025-13", headers=h("platform"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "query.period"
    assert c.get("/v1/branches/B00002/diagnosis", headers=h("platform")).status_code == 422
    ranking = c.get("/v1/rankings?period=2025-12&limit=10000", headers=h("platform")).get_json()["ranking"]
    top = ranking[0]
    rep = c.get(f"/v1/members/{top['member_id']}/report?period=2025-12", headers=h("platform")).get_json()
    assert rep["rank"]["district"] == 1 and rep["vanguard_points"] == top["vanguard_points"]
    assert rep["rank"]["district_of"] == len(ranking)
    # A secretary sees their own members only.
    own = next(m for m in ranking if m["branch_id"] == "B00002")
    other = next(m for m in ranking if m["branch_id"] != "B00002")
    assert c.get(f"/v1/members/{own['member_id']}/report?period=2025-12", headers=h("secretary")).status_code == 200
    assert c.get(f"/v1/members/{other['member_id']}/report?period=2025-12", headers=h("secretary")).status_code == 403


def test_rankings_are_ordered_and_scoped(service):
    c, h = service.client, service.h
    rows = c.get("/v1/rankings?period=2025-12&branch_id=B00002", headers=h("secretary")).get_json()["ranking"]
    assert rows and all(r["branch_id"] == "B00002" for r in rows)
    points = [r["vanguard_points_ytd"] for r in rows]
    assert points == sorted(points, reverse=True) and rows[0]["rank"] == 1
    assert c.get("/v1/rankings?period=2025-12", headers=h("secretary")).status_code == 403
    assert c.get("/v1/rankings?period=2025-12&branch_id=B00003", headers=h("secretary")).status_code == 403
    assert c.get("/v1/rankings?period=2025-12&subject=branch&branch_id=B00002",
                 headers=h("secretary")).status_code == 403
    assert c.get("/v1/rankings?period=2025-12&limit=0", headers=h("platform")).status_code == 422


def test_lamps_and_changes(service):
    c, h = service.client, service.h
    all_ = c.get("/v1/lamps?period=2025-12&limit=10000", headers=h("admin")).get_json()
    red = c.get("/v1/lamps?period=2025-12&color=red&subject=member", headers=h("admin")).get_json()
    assert red["total"] == sum(1 for x in all_["lamps"] if x["lamp"] == "red" and x["subject"] == "member")
    changes = c.get("/v1/lamps/changes?period=2025-12", headers=h("platform")).get_json()
    nov = {(x["subject"], x["id"]): x["lamp"] for x in
           c.get("/v1/lamps?period=2025-11&limit=10000", headers=h("admin")).get_json()["lamps"]}
    dec = {(x["subject"], x["id"]): x["lamp"] for x in all_["lamps"]}
    expected = sorted(k for k in dec if nov.get(k) != dec[k])
    assert sorted((x["subject"], x["id"]) for x in changes["changes"]) == expected and changes["previous"] == "2025-11"
    assert c.get("/v1/lamps?period=2025-12", headers=h("secretary")).status_code == 403
    assert c.get("/v1/lamps?period=2025-12&color=blue", headers=h("admin")).status_code == 422
    assert changes["previous_diagnosed"] is True
    # A month not diagnosed is said to be one (an empty list read as "no lamps"), on each list.
    for path in ("/v1/lamps?period=2030-01", "/v1/lamps/changes?period=2030-01", "/v1/rankings?period=2030-01"):
        r = c.get(path, headers=h("admin"))
        assert r.status_code == 404 and r.get_json()["errors"][0]["path"] == "query.period", path
        assert "has not been diagnosed" in r.get_json()["detail"]
    # 2025-11 is the first month the test service diagnosed: every subject's lamp is new there.
    first = c.get("/v1/lamps/changes?period=2025-11", headers=h("admin")).get_json()
    assert first["previous_diagnosed"] is False and all(x["from"] is None for x in first["changes"])


def test_prescriptions_are_logged_and_take_feedback(fresh_service):
    svc = fresh_service
    c, h = svc.client, svc.h
    r = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("secretary"))
    body = r.get_json()
    assert r.status_code == 201 and body["prescriptions"]
    ids = [p["prescription_id"] for p in body["prescriptions"]]
    assert count(svc.engine, served, served.c.list_id == body["list_id"]) == len(ids)
    with svc.engine.connect() as conn:
        logged = conn.execute(select(served.c.position, served.c.resource_id, served.c.score, served.c.propensity)
                              .where(served.c.list_id == body["list_id"]).order_by(served.c.position)).all()
    assert [row[1] for row in logged] == [p["resource_id"] for p in body["prescriptions"]]
    # No model yet: the prior explores, and a list's probability (that of its first item) is logged with
    # each of its items (tests/service/test_exploration.py says which).
    per_list: dict[str, set] = {}
    for p, row in zip(body["prescriptions"], logged, strict=True):
        per_list.setdefault(p["topic"], set()).add(row[3])
    assert all(len(v) == 1 and 0 < min(v) < 1 for v in per_list.values())
    topics = set(body["weaknesses"])
    assert topics == {p["topic"] for p in body["prescriptions"]}
    fb = c.post(f"/v1/prescriptions/{ids[0]}/feedback", json={"status": "adopted", "note": "下周去基地"},
                headers=h("secretary"))
    assert fb.status_code == 201 and fb.get_json()["status"] == "adopted" and "repeated" not in fb.get_json()
    # The same answer again (a double click): nothing new stored, the stored one named; another answer is kept.
    rows = count(svc.engine, feedback)
    again = c.post(f"/v1/prescriptions/{ids[0]}/feedback", json={"status": "adopted", "note": "下周去基地"},
                   headers=h("platform"))
    assert again.status_code == 201 and again.get_json() == {**fb.get_json(), "repeated": True}
    assert count(svc.engine, feedback) == rows
    other = c.post(f"/v1/prescriptions/{ids[0]}/feedback", json={"status": "adopted"}, headers=h("secretary"))
    assert "repeated" not in other.get_json() and count(svc.engine, feedback) == rows + 1  # the note differs
    assert c.post(f"/v1/prescriptions/{ids[0]}/feedback", json={"status": "adopted"},
                  headers=h("other_secretary")).status_code == 403
    assert c.post(f"/v1/prescriptions/{ids[0]}/feedback", json={"status": "maybe"},
                  headers=h("platform")).status_code == 422
    assert c.post("/v1/prescriptions/999999/feedback", json={"status": "adopted"},
                  headers=h("platform")).status_code == 404
    # A secretary cannot tell a prescription that does not exist from another branch's.
    assert c.post("/v1/prescriptions/999999/feedback", json={"status": "adopted"},
                  headers=h("secretary")).status_code == 403
    assert c.post("/v1/prescriptions", json={"branch_id": "B00003", "period": "2025-12"},
                  headers=h("secretary")).status_code == 403
    assert c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                  headers=h("admin")).status_code == 403
    early = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2024-12"}, headers=h("platform"))
    assert early.status_code == 404 and "POST /v1/diagnoses for the period first" in json.dumps(early.get_json())
    # A wrong id in a month that is diagnosed: said as such, not "diagnose first".
    unknown = c.post("/v1/prescriptions", json={"branch_id": "B99999", "period": "2025-12"}, headers=h("platform"))
    assert unknown.status_code == 404 and "no branch 'B99999'" in json.dumps(unknown.get_json()), unknown.get_json()
    assert "POST /v1/diagnoses" not in json.dumps(unknown.get_json())
    # A branch whose metrics came after the month's diagnosis: said as such, and what to do.
    late = c.put("/v1/periods/2025-12/metrics", headers=h("platform"), json={"branches": [
        {"branch_id": "B00150", "name": "新党支部", "type": "community", "street": "鼓楼街道", "theory_study_sessions": 1}]})
    assert late.status_code == 200
    missing = c.post("/v1/prescriptions", json={"branch_id": "B00150", "period": "2025-12"}, headers=h("platform"))
    said = json.dumps(missing.get_json(), ensure_ascii=False)
    assert missing.status_code == 404 and "branch 'B00150' has no diagnosis for 2025-12" in said, said
    assert "then POST /v1/diagnoses for 2025-12 again" in said
    # A day too far ahead: the suggestion names the last day that is accepted (tomorrow: a day of slack).
    from datetime import date, timedelta
    ahead = c.post(f"/v1/prescriptions/{ids[0]}/feedback", headers=h("platform"),
                   json={"status": "completed", "done_on": (date.today() + timedelta(days=2)).isoformat()})
    assert ahead.status_code == 422, ahead.get_json()
    assert f"a day up to {(date.today() + timedelta(days=1)).isoformat()}" in json.dumps(ahead.get_json()), \
        ahead.get_json()


def test_bodies_over_the_limit_get_413(tmp_path):
    from tests.support.service import make_service

    svc = make_service("sqlite", tmp_path, diagnose=(), extra_config={"MAX_CONTENT_LENGTH": 1000})
    r = svc.client.put("/v1/periods/2026-01/metrics", data=json.dumps({"branches": [{"x": "y" * 2000}]}),
                       headers={**svc.h("platform"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.mimetype == "application/problem+json"
    svc.close()


def test_logs_carry_request_ids_and_never_tokens(service, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="diagnosis_service")
    logger = logging.getLogger("diagnosis_service")
    logger.addHandler(caplog.handler)
    try:
        r = service.client.get("/v1/indicators", headers={**service.h("platform"), "X-Request-Id": "req-42"})
        service.client.get("/v1/indicators", headers={"Authorization": "Bearer ds_wrong-token-value"})
        misplaced = service.client.get("/healthz", headers={"X-Request-Id": service.tokens["secretary"]})
    finally:
        logger.removeHandler(caplog.handler)
    assert r.headers["X-Request-Id"] == "req-42"
    records = [rec for rec in caplog.records if rec.getMessage() == "request"]
    assert any(getattr(rec, "request_id", None) == "req-42" and rec.who == "platform:platform" for rec in records)
    text = "\n".join(f"{rec.__dict__}" for rec in caplog.records)
    assert service.tokens["platform"] not in text and "wrong-token-value" not in text
    # A token sent as the request id (the wrong header) is neither logged nor echoed: another id is made.
    assert service.tokens["secretary"] not in text and misplaced.headers["X-Request-Id"] != service.tokens["secretary"]


def test_the_log_line_of_a_served_list_names_its_ranker(fresh_service, caplog):
    import logging

    from diagnosis_service.service.logs import JsonFormatter

    caplog.set_level(logging.INFO, logger="diagnosis_service")
    logger = logging.getLogger("diagnosis_service")
    logger.addHandler(caplog.handler)
    try:
        served_list = fresh_service.client.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                                                headers=fresh_service.h("platform")).get_json()
        fresh_service.client.get("/v1/indicators", headers=fresh_service.h("platform"))
    finally:
        logger.removeHandler(caplog.handler)
    lines = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.getMessage() == "request"]
    listed = [line for line in lines if line["path"] == "/v1/prescriptions"]
    assert [(line["ranker"], line["list_id"]) for line in listed] == [("prior", served_list["list_id"])]
    assert served_list["ranker"] == "prior"
    assert all("ranker" not in line for line in lines if line["path"] == "/v1/indicators")


def test_openapi_describes_every_route(service):
    doc = service.client.get("/openapi.json", headers=service.h("admin")).get_json()
    registry = service.app.extensions["diagnosis"].registry
    assert doc["openapi"].startswith("3.") and doc == json.loads(json.dumps(document(
        tuple(registry.topics), tuple(registry.branch_types), {s: registry.reported(s) for s in ("branch", "member")})))
    routes = set()
    for rule in service.app.url_map.iter_rules():
        if rule.endpoint == "static" or (rule.endpoint.startswith("pages.") and rule.endpoint != "pages.branch_page"):
            continue  # the sign-in, home and feedback pages are for browsers, not an API (docs/secretary.md)
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert routes == documented
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("who", ["platform", "admin", "secretary"])
def test_role_matrix_for_rule_publishing(service, who):
    r = service.client.put("/v1/rules", json={"files": {"x.yaml": "rules: []"}, "comment": "try"},
                           headers=service.h(who))
    assert (r.status_code == 403) == (who != "admin")


def test_a_revoked_token_stops_working_within_a_second(fresh_service):
    import time

    from diagnosis_service.store import tokens as tokens_store

    svc = fresh_service
    assert svc.client.get("/v1/indicators", headers=svc.h("other_secretary")).status_code == 200
    with svc.engine.begin() as conn:
        assert tokens_store.revoke(conn, "sec-B00003")
    time.sleep(1.1)
    assert svc.client.get("/v1/indicators", headers=svc.h("other_secretary")).status_code == 401


def test_json_bodies_are_read_whatever_the_content_type_says(service):
    """curl -d sends application/x-www-form-urlencoded; the body is still JSON."""
    r = service.client.post("/v1/prescriptions", data='{"branch_id": "B00002", "period": "2025-12"}',
                            content_type="application/x-www-form-urlencoded", headers=service.h("secretary"))
    assert r.status_code == 201 and r.get_json()["branch_id"] == "B00002"
    bad = service.client.post("/v1/prescriptions", data=b"\xff\xfe", headers=service.h("secretary"))
    assert bad.status_code == 400 and "not valid JSON" in bad.get_json()["detail"]
