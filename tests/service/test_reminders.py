"""Reminders (issue 15, part 2): what a branch must still do this quarter, and by when, in the diagnosis,
on the secretary's page and at GET /v1/reminders, scoped like everything else; never a lamp or a
weakness."""

import json

from sqlalchemy import select

from diagnosis_service.store.schema import branches, results

# The service district's 2025-11 is the second month of Q4: one month left in the quarter and the year.


def stored_reminders(engine, period: str) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        rows = conn.execute(select(results.c.subject_id, results.c.body).where(
            results.c.period == period, results.c.subject == "branch")).all()
    out = {}
    for sid, body in rows:
        data = json.loads(body)
        found = [f for f in data["findings"] if f["severity"] == "reminder"]
        if found:
            out[sid] = (data, found)
    return out


def test_reminders_say_what_and_by_when_and_are_never_weaknesses(service):
    found = stored_reminders(service.engine, "2025-11")
    assert found, "the simulated district has branches with a duty still due in November"
    for data, reminders in found.values():
        for f in reminders:
            assert f["rule"].endswith(("_due_quarter", "_due_year"))
            assert "12月31日" in f["message_zh"] and "31 December" in f["message_en"]
        reminded = {f["topic"] for f in reminders}
        problems = {f["topic"] for f in data["findings"] if f["severity"] != "reminder"}
        assert set(data["weaknesses"]) == problems and (reminded - problems).isdisjoint(data["weaknesses"])
    assert not stored_reminders(service.engine, "2025-12"), "December closes the quarter: weaknesses, no reminders"


def test_get_reminders_is_scoped(service):
    c = service.client
    found = stored_reminders(service.engine, "2025-11")
    r = c.get("/v1/reminders?period=2025-11", headers=service.h("admin"))
    assert r.status_code == 200
    body = r.get_json()
    assert body["count"] == sum(len(v[1]) for v in found.values())
    assert sorted({x["branch_id"] for x in body["reminders"]}) == sorted(found)
    with service.engine.connect() as conn:
        streets = dict(conn.execute(select(branches.c.branch_id, branches.c.street)).all())
    mine = c.get("/v1/reminders?period=2025-11", headers=service.h("street")).get_json()
    assert {streets[x["branch_id"]] for x in mine["reminders"]} <= {streets["B00002"]}
    own = c.get("/v1/reminders?period=2025-11&branch_id=B00002", headers=service.h("secretary"))
    assert own.status_code == 200 and {x["branch_id"] for x in own.get_json()["reminders"]} <= {"B00002"}
    assert c.get("/v1/reminders?period=2025-11", headers=service.h("secretary")).status_code == 403
    assert c.get("/v1/reminders?period=2025-11&branch_id=B00003", headers=service.h("secretary")).status_code == 403
    assert c.get("/v1/reminders?period=2025-03", headers=service.h("admin")).status_code == 404


def test_the_secretarys_page_shows_what_is_still_to_do(service):
    found = stored_reminders(service.engine, "2025-11")
    branch_id = sorted(found)[0]
    page = service.client.get(f"/branches/{branch_id}/report?period=2025-11", headers=service.h("admin"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="reminders"' in html and "待办提醒" in html
    for f in found[branch_id][1]:
        assert f["message_zh"] in html


def test_the_lamp_change_feed_carries_new_reminders(service):
    c = service.client
    nov = c.get("/v1/lamps/changes?period=2025-11", headers=service.h("platform")).get_json()
    listed = c.get("/v1/reminders?period=2025-11", headers=service.h("platform")).get_json()["reminders"]
    assert nov["reminders"] == listed and listed  # 2025-10 was not diagnosed: every reminder is new
    dec = c.get("/v1/lamps/changes?period=2025-12", headers=service.h("platform")).get_json()
    assert dec["reminders"] == []
    mine = c.get("/v1/lamps/changes?period=2025-11", headers=service.h("street")).get_json()
    assert {r["branch_id"] for r in mine["reminders"]} <= {r["branch_id"] for r in listed}
    members_only = c.get("/v1/lamps/changes?period=2025-11&subject=member", headers=service.h("platform")).get_json()
    assert members_only["reminders"] == []


def test_dues_unpaid_after_the_20th_are_reminded_not_missed(fresh_service):
    """An event recorded before the month is over ("on") reminds; the same values for a closed month
    light the yellow lamp, as the seed tells it."""
    svc = fresh_service
    c, h = svc.client, svc.h("platform")
    with svc.engine.connect() as conn:
        bodies = conn.execute(select(results.c.subject_id, results.c.body).where(
            results.c.period == "2025-12", results.c.subject == "member")).all()
    quiet = [sid for sid, body in bodies if not json.loads(body)["findings"]][:3]
    early = c.post("/v1/events", json={"subject": "member", "id": quiet[0], "period": "2025-12",
                                       "values": {"dues_paid": 0}, "on": "2025-12-15"}, headers=h).get_json()
    assert early["lamp"] == "green" and early["findings"] == []  # the 15th: nothing to say yet
    late = c.post("/v1/events", json={"subject": "member", "id": quiet[1], "period": "2025-12",
                                      "values": {"dues_paid": 0}, "on": "2025-12-21"}, headers=h).get_json()
    assert late["lamp"] == "green" and late["push"] is False
    assert [(f["rule"], f["severity"]) for f in late["findings"]] == [("member_dues_due", "reminder")]
    assert "月底前" in late["findings"][0]["message_zh"]
    closed = c.post("/v1/events", json={"subject": "member", "id": quiet[2], "period": "2025-12",
                                        "values": {"dues_paid": 0}}, headers=h).get_json()
    assert closed["lamp"] == "yellow" and [f["rule"] for f in closed["findings"]] == ["member_dues_missed"]
    for bad in ("2025-11-30", "2025-12-32", "21", 21):
        r = c.post("/v1/events", json={"subject": "member", "id": quiet[0], "period": "2025-12",
                                       "values": {"dues_paid": 0}, "on": bad}, headers=h)
        assert r.status_code == 422 and r.get_json()["errors"][0]["path"] == "on"


def test_the_overview_and_the_circular_count_problems_not_reminders(service):
    import io

    from openpyxl import load_workbook

    c, h = service.client, service.h("admin")
    ov = c.get("/v1/overview?from=2025-11&to=2025-11&top=100", headers=h).get_json()
    assert ov["findings"] and not any(f["rule"].endswith(("_due_quarter", "_due_year")) for f in ov["findings"])
    book = load_workbook(io.BytesIO(c.get("/v1/exports/branch-lamps.xlsx?period=2025-11", headers=h).data))
    reasons = [r[6] or "" for r in list(book.active.iter_rows(values_only=True))[1:]]
    assert reasons and not any("请于" in r and "前" in r for r in reasons)
