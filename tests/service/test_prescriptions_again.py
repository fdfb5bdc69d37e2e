"""A list asked for again: the same list is the same showing (its ids, nothing logged anew); a list that
changed is a new showing."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from diagnosis_service.store import served as served_store
from diagnosis_service.store.schema import served, served_lists

ASK = {"branch_id": "B00002", "period": "2025-12"}


def lists_of(engine, branch_id="B00002", period="2025-12") -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(served_lists).where(
            served_lists.c.branch_id == branch_id, served_lists.c.period == period)).scalar_one()


def test_the_same_list_asked_again_is_answered_with_its_ids_and_logged_once(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    first = c.post("/v1/prescriptions", json=ASK, headers=h("secretary"))
    assert first.status_code == 201 and first.get_json()["prescriptions"] and "repeated" not in first.get_json()
    rows = lists_of(fresh_service.engine), _count(fresh_service.engine)
    # A retry by the platform, a screen opened twice by the secretary: the same list, its ids.
    for who in ("platform", "secretary"):
        again = c.post("/v1/prescriptions", json=ASK, headers=h(who))
        assert again.status_code == 201 and again.get_json() == {**first.get_json(), "repeated": True}
    assert (lists_of(fresh_service.engine), _count(fresh_service.engine)) == rows == (1, len(first.get_json()["prescriptions"]))
    # An answer given on it stays on the list the next ask returns.
    pid = first.get_json()["prescriptions"][0]["prescription_id"]
    assert c.post(f"/v1/prescriptions/{pid}/feedback", json={"status": "adopted"}, headers=h("secretary")).status_code == 201
    assert c.post("/v1/prescriptions", json=ASK, headers=h("platform")).get_json()["list_id"] == first.get_json()["list_id"]
    # Another branch's list is its own.
    other = c.post("/v1/prescriptions", json={**ASK, "branch_id": "B00003"}, headers=h("platform")).get_json()
    assert "repeated" not in other and other["list_id"] != first.get_json()["list_id"]


def test_after_a_new_catalog_version_the_list_is_served_and_logged_anew(fresh_service):
    c, h = fresh_service.client, fresh_service.h
    first = c.post("/v1/prescriptions", json=ASK, headers=h("platform")).get_json()
    shown = {p["resource_id"] for p in first["prescriptions"]}
    listed = c.get("/v1/catalog/resources?kind=lesson", headers=h("admin")).get_json()["resources"]
    lesson = next(r for r in listed if r["id"] not in shown)  # a change that leaves the same items shown
    changed = {**{k: v for k, v in lesson.items() if v is not None}, "title_en": lesson["title_en"] + " (revised)"}
    put = c.put(f"/v1/catalog/resources/{lesson['id']}", json={"resource": changed, "comment": "retitled"},
                headers=h("admin"))
    assert put.status_code == 200, put.get_json()
    after = c.post("/v1/prescriptions", json=ASK, headers=h("platform")).get_json()
    assert "repeated" not in after and after["list_id"] != first["list_id"]
    assert after["catalog_version"] == first["catalog_version"] + 1 and lists_of(fresh_service.engine) == 2
    assert c.post("/v1/prescriptions", json=ASK, headers=h("platform")).get_json()["list_id"] == after["list_id"]


@pytest.mark.parametrize("change", ["ranker", "catalog_version", "topic", "rule", "resource_id", "kind", "score",
                                    "propensity", "body", "fewer", "more", "order"])
def test_a_list_that_differs_in_anything_stored_is_not_the_same(db_engine, change):
    items = [{"topic": t, "rule": f"r_{t}", "resource_id": f"R{n}", "kind": "lesson", "score": 0.1 * n + 1 / 3,
              "propensity": 0.25 + n / 10, "body": {"title_zh": "党课", "n": n, "need": {"value": 0.1}}}
             for n, t in enumerate(("dues", "dues", "study"))]
    with db_engine.begin() as conn:
        list_id, ids = served_store.log_list(conn, "B00001", "2025-12", "learned:abc", "api", "test", items, 4)
        assert served_store.same_as_latest(conn, "B00001", "2025-12", "learned:abc", copy.deepcopy(items), 4) == (
            list_id, ids)  # the floats, the text and the JSON read back as they were written
        assert served_store.same_as_latest(conn, "B00001", "2025-11", "learned:abc", items, 4) is None
        ranker, version, other = "learned:abc", 4, copy.deepcopy(items)
        if change == "ranker":
            ranker = "prior"
        elif change == "catalog_version":
            version = None
        elif change == "fewer":
            other = other[:2]
        elif change == "more":
            other.append(other[0])
        elif change == "order":
            other[0], other[1] = other[1], other[0]
        elif change == "body":
            other[2]["body"]["need"]["value"] = 0.2
        else:
            other[1][change] = other[1][change] + ("x" if isinstance(other[1][change], str) else 1e-9)
        assert served_store.same_as_latest(conn, "B00001", "2025-12", ranker, other, version) is None


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(served)).scalar_one()
