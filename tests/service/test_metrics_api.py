"""Metrics in over HTTP (a whole period's PUT, single events) and what a change of profile moves, on
SQLite and on PostgreSQL."""

import json

from sqlalchemy import select

from diagnosis_service.store.schema import branch_metrics, metric_revisions
from tests.service.test_api import count


def test_a_member_who_moved_keeps_the_old_branchs_months_out_of_the_new_secretarys_sight(fresh_service):
    """A transfer (the platform names another branch for a known member) moves the member, not the
    months diagnosed before: those stay with the branch they were diagnosed in."""
    svc = fresh_service
    c, h = svc.client, svc.h
    ranking = c.get("/v1/rankings?period=2025-12&limit=10000", headers=h("platform")).get_json()["ranking"]
    mover = next(m for m in ranking if m["branch_id"] != "B00002")
    own = next(m for m in ranking if m["branch_id"] == "B00002")
    url = f"/v1/members/{mover['member_id']}/report?period=2025-12"
    assert c.get(url, headers=h("secretary")).status_code == 403
    moved = c.put("/v1/periods/2026-01/metrics", headers=h("platform"), json={"members": [
        {"member_id": mover["member_id"], "branch_id": "B00002", "name": "调入党员", "dues_paid": 1}]})
    assert moved.status_code == 200 and moved.get_json()["profiles"]["members"]["updated"] == 1
    old = c.get(url, headers=h("secretary"))
    assert old.status_code == 403, "a month diagnosed in the old branch"
    assert c.get(url, headers=h("platform")).get_json()["branch_id"] == mover["branch_id"]
    # The secretary's own members as before; a month not diagnosed is 404 on the period.
    assert c.get(f"/v1/members/{own['member_id']}/report?period=2025-12", headers=h("secretary")).status_code == 200
    missing = c.get(f"/v1/members/{own['member_id']}/report?period=2030-01", headers=h("secretary"))
    assert missing.status_code == 404 and missing.get_json()["errors"][0]["path"] == "query.period"


def test_put_metrics_validates_whole_and_stores_nothing_when_rejected(fresh_service):
    svc = fresh_service
    c, h = svc.client, svc.h
    before = count(svc.engine, branch_metrics)
    rows = [{"branch_id": "B00002", "theory_study_sessions": 3, "dues_on_time_rate": 100},
            {"branch_id": "B00003", "theory_study_sessions": "many", "dues_on_time_rate": 101},
            {"branch_id": "B09999", "theory_study_sessions": 1},
            {"branch_id": "B00004", "theory_study_sesions": 1}]
    r = c.put("/v1/periods/2026-01/metrics", json={"branches": rows}, headers=h("platform"))
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    paths = {e["path"]: e["message"] for e in r.get_json()["errors"]}
    assert "branches[1].theory_study_sessions" in paths and "branches[1].dues_on_time_rate" in paths
    assert "out of range" in paths["branches[1].dues_on_time_rate"]
    assert any(p.startswith("branches[2].") and "unknown branch 'B09999'" in m for p, m in paths.items())
    assert paths["branches[3].theory_study_sesions"] == "unknown branch indicator 'theory_study_sesions'"
    assert count(svc.engine, branch_metrics) == before, "a rejected request stores nothing"
    good = {"branches": [{"branch_id": "B00002", "theory_study_sessions": 3},
                         {"branch_id": "B00100", "name": "新社区党支部", "type": "community", "street": "鼓楼街道",
                          "theory_study_sessions": 1}],
            "members": [{"member_id": "M900000", "branch_id": "B00100", "name": "新党员", "dues_paid": 1}]}
    first = c.put("/v1/periods/2026-01/metrics", json=good, headers=h("platform")).get_json()
    assert first["branches"]["inserted"] == 2 and first["members"]["inserted"] == 1
    assert "warnings" not in first  # 鼓楼街道 is one of the district's streets
    # A month after this one (a typo's year, a clock ahead): stored, and said.
    from datetime import UTC, datetime
    ahead = f"{datetime.now(UTC).year + 1}-01"
    later = c.put(f"/v1/periods/{ahead}/metrics", headers=h("platform"),
                  json={"branches": [{"branch_id": "B00002", "theory_study_sessions": 2}]})
    assert later.status_code == 200 and later.get_json()["branches"]["inserted"] == 1
    assert [w["field"] for w in later.get_json()["warnings"]] == [["period"]]
    assert f"period {ahead} is after this month" in later.get_json()["warnings"][0]["detail"]
    # A misspelt street is stored (the data may be ahead of the catalog) but said, with where it is.
    typo = c.put("/v1/periods/2026-01/metrics", headers=h("platform"), json={"branches": [
        {"branch_id": "B00101", "name": "新村党支部", "type": "village", "street": "鼓楼街到", "theory_study_sessions": 1},
        {"branch_id": "B00102", "name": "无街道党支部", "type": "village", "street": " ", "theory_study_sessions": 1}]})
    assert typo.status_code == 200 and typo.get_json()["branches"]["inserted"] == 2  # a blank street: no warning
    assert typo.get_json()["warnings"] == [{
        "field": ["branches", 0, "street"], "branch_id": "B00101",
        "detail": "street '鼓楼街到' is not one of the district's streets; stored, but no resource limited to "
                  "streets will match the branch",
        "suggestion": "did you mean '鼓楼街道'? The district's streets are in the catalog's district.yaml (GET "
                      "/v1/catalog, its files); a new street is added there"}]
    again = c.put("/v1/periods/2026-01/metrics", json=good, headers=h("platform")).get_json()
    assert again["branches"] == {"inserted": 0, "updated": 0, "unchanged": 2}, "idempotent"
    revisions = count(svc.engine, metric_revisions)
    good["branches"][0]["theory_study_sessions"] = 4
    fix = c.put("/v1/periods/2026-01/metrics", json=good, headers=h("platform")).get_json()
    assert fix["branches"] == {"inserted": 0, "updated": 1, "unchanged": 1}
    with svc.engine.connect() as conn:
        rev = conn.execute(select(metric_revisions).order_by(metric_revisions.c.id.desc())).mappings().first()
    assert count(svc.engine, metric_revisions) == revisions + 1
    assert json.loads(rev["previous"]) == {"theory_study_sessions": 3.0}
    assert json.loads(rev["current"]) == {"theory_study_sessions": 4.0}
    assert rev["actor"] == "platform:platform" and rev["source"] == "api"
    for who in ("admin", "secretary"):
        assert c.put("/v1/periods/2026-01/metrics", json=good, headers=h(who)).status_code == 403
    assert c.put("/v1/periods/2026-01/metrics", data="{not json", headers=h("platform")).status_code == 400
    # An id no address could reach is not registered (it was, and sorted first in the lamps).
    odd = c.put("/v1/periods/2026-01/metrics", headers=h("platform"), json={"branches": [
        {"branch_id": "../B1", "name": "x", "type": "village", "street": "鼓楼街道"}]})
    assert odd.status_code == 422 and odd.get_json()["errors"][0]["path"] == "branches[0].branch_id"
    assert "no '/'" in odd.get_json()["errors"][0]["message"]
    assert c.put("/v1/periods/26-01/metrics", json=good, headers=h("platform")).status_code == 422


def test_an_event_reevaluates_at_once_and_agrees_with_a_full_diagnosis(fresh_service):
    svc = fresh_service
    c, h = svc.client, svc.h
    lamps = c.get("/v1/lamps?period=2025-12&subject=member&limit=10000", headers=h("admin")).get_json()["lamps"]
    green = next(x for x in lamps if x["lamp"] == "green")
    r = c.post("/v1/events", json={"subject": "member", "id": green["id"], "period": "2025-12",
                                   "values": {"dues_paid": 0}}, headers=h("platform"))
    body = r.get_json()
    assert r.status_code == 200 and body["previous_lamp"] == "green" and body["lamp"] == "yellow" and body["changed"]
    assert "member_dues_missed" in [f["rule"] for f in body["findings"]]
    stored = c.get(f"/v1/members/{green['id']}/report?period=2025-12", headers=h("platform")).get_json()
    assert stored["lamp"] == "yellow"
    # The same numbers diagnosed whole give the same answer for that member.
    c.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=h("platform"))
    again = c.get(f"/v1/members/{green['id']}/report?period=2025-12", headers=h("platform")).get_json()
    assert again["lamp"] == body["lamp"] and again["findings"] == body["findings"]
    bad = c.post("/v1/events", json={"subject": "member", "id": green["id"], "period": "2025-12",
                                     "values": {"dues_paid": 2}}, headers=h("platform"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "values.dues_paid"
    typo = c.post("/v1/events", json={"subject": "member", "id": green["id"], "period": "2025-12",
                                      "values": {"dues_payd": 1}}, headers=h("platform")).get_json()["errors"]
    assert [(e["path"], e["message"], e["suggestion"]) for e in typo] == [
        ("values.dues_payd", "unknown member indicator 'dues_payd'", "did you mean 'dues_paid'?")]
    assert c.post("/v1/events", json={"subject": "member", "id": "M999999", "period": "2025-12",
                                      "values": {"dues_paid": 1}}, headers=h("platform")).status_code == 404
    assert c.post("/v1/events", json={"subject": "member", "id": green["id"], "period": "2024-01",
                                      "values": {"dues_paid": 1}}, headers=h("platform")).status_code == 409
    assert c.post("/v1/events", json={"subject": "team", "id": "x"}, headers=h("platform")).status_code == 422


def test_a_month_sent_in_part_is_diagnosed_and_says_which_branches_it_lacks(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    with fresh_service.engine.connect() as conn:
        known = sorted(conn.execute(select(branch_metrics.c.branch_id).where(branch_metrics.c.period == "2025-12"))
                       .scalars())
    sent = known[:3]
    put = c.put("/v1/periods/2026-01/metrics", headers=h("platform"),
                json={"branches": [{"branch_id": b, "theory_study_sessions": 2} for b in sent]})
    assert put.status_code == 200
    done = c.post("/v1/diagnoses?wait=true", json={"period": "2026-01"}, headers=h("platform")).get_json()
    assert done["branches"] == len(sent)
    [warning] = done["warnings"]
    lacking = known[3:]
    assert warning["missing"] == len(lacking) and warning["branch_ids"] == lacking[:10]
    assert warning["detail"].startswith(f"{len(lacking)} branches with metrics for 2025-12 have none for 2026-01 "
                                        f"({', '.join(lacking[:10])} and {len(lacking) - 10} more)")
    assert "PUT /v1/periods/2026-01/metrics" in warning["suggestion"]
    # The rest sent, the month diagnosed again: nothing lacking. A month whose branches are all there never warned.
    rest = c.put("/v1/periods/2026-01/metrics", headers=h("platform"),
                 json={"branches": [{"branch_id": b, "theory_study_sessions": 1} for b in lacking]})
    assert rest.status_code == 200
    again = c.post("/v1/diagnoses?wait=true", json={"period": "2026-01"}, headers=h("platform")).get_json()
    assert again["branches"] == len(known) and "warnings" not in again
    dec = c.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=h("platform")).get_json()
    assert "warnings" not in dec


def test_the_months_weak_branches_in_one_call_agree_with_each_branchs_diagnosis(service):
    c, h = service.client, service.h
    page = c.get("/v1/lamps?period=2025-12&subject=branch&weaknesses=true&limit=10000", headers=h("platform"))
    assert page.status_code == 200
    items = page.get_json()["lamps"]
    assert len(items) == page.get_json()["total"] and any(i["weaknesses"] for i in items)
    for item in items:
        one = c.get(f"/v1/branches/{item['id']}/diagnosis?period=2025-12", headers=h("platform")).get_json()
        assert item["weaknesses"] == one["weaknesses"] and item["lamp"] == one["lamp"]
    # Without it, or for members, no weaknesses field; a street worker's page is her street's.
    assert "weaknesses" not in c.get("/v1/lamps?period=2025-12&subject=branch", headers=h("platform")).get_json()["lamps"][0]
    members = c.get("/v1/lamps?period=2025-12&subject=member&weaknesses=true&limit=5", headers=h("platform")).get_json()
    assert members["lamps"] and all("weaknesses" not in m for m in members["lamps"])
    street = c.get("/v1/lamps?period=2025-12&subject=branch&weaknesses=true", headers=h("street")).get_json()["lamps"]
    assert street and {i["id"] for i in street} < {i["id"] for i in items}
    assert all(i["weaknesses"] == next(x for x in items if x["id"] == i["id"])["weaknesses"] for i in street)
    bad = c.get("/v1/lamps?period=2025-12&weaknesses=yes", headers=h("platform"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["path"] == "query.weaknesses"


def test_the_document_describes_a_metric_row_field_by_field_as_the_service_checks_it(fresh_service):
    from jsonschema_rs import Draft202012Validator

    c, h = fresh_service.client, fresh_service.h
    doc = c.get("/openapi.json", headers=h("platform")).get_json()
    schemas = doc["components"]["schemas"]
    put = Draft202012Validator({**schemas["MetricsPut"], "components": doc["components"]})
    reported = {i["id"]: i for i in c.get("/v1/indicators", headers=h("platform")).get_json()["branch"]
                if not i.get("derived")}
    assert set(reported) <= set(schemas["BranchMetricRow"]["properties"])
    good = {"branches": [{"branch_id": "B00002", "theory_study_sessions": 3, "dues_on_time_rate": None},
                         {"branch_id": "B00100", "name": "新社区党支部", "type": "community", "street": "鼓楼街道",
                          "theory_study_sessions": 1}],
            "members": [{"member_id": "M900000", "branch_id": "B00100", "name": "新党员", "dues_paid": 1}]}
    assert put.is_valid(good)
    assert c.put("/v1/periods/2026-01/metrics", json=good, headers=h("platform")).status_code == 200
    # What the document refuses, the service refuses too, and says where.
    for row, path in (({"branch_id": "B00002", "theory_study_sesions": 1}, "branches[0].theory_study_sesions"),
                      ({"branch_id": "B00002", "dues_on_time_rate": 101}, "branches[0].dues_on_time_rate"),
                      ({"branch_id": "B00002", "dues_on_time_rate": "100"}, "branches[0].dues_on_time_rate"),
                      ({"branch_id": "B00101", "name": "村", "type": "town", "street": "鼓楼街道",
                        "theory_study_sessions": 1}, "branches[0].type")):
        assert not put.is_valid({"branches": [row]}), row
        refused = c.put("/v1/periods/2026-01/metrics", json={"branches": [row]}, headers=h("platform"))
        assert refused.status_code == 422 and path in [e["path"] for e in refused.get_json()["errors"]], (
            row, refused.get_json())
