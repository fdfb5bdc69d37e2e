"""Catalog administration over HTTP: the active catalog's files, and a changed catalog checked with
file:line:column before anything uses it."""

from __future__ import annotations

from diagnosis_service.remedies.catalog_files import read_files
from tests.support.paths import CATALOG


def test_the_active_catalog_is_served_as_its_files(service):
    c, h = service.client, service.h
    r = c.get("/v1/catalog", headers=h("admin"))
    body = r.get_json()
    assert r.status_code == 200
    assert body["files"] == read_files(CATALOG)[0]  # the deployed files, byte for byte
    assert body["by_kind"] == {"activity": 36, "base": 24, "lecturer": 132, "lesson": 88, "video": 96}
    assert body["resources"] == 376 and body["digest"] == c.get("/v1/catalog/resources?kind=base",
                                                                headers=h("admin")).get_json()["version"]
    for who in ("secretary", "street"):
        assert c.get("/v1/catalog", headers=h(who)).status_code == 403


def test_a_changed_catalog_is_checked_with_its_locations(service):
    c, h = service.client, service.h
    files = c.get("/v1/catalog", headers=h("admin")).get_json()["files"]
    lecturers = files["lecturers.yaml"]
    broken = lecturers.replace("topics: [theory_study]", "topics: [theroy_study]", 1)
    r = c.post("/v1/catalog/validate", json={"files": {"lecturers.yaml": broken}}, headers=h("admin"))
    out = r.get_json()
    assert r.status_code == 200 and out["valid"] is False
    (err,) = out["errors"]
    line = broken[:broken.index("theroy_study")].count("\n") + 1
    assert err["file"] == "lecturers.yaml" and err["line"] == line and err["column"] > 1
    assert "theroy_study" in err["message"] and "theory_study" in err["suggestion"]
    fine = lecturers.replace("active: true", "active: false", 1)
    ok = c.post("/v1/catalog/validate", json={"files": {"lecturers.yaml": fine}}, headers=h("admin")).get_json()
    listed = c.get("/v1/catalog/resources", headers=h("admin")).get_json()["resources"]
    assert ok["valid"] and ok["errors"] == [] and ok["active"] == sum(r["active"] for r in listed) - 1
    yaml_body = c.post("/v1/catalog/validate?file=lecturers.yaml", data=broken.encode(),
                       headers={**h("admin"), "Content-Type": "application/yaml"}).get_json()
    assert yaml_body["errors"] == out["errors"]
    gone = c.post("/v1/catalog/validate", json={"files": {"bases.yaml": None, "notes.yaml": "x: 1\n"}},
                  headers=h("admin")).get_json()
    messages = " | ".join(e["message"] for e in gone["errors"])
    assert "missing catalog file for kind 'base'" in messages and "unexpected file 'notes.yaml'" in messages
    huge = c.post("/v1/catalog/validate", json={"files": {"videos.yaml": "#" * 1_000_001}}, headers=h("admin"))
    assert "over the limit" in huge.get_json()["errors"][0]["message"]
    bad = c.post("/v1/catalog/validate", json={"files": {"../x.yaml": "a: 1"}}, headers=h("admin"))
    assert bad.get_json()["valid"] is False and "bad catalog file name" in bad.get_json()["errors"][0]["message"]
    assert c.post("/v1/catalog/validate", json={"files": {}}, headers=h("admin")).status_code == 422
    # Nothing changed: the active catalog is the same.
    assert c.get("/v1/catalog", headers=h("admin")).get_json()["files"] == files


def _retire(files: dict, resource_id: str) -> dict:
    """The catalog file holding the resource, with the resource set inactive."""
    name, text = next((n, t) for n, t in files.items() if f"- id: {resource_id}\n" in t)
    start = text.index(f"- id: {resource_id}\n")
    end = text.find("- id:", start + 1)
    end = len(text) if end < 0 else end
    block = text[start:end].replace("active: true", "active: false")
    return {name: text[:start] + block + text[end:]}


def test_publish_serve_and_roll_back_a_catalog_without_a_restart(fresh_service):
    svc = fresh_service
    c, h = svc.client, svc.h
    first = c.get("/v1/catalog", headers=h("admin"))
    v1 = first.get_json()
    assert v1["version"] == 1 and first.headers["ETag"] == '"1"'
    before = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("platform"))
    assert before.status_code == 201 and before.get_json()["catalog_version"] == 1
    shown = [p["resource_id"] for p in before.get_json()["prescriptions"]]
    assert shown
    for target in shown:  # the first shown resource the catalog can do without (coverage stays whole)
        change = _retire(v1["files"], target)
        if c.post("/v1/catalog/validate", json={"files": change}, headers=h("admin")).get_json()["valid"]:
            break
    name = next(iter(change))

    broken = c.put("/v1/catalog", json={"files": {name: "resources: [\n"}, "comment": "oops"}, headers=h("admin"))
    assert broken.status_code == 422 and broken.get_json()["errors"][0]["file"] == name
    assert c.put("/v1/catalog", json={"files": change}, headers=h("admin")).status_code == 422  # no comment
    assert c.put("/v1/catalog", json={"files": change, "comment": "x"}, headers=h("platform")).status_code == 403
    assert c.put("/v1/catalog", json={"files": change, "comment": "x", "base_version": 7},
                 headers=h("admin")).status_code == 409
    put = c.put("/v1/catalog", json={"files": change, "comment": f"{target} retired"},
                headers={**h("admin"), "If-Match": '"1"'})
    assert put.status_code == 201 and put.get_json()["version"] == 2 and put.get_json()["based_on"] == 1
    assert c.put("/v1/catalog", json={"files": change, "comment": "again"}, headers=h("admin")).status_code == 409

    now = c.get("/v1/catalog", headers=h("admin")).get_json()
    assert now["version"] == 2 and now["files"][name] == change[name]
    listed = {r["id"]: r for r in c.get("/v1/catalog/resources", headers=h("admin")).get_json()["resources"]}
    assert listed[target]["active"] is False
    after = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("platform"))
    assert after.get_json()["catalog_version"] == 2
    assert target not in [p["resource_id"] for p in after.get_json()["prescriptions"]]  # never prescribed again
    history = c.get("/v1/catalog/versions", headers=h("admin")).get_json()["versions"]
    assert [(v["version"], v["active"]) for v in history] == [(2, True), (1, False)]
    one = c.get("/v1/catalog/versions/2", headers=h("admin")).get_json()
    assert one["comment"] == f"{target} retired" and "-  active: true" in one["diff"] and one["author"]

    back = c.post("/v1/catalog/versions/1/activate", headers=h("admin"))
    assert back.status_code == 200 and back.get_json()["version"] == 1
    assert c.get("/v1/catalog", headers=h("admin")).data == first.data  # byte for byte the first catalog
    assert c.post("/v1/catalog/versions/99/activate", headers=h("admin")).status_code == 404
    again = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("platform"))
    assert again.get_json()["catalog_version"] == 1
    from sqlalchemy import select

    from diagnosis_service.store.schema import served_lists

    with svc.engine.connect() as conn:
        kept = conn.execute(select(served_lists.c.catalog_version).order_by(served_lists.c.id)).scalars().all()
    assert kept[-3:] == [1, 2, 1]


def test_preview_shows_what_a_catalog_change_would_do_to_a_month(service):
    c, h = service.client, service.h
    files = c.get("/v1/catalog", headers=h("admin")).get_json()["files"]
    served = [p["resource_id"] for p in c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                                               headers=h("platform")).get_json()["prescriptions"]]
    assert served
    same = c.post("/v1/catalog/preview?period=2025-12", json={"files": {"lecturers.yaml": files["lecturers.yaml"]}},
                  headers=h("admin")).get_json()
    assert same["branches_changed"] == 0 and same["resources_gained"] == [] and same["resources_lost"] == []
    assert same["prescriptions"]["before"] == same["prescriptions"]["after"] > 0 and same["diff"] == ""
    assert same["branches"] > 0 and same["weaknesses"] >= same["branches"]

    target = served[0]
    change = _retire(files, target)
    out = c.post("/v1/catalog/preview?period=2025-12", json={"files": change}, headers=h("admin")).get_json()
    lost = {r["resource_id"]: r for r in out["resources_lost"]}
    assert target in lost and lost[target]["branches"] >= 1 and target not in {r["resource_id"]
                                                                                 for r in out["resources_gained"]}
    assert out["branches_changed"] >= 1 and any(b["branch_id"] == "B00002" and target in b["lost"]
                                                for b in out["changed"])
    topics = {g["topic"]: g for g in out["by_topic"]}
    assert sum(g["weaknesses"] for g in out["by_topic"]) == out["weaknesses"] == sum(
        g["weaknesses"] for g in out["by_branch_type"])
    assert any(target in {r["resource_id"] for r in g["lost"]} for g in topics.values())
    assert "-  active: true" in out["diff"] or "+  active: false" in out["diff"]

    assert out["without_remedy"] == {"before": 0, "after": 0, "weaknesses": []}
    # A catalog that would leave some branch type's weakness without a remedy is refused before any
    # preview: a topic's resources retired but one for a single street.
    listed = c.get("/v1/catalog/resources", headers=h("admin")).get_json()["resources"]
    def pool(topic):
        return [r for r in listed if topic in r["topics"] and r["active"]]
    topic = min((g["topic"] for g in same["by_topic"]), key=lambda t: (len(pool(t)), t))
    kept = next(r for r in pool(topic) if r["streets"] != ["all"])
    retired = dict(files)
    for r in pool(topic):
        if r["id"] != kept["id"]:
            retired.update(_retire(retired, r["id"]))
    changed = {n: t for n, t in retired.items() if t != files[n]}
    empty = c.post("/v1/catalog/preview?period=2025-12", json={"files": changed}, headers=h("admin"))
    messages = [e["message"] for e in empty.get_json()["errors"]]
    assert empty.status_code == 422 and f"topic '{topic}' has no active district-wide resource for branch type " \
        "'village'" in messages

    assert c.post("/v1/catalog/preview?period=2031-01", json={"files": change},
                  headers=h("admin")).status_code == 404
    assert c.post("/v1/catalog/preview?period=13", json={"files": change}, headers=h("admin")).status_code == 422
    broken = c.post("/v1/catalog/preview?period=2025-12", json={"files": {"bases.yaml": "resources: ["}},
                    headers=h("admin"))
    assert broken.status_code == 422 and broken.get_json()["errors"][0]["file"] == "bases.yaml"
    assert c.post("/v1/catalog/preview?period=2025-12", json={"files": change},
                  headers=h("secretary")).status_code == 403
    # A preview serves nothing and changes nothing.
    assert c.get("/v1/catalog", headers=h("admin")).get_json()["files"] == files


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_spreadsheet_round_trip_through_the_api(fresh_service):
    import io

    import openpyxl

    c, h = fresh_service.client, fresh_service.h
    got = c.get("/v1/catalog?format=xlsx", headers=h("admin"))
    assert got.status_code == 200 and got.mimetype == XLSX and got.headers["ETag"] == '"1"'
    assert 'filename="catalog-v1.xlsx"' in got.headers["Content-Disposition"]
    assert c.get("/v1/catalog?format=csv", headers=h("admin")).status_code == 422
    assert c.get("/v1/catalog?format=xlsx", headers=h("secretary")).status_code == 403
    unchanged = c.put("/v1/catalog?comment=same", data=got.data, headers={**h("admin"), "Content-Type": XLSX})
    assert unchanged.status_code == 409 and "no change" in unchanged.get_json()["detail"]

    before = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("platform"))
    target = before.get_json()["prescriptions"][0]["resource_id"]
    wb = openpyxl.load_workbook(io.BytesIO(got.data))
    sheet, row = next((ws, r) for ws in wb.worksheets[:5] for r in ws.iter_rows(min_row=3) if r[0].value == target)
    ids = [cell.value for cell in sheet[2]]
    row[ids.index("active")].value = False
    topics_cell = row[ids.index("topics")]
    good = io.BytesIO()
    wb.save(good)
    topics_cell.value = "theroy_study"
    bad = io.BytesIO()
    wb.save(bad)

    checked = c.post("/v1/catalog/validate", data=bad.getvalue(), headers={**h("admin"), "Content-Type": XLSX})
    out = checked.get_json()
    assert checked.status_code == 200 and out["valid"] is False
    assert out["errors"][0]["file"] == f"{sheet.title}!{topics_cell.coordinate}"
    assert "unknown topic 'theroy_study'" in out["errors"][0]["message"]
    refused = c.put("/v1/catalog?comment=broken", data=bad.getvalue(), headers={**h("admin"), "Content-Type": XLSX})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["file"] == out["errors"][0]["file"]
    assert c.get("/v1/catalog", headers=h("admin")).get_json()["version"] == 1  # nothing changed
    huge = c.put("/v1/catalog?comment=huge", data=b"PK" + bytes(50 * 1024 * 1024),
                 headers={**h("admin"), "Content-Type": XLSX})
    assert huge.status_code == 422 and "over the limit" in huge.get_json()["errors"][0]["message"]

    preview = c.post("/v1/catalog/preview?period=2025-12", data=good.getvalue(),
                     headers={**h("admin"), "Content-Type": XLSX}).get_json()
    assert target in {r["resource_id"] for r in preview["resources_lost"]}
    put = c.put("/v1/catalog?comment=retired+from+the+sheet", data=good.getvalue(),
                headers={**h("admin"), "Content-Type": XLSX, "If-Match": '"1"'})
    assert put.status_code == 201 and put.get_json()["version"] == 2
    after = c.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"}, headers=h("platform"))
    assert after.get_json()["catalog_version"] == 2
    assert target not in [p["resource_id"] for p in after.get_json()["prescriptions"]]
    changed = c.get("/v1/catalog/versions/2", headers=h("admin")).get_json()
    assert list(changed["files"]) == list(c.get("/v1/catalog", headers=h("admin")).get_json()["files"])
    assert "+  active: false" in changed["diff"] and changed["comment"] == "retired from the sheet"
    # The first workbook (exported from version 1) put back now would undo version 2 without a word: refused,
    # saying so, unless the caller says with If-Match which version it means to replace.
    wb = openpyxl.load_workbook(io.BytesIO(got.data))
    wb.worksheets[0].cell(3, 2).value = "a change made on the old export"
    stale = io.BytesIO()
    wb.save(stale)
    late = c.put("/v1/catalog?comment=late", data=stale.getvalue(), headers={**h("admin"), "Content-Type": XLSX})
    assert late.status_code == 409 and late.get_json()["detail"].startswith(
        "the workbook was exported from catalog version 1; version 2 is active now"), late.get_json()
    assert c.get("/v1/catalog", headers=h("admin")).get_json()["version"] == 2
    fresh = c.get("/v1/catalog?format=xlsx", headers=h("admin")).data
    same = c.put("/v1/catalog?comment=same", data=fresh, headers={**h("admin"), "Content-Type": XLSX})
    assert same.status_code == 409 and "no change" in same.get_json()["detail"]  # the active one's: not stale


def test_one_resource_changed_or_added_through_the_api(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    before = c.get("/v1/catalog", headers=h("admin")).get_json()
    lec = next(r for r in c.get("/v1/catalog/resources?kind=lecturer", headers=h("admin")).get_json()["resources"]
               if r["id"] == "LEC001")
    changed = {**{k: v for k, v in lec.items() if v is not None}, "active": False,
               "booking_zh": "提前10个工作日预约"}
    r = c.put("/v1/catalog/resources/LEC001", json={"resource": changed, "comment": "LEC001 on leave"},
              headers={**h("admin"), "If-Match": '"1"'})
    assert r.status_code == 200 and r.get_json()["version"] == 2 and r.get_json()["created"] is False
    now = c.get("/v1/catalog", headers=h("admin")).get_json()
    assert [n for n in now["files"] if now["files"][n] != before["files"][n]] == ["lecturers.yaml"]
    text = now["files"]["lecturers.yaml"]
    assert text.startswith(before["files"]["lecturers.yaml"].split("\n", 1)[0])  # its comments kept
    diff = c.get("/v1/catalog/versions/2", headers=h("admin")).get_json()["diff"]
    changed_lines = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
    assert sorted(changed_lines) == sorted(["-  booking_zh: 提前7个工作日在平台预约讲师，注明支部人数与场地",
                                            "+  booking_zh: 提前10个工作日预约", "-  active: true", "+  active: false"])
    listed = {x["id"]: x for x in c.get("/v1/catalog/resources?kind=lecturer", headers=h("admin")).get_json()[
        "resources"]}
    assert listed["LEC001"]["active"] is False and listed["LEC001"]["booking_zh"] == "提前10个工作日预约"

    new = {"kind": "lesson", "title_zh": "新党课", "title_en": "A new lesson", "topics": ["dues"],
           "format": "online", "duration_minutes": 45, "branch_types": ["all"], "streets": ["all"], "active": True}
    added = c.put("/v1/catalog/resources/LES999", json={"resource": new, "comment": "new lesson"},
                  headers=h("admin"))
    assert added.status_code == 201 and added.get_json()["created"] is True and added.get_json()["version"] == 3
    assert "- id: LES999\n" in c.get("/v1/catalog", headers=h("admin")).get_json()["files"]["lessons.yaml"]

    def problems(resource_id, resource, who="admin"):
        out = c.put(f"/v1/catalog/resources/{resource_id}", json={"resource": resource, "comment": "x"},
                    headers=h(who))
        return out.status_code, {e.get("path"): e for e in out.get_json().get("errors", [])}

    status, errs = problems("LES998", {**new, "topics": ["theroy_study"]})
    assert status == 422 and "did you mean 'theory_study'?" in errs["resource.topics[0]"]["suggestion"]
    status, errs = problems("LES998", {k: v for k, v in new.items() if k != "format"})
    assert status == 422 and "missing field 'format'" in errs["resource.format"]["message"]
    status, errs = problems("LEC001", {**changed, "kind": "video"})
    assert status == 422 and "cannot change" in errs["resource.kind"]["message"]
    status, errs = problems("LES998", {**new, "id": "LES997"})
    assert status == 422 and "resource.id" in errs
    assert problems("LES998", new, "platform")[0] == 403
    assert c.put("/v1/catalog/resources/LES998", json={"resource": new}, headers=h("admin")).status_code == 422
    status, errs = problems("les999", new)  # a typo of LES999's id: not a second copy
    assert status == 422 and "did you mean 'LES999'?" in errs["resource_id"]["suggestion"]
    # A resource sent back as it was read (its empty optional fields null) is taken as it was.
    read = next(r for r in c.get("/v1/catalog/resources?kind=lesson", headers=h("admin")).get_json()["resources"]
                if r["id"] == "LES999")
    assert any(v is None for v in read.values()), read
    again = c.put("/v1/catalog/resources/LES999", json={"resource": read, "comment": "as read"}, headers=h("admin"))
    assert again.status_code == 409 and "no change" in again.get_json()["detail"], again.get_json()
    assert c.get("/v1/catalog", headers=h("admin")).get_json()["version"] == 3  # nothing refused was stored
