"""Every kind of bad input a client can send gets its clear 4xx naming the field, on SQLite and on
PostgreSQL; nothing is stored by a refused request and nothing stored is lost by an accepted one."""

import json
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from diagnosis_service.store.schema import branch_metrics, member_metrics, metric_revisions
from tests.support.pages import login

PUT = "/v1/periods/2025-12/metrics"


def send(client, method, path, body, headers):
    """JSON with every non-ASCII character escaped: lone surrogates travel as the \\ud800-style escapes a client sends."""
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json", headers=headers)


def rows(svc, table):
    with svc.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def problem(r, status=422):
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    assert r.mimetype == "application/problem+json"
    return r.get_json()


def paths(r, status=422):
    return [e["path"] for e in problem(r, status).get("errors", [])]


@pytest.mark.parametrize("value", [1e308, -1e308, 1e19, 10_001, 123456789012345678901234567890])
def test_huge_numbers_are_refused_and_do_not_poison_the_branch(service, value):
    svc, c, h = service, service.client, service.h
    before = rows(svc, branch_metrics)
    r = c.put(PUT, json={"branches": [{"branch_id": "B00002", "theory_study_sessions": value}]}, headers=h("platform"))
    assert "branches[0].theory_study_sessions" in paths(r)
    event = {"subject": "branch", "id": "B00002", "period": "2025-12", "values": {"theory_study_sessions": value}}
    assert "values.theory_study_sessions" in paths(c.post("/v1/events", json=event, headers=h("platform")))
    assert rows(svc, branch_metrics) == before
    ok = {**event, "values": {"theory_study_sessions": 3}}
    assert c.post("/v1/events", json=ok, headers=h("platform")).status_code == 200, "the branch's events still work"


@pytest.mark.parametrize("raw", ['{"branches": [{"branch_id": "B00002", "dues_on_time_rate": NaN}]}',
                                 '{"branches": [{"branch_id": "B00002", "dues_on_time_rate": Infinity}]}',
                                 '{"branches": [{"branch_id": "B00002", "dues_on_time_rate": -Infinity}]}'])
def test_nan_and_infinity_are_not_json(service, raw):
    c, h = service.client, service.h
    body = problem(c.put(PUT, data=raw, content_type="application/json", headers=h("platform")), 400)
    assert "NaN" in body["detail"]


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_is_refused_everywhere(service, depth):
    c, h = service.client, service.h
    deep = "[" * depth + "]" * depth
    for method, path, who in (("put", PUT, "platform"), ("post", "/v1/events", "platform"),
                              ("post", "/v1/prescriptions/1/feedback", "secretary"), ("put", "/v1/rules", "admin")):
        body = problem(getattr(c, method)(path, data=deep, content_type="application/json", headers=h(who)), 400)
        assert "nested" in body["detail"]
    # 32 levels is still JSON the service reads (and then says what is wrong with it).
    ok_depth = "[" * 32 + "]" * 32
    assert c.post("/v1/events", data=ok_depth, content_type="application/json",
                  headers=h("platform")).status_code == 422


@pytest.mark.parametrize("bad", ["B\u0000002", "B00002\ud800", "B\n0002", " B00002", "x" * 65])
def test_bad_ids_are_refused_with_their_path(service, bad):
    svc, c, h = service, service.client, service.h
    before = rows(svc, branch_metrics)
    r = send(c, "put", PUT, {"branches": [{"branch_id": bad, "name": "n", "type": "village",
                                           "theory_study_sessions": 1}]}, h("platform"))
    assert paths(r)[0] in ("branches[0].branch_id", "branches[0]")
    event = {"subject": "branch", "id": bad, "period": "2025-12", "values": {"theory_study_sessions": 1}}
    assert paths(send(c, "post", "/v1/events", event, h("platform")))[0] in ("id", "values")
    r = send(c, "post", "/v1/prescriptions", {"branch_id": bad, "period": "2025-12"}, h("platform"))
    assert problem(r)["errors"][0]["path"] in ("branch_id", "body")
    assert rows(svc, branch_metrics) == before


@pytest.mark.parametrize(("field", "value", "path"), [
    ("name", "支部\u0000", "branches[0].name"), ("name", "\ud800", "branches[0].name"),
    ("street", "街" * 101, "branches[0].street"), ("name", "名" * 201, "branches[0].name")])
def test_names_are_bounded_printable_text(service, field, value, path):
    c, h = service.client, service.h
    row = {"branch_id": "B09999", "name": "新支部", "type": "village", "street": "鼓楼街道", field: value}
    assert path in paths(send(c, "put", PUT, {"branches": [row]}, h("platform")))


@pytest.mark.parametrize("note", ["\u0000", "a\ud800b", "x" * 2001])
def test_a_secretarys_note_is_bounded_text(service, note):
    c, h = service.client, service.h
    served = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("secretary"))
    pid = served.get_json()["prescriptions"][0]["prescription_id"]
    r = send(c, "post", f"/v1/prescriptions/{pid}/feedback", {"status": "adopted", "note": note}, h("secretary"))
    assert "note" in paths(r)
    ok = c.post(f"/v1/prescriptions/{pid}/feedback", json={"status": "adopted", "note": "下周\n组织学习"},
                headers=h("secretary"))
    assert ok.status_code == 201


@pytest.mark.parametrize("number", ["9" * 400, ".inf", "-.inf"])
def test_a_huge_number_in_a_rule_file_is_refused_at_its_place(service, number):
    c, h = service.client, service.h
    files = c.get("/v1/rules", headers=h("admin")).get_json()["files"]
    text = files["branch_weaknesses.yaml"].replace("value: 0", f"value: {number}", 1)
    assert text != files["branch_weaknesses.yaml"]
    r = c.put("/v1/rules", json={"files": {"branch_weaknesses.yaml": text}, "comment": "x"}, headers=h("admin"))
    err = problem(r)["errors"][0]
    assert err["file"] == "branch_weaknesses.yaml" and err["line"] > 1 and "out of range" in err["message"]


@pytest.mark.parametrize("period", ["２０２５-１２", "2025-12\n", "2025-12 ", "2025-1", "9999-99"])
def test_only_ascii_periods_are_periods(service, period):
    svc, c, h = service, service.client, service.h
    before = rows(svc, branch_metrics)
    r = c.put(f"/v1/periods/{quote(period)}/metrics",
              json={"branches": [{"branch_id": "B00002", "theory_study_sessions": 1}]}, headers=h("platform"))
    assert paths(r) == ["period"]
    assert problem(c.get(f"/v1/lamps?period={quote(period)}", headers=h("admin")))["errors"][0]["path"] == "query.period"
    assert rows(svc, branch_metrics) == before, "no orphan rows"


def test_control_characters_in_paths_and_queries_never_reach_the_database(service):
    c, h = service.client, service.h
    assert problem(c.get("/v1/branches/B%00/diagnosis?period=2025-12", headers=h("admin")), 404)
    assert problem(c.get("/v1/members/M%0A1/report?period=2025-12", headers=h("admin")), 404)
    assert paths(c.get("/v1/rankings?period=2025-12&branch_id=B%00", headers=h("admin"))) == ["query.branch_id"]


def test_a_profile_only_row_keeps_the_stored_indicators(fresh_service):
    svc, c, h = fresh_service, fresh_service.client, fresh_service.h
    with svc.engine.connect() as conn:
        before = dict(conn.execute(select(member_metrics).where(member_metrics.c.member_id == "M000001",
                                                                member_metrics.c.period == "2025-12")).mappings().one())
    r = c.put(PUT, json={"members": [{"member_id": "M000001", "branch_id": before and "B00001", "name": "改名"}]},
              headers=h("platform"))
    assert r.status_code == 200, r.get_json()
    r = c.put(PUT, json={"members": [{"member_id": "M000001", "dues_paid": None}]}, headers=h("platform"))
    assert r.status_code == 200
    with svc.engine.connect() as conn:
        after = dict(conn.execute(select(member_metrics).where(member_metrics.c.member_id == "M000001",
                                                               member_metrics.c.period == "2025-12")).mappings().one())
        revisions = conn.execute(select(metric_revisions.c.current).where(metric_revisions.c.subject_id == "M000001")
                                 ).scalars().all()
    assert after["dues_paid"] is None, "a field sent as null is cleared"
    assert {k: v for k, v in after.items() if k != "dues_paid"} == {k: v for k, v in before.items() if k != "dues_paid"}
    assert [json.loads(r) for r in revisions] == ([{"dues_paid": None}] if before["dues_paid"] is not None else [])


def test_the_login_form_redirects_only_within_the_site(service):
    client = service.app.test_client()
    for next_url in ("/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/",
                     "/ok\r\nSet-Cookie: a=b", "javascript:alert(1)"):
        r = login(client, service.tokens["secretary"], next_url)
        assert r.status_code == 303 and r.headers["Location"] == "/?lang=zh", next_url  # home, in the form's language
    r = login(client, service.tokens["secretary"], "/branches/B00002/report?period=2025-12&lang=zh", lang="en")
    assert r.headers["Location"] == "/branches/B00002/report?period=2025-12&lang=en"


def test_pages_carry_security_headers_and_readyz_no_paths(service):
    page = service.client.get("/branches/B00002/report?period=2025-12", headers=service.h("admin"))
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    # The one script (the print button) is allowed by its hash; no other script may run.
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'sha256-" in script_src and "unsafe" not in script_src
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    ready = service.client.get("/readyz", headers=service.h("admin")).get_data(as_text=True)
    assert "/" not in json.dumps(json.loads(ready)["checks"]).replace("\\/", "").replace("N/A", ""), ready
