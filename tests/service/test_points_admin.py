"""Vanguard-point weights over HTTP: read, validate with locations, preview the rankings, publish as a
rule-set version and roll back."""

from __future__ import annotations

import yaml

from tests.support.paths import RULES

YAML = {"Content-Type": "application/yaml"}


def test_the_active_weights_and_their_checks(service):
    c, h = service.client, service.h
    r = c.get("/v1/points", headers=h("admin"))
    body = r.get_json()
    shipped = yaml.safe_load((RULES / "points.yaml").read_text(encoding="utf-8"))["points"]
    assert r.status_code == 200 and r.headers["ETag"] == f'"{body["version"]}"'
    assert {w["indicator"]: w["weight"] for w in body["weights"]} == {k: v["weight"] for k, v in shipped.items()}
    assert all(w["name_zh"] and w["unit"] for w in body["weights"])
    assert body["file"] == (RULES / "points.yaml").read_text(encoding="utf-8")
    for who in ("secretary", "street"):
        assert c.get("/v1/points", headers=h(who)).status_code == 403

    broken = body["file"].replace("volunteer_hours:", "volunter_hours:")
    out = c.post("/v1/points/validate", data=broken.encode(), headers={**h("admin"), **YAML}).get_json()
    assert out["valid"] is False
    err = out["errors"][0]
    assert err["file"] == "points.yaml" and err["line"] == broken[:broken.index("volunter_hours")].count("\n") + 1
    assert "volunter_hours" in err["message"] and "volunteer_hours" in str(err.get("suggestion"))
    negative = body["file"].replace("dues_paid: {weight: 1,", "dues_paid: {weight: -3,")
    assert c.post("/v1/points/validate", json={"file": negative}, headers=h("admin")).get_json()["valid"] is False
    same = c.post("/v1/points/validate", json={"file": body["file"]}, headers=h("admin")).get_json()
    assert same == {"valid": True, "errors": []}
    assert c.post("/v1/points/validate", json={"file": ""}, headers=h("admin")).status_code == 422
    assert c.post("/v1/points/validate", json={"weights": 1}, headers=h("admin")).status_code == 422


def test_preview_shows_how_the_rankings_would_move(service):
    c, h = service.client, service.h
    text = c.get("/v1/points", headers=h("admin")).get_json()["file"]
    heavier = text.replace("volunteer_hours: {weight: 0.5,", "volunteer_hours: {weight: 5,")
    assert heavier != text
    out = c.post("/v1/points/preview?period=2025-12", data=heavier.encode(), headers={**h("admin"), **YAML}).get_json()
    assert out["weights"] == [{"indicator": "volunteer_hours", "before": 0.5, "after": 5}]
    assert 0 < out["members_points_changed"] <= out["members"] and out["members_rank_moved"] > 0
    move = out["largest_moves"][0]
    assert move["rank"]["before"] != move["rank"]["after"]
    assert move["points"]["after"] > move["points"]["before"]  # more volunteer hours, more points
    ranks = [m["rank"] for m in out["top_after"]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    assert out["branches_rank_moved"] > 0 and "+  volunteer_hours: {weight: 5," in out["diff"]
    unchanged = c.post("/v1/points/preview", json={"file": text, "period": "2025-12"}, headers=h("admin")).get_json()
    assert unchanged["members_points_changed"] == 0 and unchanged["members_rank_moved"] == 0
    assert unchanged["top_before"] == unchanged["top_after"]
    assert c.post("/v1/points/preview", json={"file": text, "period": "2031-01"}, headers=h("admin")).status_code == 404


def test_publish_weights_then_roll_back(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    first = c.get("/v1/points", headers=h("admin")).get_json()
    heavier = first["file"].replace("volunteer_hours: {weight: 0.5,", "volunteer_hours: {weight: 5,")
    assert c.put("/v1/points", json={"file": heavier}, headers=h("admin")).status_code == 422  # no comment
    assert c.put("/v1/points", json={"file": heavier, "comment": "x"}, headers=h("platform")).status_code == 403
    broken = c.put("/v1/points", json={"file": "points: [", "comment": "oops"}, headers=h("admin"))
    assert broken.status_code == 422 and broken.get_json()["errors"][0]["file"] == "points.yaml"
    stale = c.put("/v1/points", json={"file": heavier, "comment": "x", "base_version": first["version"] + 5},
                  headers=h("admin"))
    assert stale.status_code == 409
    pinned = c.put("/v1/points?comment=2027+weights", data=heavier.encode(),
                   headers={**h("admin"), **YAML, "If-Match": f'"{first["version"]}"'})
    err = pinned.get_json()["errors"][0]
    assert pinned.status_code == 422 and "points example of the contract" in err["message"]
    assert "send the test updated with them" in err["suggestion"]  # the contract's example pins the weights
    name = "tests/member_lamps_test.yaml"
    test = c.get("/v1/rules", headers=h("admin")).get_json()["files"][name]
    updated = test.replace("M2: {vanguard_points: 1.5}", "M2: {vanguard_points: 15}")
    assert updated != test
    put = c.put("/v1/points", json={"file": heavier, "tests": {name: updated}, "comment": "2027 weights"},
                headers={**h("admin"), "If-Match": f'"{first["version"]}"'})
    assert put.status_code == 201, put.get_json()
    version = put.get_json()["version"]
    # The same weights again (now the version's own file): no change, said as such.
    same = c.put("/v1/points", json={"file": heavier, "comment": "again"}, headers=h("admin"))
    assert same.status_code == 409 and "no change" in same.get_json()["detail"], same.get_json()
    now = c.get("/v1/points", headers=h("admin")).get_json()
    assert now["version"] == version and now["stored"] is True
    assert {w["indicator"]: w["weight"] for w in now["weights"]}["volunteer_hours"] == 5
    audit = c.get(f"/v1/rules/versions/{version}", headers=h("admin")).get_json()
    assert audit["comment"] == "2027 weights" and "volunteer_hours: {weight: 5," in audit["diff"]

    def points_of_month():
        assert c.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=h("platform")).status_code in (200, 201)
        return c.get("/v1/rankings?period=2025-12&by=month&limit=5", headers=h("admin")).get_json()

    after = points_of_month()
    back = c.post(f"/v1/rules/versions/{first['version']}/activate", headers=h("admin"))
    assert back.status_code == 200
    assert c.get("/v1/points", headers=h("admin")).get_json()["weights"] == first["weights"]
    before = points_of_month()
    assert after != before  # the stored month's points followed the weights each time
