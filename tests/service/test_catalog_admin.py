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
