"""The overview (GET /v1/overview) and the circular's workbooks (GET /v1/exports/{kind}.xlsx), on SQLite
and PostgreSQL: figures that agree with the stored results, scopes per role, changes kept current by
events, errors that say what is wrong, workbooks whose cells say what the results say."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from urllib.parse import quote

import pytest
from alembic import command
from openpyxl import load_workbook
from sqlalchemy import select, update

from diagnosis_service.store.migrate import alembic_config, upgrade
from diagnosis_service.store.schema import branch_months, branches, members, overview_cells, results

RANGE = "/v1/overview?from=2025-11&to=2025-12"


def stored(engine, period: str) -> tuple[list[dict], list[dict]]:
    """The period's branch and member results as stored (parsed), by id."""
    with engine.connect() as conn:
        rows = conn.execute(select(results.c.subject, results.c.body).where(results.c.period == period)).all()
    out = {"branch": [], "member": []}
    for subject, body in rows:
        out[subject].append(json.loads(body))
    return (sorted(out["branch"], key=lambda r: r["id"]), sorted(out["member"], key=lambda r: r["id"]))


def streets_of(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(branches.c.branch_id, branches.c.street)).all())


def test_the_months_figures_are_the_stored_results(service):
    r = service.client.get(RANGE, headers=service.h("admin"))
    assert r.status_code == 200
    data = r.get_json()
    assert [m["period"] for m in data["months"]] == ["2025-11", "2025-12"] == data["diagnosed"]
    for month in data["months"]:
        branch_results, member_results = stored(service.engine, month["period"])
        b, m = Counter(x["lamp"] for x in branch_results), Counter(x["lamp"] for x in member_results)
        assert month["branches"] | {} == {
            "total": len(branch_results), "red": b["red"], "yellow": b["yellow"], "green": b["green"],
            "red_rate": round(b["red"] * 100 / len(branch_results), 2),
            "lamp_rate": round((b["red"] + b["yellow"]) * 100 / len(branch_results), 2)}
        assert (month["members"]["total"], month["members"]["red"], month["members"]["yellow"]) == (
            len(member_results), m["red"], m["yellow"])
    # The last month's weaknesses, counted from the stored branch results, named in Chinese.
    branch_results, member_results = stored(service.engine, "2025-12")
    weak = Counter(t for x in branch_results for t in x["weaknesses"])
    for w in data["weaknesses"]:
        assert w["branches_last"] == weak[w["topic"]]
        assert w["name_zh"] != w["topic"] and not w["name_zh"].isascii()
    assert {w["topic"] for w in data["weaknesses"]} == set(weak) or len(data["weaknesses"]) == 10
    fired = Counter(f["rule"] for x in branch_results + member_results for f in {f["rule"]: f for f in x["findings"]}.values())
    for f in data["findings"]:
        assert f["count_last"] == fired[f["rule"]] and not f["title_zh"].isascii()
    assert [f["count_last"] for f in data["findings"]] == sorted((f["count_last"] for f in data["findings"]),
                                                               reverse=True)


def test_changes_are_against_the_first_month(service):
    data = service.client.get(RANGE, headers=service.h("admin")).get_json()
    first, last = data["months"]
    assert first["change_vs_first"] is None and last["change_vs_year_before"] is None  # no 2024 stored
    for subject in ("branches", "members"):
        a, b = last[subject]["lamp_rate"], first[subject]["lamp_rate"]
        change = last["change_vs_first"][subject]["lamp_rate"]
        assert change["points"] == round(a - b, 2)
        assert change["relative"] == (round((a - b) * 100 / b, 1) if b else None)


def test_streets_side_by_side_add_up_to_the_district(service):
    data = service.client.get(RANGE, headers=service.h("platform")).get_json()
    streets = streets_of(service.engine)
    assert [s["street"] for s in data["streets"]] == sorted(set(streets.values()))
    assert sum(s["branches"] for s in data["streets"]) == data["months"][-1]["branches"]["total"]
    assert sum(s["members"] for s in data["streets"]) == data["months"][-1]["members"]["total"]


def test_a_street_sees_its_street_only(service):
    c = service.client
    mine = streets_of(service.engine)["B00002"]
    data = c.get(RANGE, headers=service.h("street")).get_json()
    assert data["scope"]["street"] == mine and [s["street"] for s in data["streets"]] == [mine]
    assert data["months"][-1]["branches"]["total"] == 2
    assert c.get(RANGE + f"&street={mine}", headers=service.h("street")).status_code == 200
    assert c.get(RANGE + "&street=南门街道", headers=service.h("street")).status_code == 403
    for who in ("secretary", "other_secretary"):
        assert c.get(RANGE, headers=service.h(who)).status_code == 403
        assert c.get("/v1/exports/circular.xlsx?period=2025-12", headers=service.h(who)).status_code == 403
    assert c.get(RANGE).status_code == 401
    book = load_workbook(io.BytesIO(c.get("/v1/exports/branch-lamps.xlsx?period=2025-12",
                                          headers=service.h("street")).data))
    rows = list(book.active.iter_rows(values_only=True))[1:]
    assert len(rows) == 2 and {r[2] for r in rows} == {mine}
    assert c.get("/v1/exports/branch-lamps.xlsx?period=2025-12&street=南门街道",
                 headers=service.h("street")).status_code == 403


def test_a_street_with_no_branch_is_refused_naming_the_streets(service):
    """An unknown street is not found (404 naming the streets there are), not an empty district that would
    read as "nothing diagnosed"; the command line's overview says the same."""
    c, known = service.client, sorted(set(streets_of(service.engine).values()))
    for path in (RANGE, "/v1/rankings?period=2025-12", "/v1/lamps?period=2025-12", "/v1/lamps/changes?period=2025-12",
                 "/v1/reminders?period=2025-12", "/v1/exports/branch-lamps.xlsx?period=2025-12"):
        r = c.get(path + "&street=不存在镇", headers=service.h("admin"))
        assert r.status_code == 404, path
        problem = r.get_json()
        assert "不存在镇" in problem["detail"] and all(s in problem["detail"] for s in known), path
        assert c.get(path + f"&street={known[0]}", headers=service.h("admin")).status_code == 200, path
    # A street role asking for another street is still forbidden, not told which streets there are; a
    # secretary is told nothing of what exists either (their branch's answer, empty in another street).
    assert c.get(RANGE + "&street=不存在镇", headers=service.h("street")).status_code == 403
    for path in ("/v1/rankings?period=2025-12&branch_id=B00002", "/v1/reminders?period=2025-12&branch_id=B00002"):
        r = c.get(path + "&street=不存在镇", headers=service.h("secretary"))
        assert r.status_code == 200 and not any(s in r.get_data(as_text=True) for s in known), path


def test_a_branch_type_narrows_the_overview(service):
    c = service.client
    data = c.get(RANGE + "&type=village", headers=service.h("admin")).get_json()
    with service.engine.connect() as conn:
        villages = conn.execute(select(branches.c.branch_id).where(branches.c.type == "village")).scalars().all()
    assert data["scope"]["type"] == "village"
    assert data["months"][-1]["branches"]["total"] == len(villages) > 0
    assert c.get(RANGE + "&type=castle", headers=service.h("admin")).status_code == 422


@pytest.mark.parametrize("query, field", [
    ("from=2025-12&to=2025-01", "query.from"), ("from=2020-01&to=2025-12", "query.from"),
    ("from=2025-13&to=2025-12", "query.from"), ("from=2025-01", "query.to"), ("to=2025-01", "query.from")])
def test_a_bad_range_says_what_is_wrong(service, query, field):
    r = service.client.get(f"/v1/overview?{query}", headers=service.h("admin"))
    assert r.status_code == 422
    problem = r.get_json()
    assert problem["errors"][0]["path"] == field and problem["errors"][0]["message"]


def test_months_without_a_diagnosis_are_shown_as_such(service):
    data = service.client.get("/v1/overview?from=2025-09&to=2025-12", headers=service.h("admin")).get_json()
    assert [m["diagnosed"] for m in data["months"]] == [False, False, True, True]
    assert data["months"][0]["branches"]["total"] == 0 and data["months"][0]["branches"]["lamp_rate"] is None
    # Changes count from the first month with a diagnosis.
    assert data["months"][3]["change_vs_first"] is not None


def test_an_event_keeps_the_overview_current(fresh_service):
    svc = fresh_service
    _, member_results = stored(svc.engine, "2025-12")
    quiet = next(m for m in member_results if m["lamp"] == "green" and not m["findings"])
    before = svc.client.get(RANGE, headers=svc.h("admin")).get_json()
    r = svc.client.post("/v1/events", json={"subject": "member", "id": quiet["id"], "period": "2025-12",
                                            "values": {"dues_paid": 0}}, headers=svc.h("platform"))
    assert r.status_code == 200 and r.get_json()["lamp"] == "yellow"
    after = svc.client.get(RANGE, headers=svc.h("admin")).get_json()
    assert after["months"][-1]["members"]["yellow"] == before["months"][-1]["members"]["yellow"] + 1
    count = {f["rule"]: f["count_last"] for f in after["findings"]}
    was = {f["rule"]: f["count_last"] for f in before["findings"]}
    assert count["member_dues_missed"] == was.get("member_dues_missed", 0) + 1
    # The branch's stored row says the same as its members' stored results.
    with svc.engine.connect() as conn:
        row = conn.execute(select(branch_months).where(branch_months.c.period == "2025-12",
                                                       branch_months.c.branch_id == quiet["branch_id"])).mappings().one()
    _, member_results = stored(svc.engine, "2025-12")
    theirs = [m for m in member_results if m["branch_id"] == quiet["branch_id"]]
    assert row["members_yellow"] == sum(m["lamp"] == "yellow" for m in theirs)
    assert row["ytd_sum"] == pytest.approx(sum(m["vanguard_points_ytd"] or 0 for m in theirs))


def test_the_migration_fills_what_the_diagnosis_keeps(fresh_service):
    """Periods diagnosed before revision 0004 get the same rows from the migration as a diagnosis writes."""
    engine = fresh_service.engine

    def rows():
        with engine.connect() as conn:
            found = conn.execute(select(branch_months).order_by(branch_months.c.period, branch_months.c.branch_id))
            return [dict(r) for r in found.mappings()]

    def cells():
        with engine.connect() as conn:
            found = conn.execute(select(overview_cells).order_by(overview_cells.c.period, overview_cells.c.street,
                                                                 overview_cells.c.type))
            return [dict(r) for r in found.mappings()]

    kept, kept_cells = rows(), cells()
    assert sum(c["branches"] for c in kept_cells) == 2 * 24
    assert len(kept) == 2 * 24
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    upgrade(engine)
    backfilled = rows()
    assert [{k: v for k, v in r.items() if k not in ("points_sum", "ytd_sum")} for r in backfilled] == \
           [{k: v for k, v in r.items() if k not in ("points_sum", "ytd_sum")} for r in kept]
    for a, b in zip(backfilled, kept, strict=True):
        assert a["points_sum"] == pytest.approx(b["points_sum"]) and a["ytd_sum"] == pytest.approx(b["ytd_sum"])
    assert cells() == kept_cells


def sheet_rows(data: bytes, title: str | None = None) -> tuple[object, list[tuple]]:
    book = load_workbook(io.BytesIO(data))
    ws = book[title] if title else book.active
    return ws, list(ws.iter_rows(values_only=True))


def test_member_lamps_list_every_member_with_names_and_reasons(service):
    r = service.client.get("/v1/exports/member-lamps.xlsx?period=2025-12", headers=service.h("admin"))
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert r.headers["Content-Disposition"] == ('attachment; filename="member-lamps-2025-12.xlsx"; '
                                                "filename*=UTF-8''member-lamps-2025-12.xlsx")
    # A filtered download is named after its filters (they overwrote each other): the street in UTF-8,
    # left out of the ASCII name; by its English name in English.
    street = "鼓楼街道"
    zh = service.client.get(f"/v1/exports/circular.xlsx?period=2025-12&street={street}&type=village",
                            headers=service.h("admin"))
    assert zh.headers["Content-Disposition"] == (
        'attachment; filename="circular-2025-12-village.xlsx"; '
        f"filename*=UTF-8''circular-2025-12-{quote(street)}-village.xlsx")
    en = service.client.get(f"/v1/exports/circular.xlsx?period=2025-12&street={street}&lang=en",
                            headers=service.h("admin"))
    assert re.fullmatch(r'attachment; filename="circular-2025-12-(\w+)-en\.xlsx"; '
                        r"filename\*=UTF-8''circular-2025-12-\1-en\.xlsx", en.headers["Content-Disposition"])
    ws, rows = sheet_rows(r.data)
    assert ws.title == "党员亮灯" and ws.freeze_panes == "A2"
    assert rows[0] == ("党员编号", "姓名", "支部编号", "支部名称", "街道（镇）", "亮灯", "本月锋领指数", "年度累计锋领指数", "原因")
    assert ws.column_dimensions["I"].width > ws.column_dimensions["A"].width
    with service.engine.connect() as conn:
        names = dict(conn.execute(select(members.c.member_id, members.c.name)).all())
    assert [r[0] for r in rows[1:]] == sorted(names)
    _, member_results = stored(service.engine, "2025-12")
    by_id = {m["id"]: m for m in member_results}
    lamp_zh = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}
    for row in rows[1:]:
        found = by_id.get(row[0])
        assert row[1] == names[row[0]]
        if found is None:
            assert row[5] == "本月无数据" and row[6] is None
            continue
        assert row[5] == lamp_zh[found["lamp"]]
        assert row[7] == found["vanguard_points_ytd"]
        assert (row[8] or "") == "；".join(f["message_zh"] for f in found["findings"])
    assert any(r[5] == "黄灯" and r[8] for r in rows[1:])


def test_the_circular_has_every_sheet_and_agrees_with_the_api(service):
    c, h = service.client, service.h("admin")
    data = c.get("/v1/exports/circular.xlsx?period=2025-12", headers=h).data
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["概况", "支部亮灯", "党员亮灯", "党员排名", "支部排名", "各街道短板", "党费提醒"]
    assert all(ws.freeze_panes == "A2" for ws in book.worksheets)
    ranking = c.get("/v1/rankings?period=2025-12&limit=10000", headers=h).get_json()["ranking"]
    rows = list(book["党员排名"].iter_rows(values_only=True))[1:]
    assert [(r[0], r[1], r[5]) for r in rows] == [(x["rank"], x["member_id"], x["vanguard_points_ytd"]) for x in ranking]
    branch_rank = c.get("/v1/rankings?period=2025-12&subject=branch&limit=10000", headers=h).get_json()["ranking"]
    rows = list(book["支部排名"].iter_rows(values_only=True))[1:]
    assert [(r[0], r[1]) for r in rows] == [(x["rank"], x["branch_id"]) for x in branch_rank]
    _, member_results = stored(service.engine, "2025-12")
    owing = sorted(m["id"] for m in member_results if any(f["topic"] == "dues" for f in m["findings"]))
    rows = list(book["党费提醒"].iter_rows(values_only=True))[1:]
    assert [r[0] for r in rows] == owing and owing
    assert all("党费" in r[6] for r in rows)
    weak = list(book["各街道短板"].iter_rows(values_only=True))
    assert weak[0][:2] == ("街道（镇）", "支部数") and sum(r[1] for r in weak[1:]) == 24
    summary = dict(list(book["概况"].iter_rows(values_only=True))[1:])
    assert summary["月份"] == "2025-12" and summary["支部数"] == 24
    # The same stored results give the same bytes; English has English sheets.
    assert c.get("/v1/exports/circular.xlsx?period=2025-12", headers=h).data == data
    en = load_workbook(io.BytesIO(c.get("/v1/exports/circular.xlsx?period=2025-12&lang=en", headers=h).data))
    assert en.sheetnames[:3] == ["Summary", "Branch lamps", "Member lamps"]
    # Streets by their English names (the catalog's district.yaml) in English, as the data spells them in Chinese.
    english = service.app.extensions["diagnosis"].snapshot().catalog.street_en
    chinese = sorted({r[0] for r in weak[1:]})
    assert sorted(r[0] for r in list(en["Weaknesses by street"].iter_rows(values_only=True))[1:]) == sorted(
        english(s) for s in chinese) and all(english(s) != s for s in chinese)
    assert {r[2] for r in list(book["支部亮灯"].iter_rows(values_only=True))[1:]} == set(chinese)


def test_export_errors_say_what_is_wrong(service):
    c, h = service.client, service.h("admin")
    r = c.get("/v1/exports/everything.xlsx?period=2025-12", headers=h)
    assert r.status_code == 404 and "circular" in r.get_json()["errors"][0]["suggestion"]
    r = c.get("/v1/exports/circular.xlsx?period=2025-03", headers=h)
    assert r.status_code == 404 and "not been diagnosed" in r.get_json()["detail"]
    assert c.get("/v1/exports/circular.xlsx", headers=h).status_code == 422
    assert c.get("/v1/exports/circular.xlsx?period=2025-12&lang=fr", headers=h).status_code == 422


def test_a_name_that_looks_like_a_formula_stays_text(fresh_service):
    svc = fresh_service
    evil = '=HYPERLINK("http://example.invalid","点我")'
    with svc.engine.begin() as conn:
        conn.execute(update(members).where(members.c.member_id == "M000001").values(name=evil))
    data = svc.client.get("/v1/exports/member-lamps.xlsx?period=2025-12", headers=svc.h("admin")).data
    ws, rows = sheet_rows(data)
    cell = ws["B2"]
    assert rows[1][0] == "M000001" and cell.value == evil and cell.data_type == "s"


def test_the_pages_branch_list_agrees_with_the_ranking(service):
    from diagnosis_service.pipeline import overview, rankings

    with service.engine.connect() as conn:
        listed = overview.branch_list(conn, "2025-12")
        ranked = rankings.branch_ranking(conn, "2025-12", "ytd", limit=1000)["ranking"]
        street = streets_of(service.engine)["B00002"]
        mine = overview.branch_list(conn, "2025-12", rankings.Scope(street=street))
    by_id = {b["branch_id"]: b for b in ranked}
    assert len(listed) == len(ranked) == 24
    for b in listed:
        r = by_id[b["branch_id"]]
        assert (b["lamp"], b["members"], b["mean_points_ytd"]) == (r["lamp"], r["members"], r["mean_points_ytd"])
    order = {"red": 0, "yellow": 1, "green": 2}
    assert [(order[b["lamp"]], b["branch_id"]) for b in listed] == sorted((order[b["lamp"]], b["branch_id"])
                                                                         for b in listed)
    assert {b["branch_id"] for b in mine} == {b for b, s in streets_of(service.engine).items() if s == street}
