"""Query parameters: a misspelt or repeated one is refused with what was meant, not ignored; a filter on a
branch that does not exist is 404, not an empty answer (both read as "nothing there")."""

from __future__ import annotations

import pytest


def test_a_misspelt_parameter_is_refused_with_what_was_meant(service):
    r = service.client.get("/v1/lamps?period=2025-12&colour=red", headers=service.h("platform"))
    assert r.status_code == 422, r.get_json()
    (err,) = r.get_json()["errors"]
    assert err["path"] == "query.colour" and err["message"] == "unknown query parameter 'colour'"
    assert err["suggestion"] == "did you mean 'color'?"
    odd = service.client.get("/v1/indicators?zzz=1", headers=service.h("admin")).get_json()["errors"][0]
    assert odd["suggestion"] == "this operation takes no query parameters"
    right = service.client.get("/v1/lamps?period=2025-12&color=red", headers=service.h("platform"))
    assert right.status_code == 200 and {x["lamp"] for x in right.get_json()["lamps"]} == {"red"}


def test_a_parameter_given_twice_is_refused_not_read_once(service):
    r = service.client.get("/v1/lamps?period=2025-12&color=red&color=green", headers=service.h("platform"))
    assert r.status_code == 422
    assert r.get_json()["errors"] == [{"path": "query.color", "message": "query parameter 'color' given 2 times",
                                       "suggestion": "give it once"}]


def test_who_may_not_ask_learns_nothing_of_the_parameters(service):
    assert service.client.get("/v1/lamps?colour=red").status_code == 401
    assert service.client.get("/v1/model?colour=red", headers=service.h("secretary")).status_code == 403


@pytest.mark.parametrize("path", ["/v1/reminders?period=2025-12&branch_id=B99999",
                                  "/v1/rankings?period=2025-12&branch_id=B99999"])
def test_a_branch_that_does_not_exist_is_404_not_an_empty_answer(service, path):
    r = service.client.get(path, headers=service.h("platform"))
    assert r.status_code == 404 and r.get_json()["errors"][0]["path"] == "query.branch_id", r.get_json()
    mine = service.client.get(path.replace("B99999", "B00002"), headers=service.h("platform"))
    assert mine.status_code == 200
    # A secretary is told nothing of what exists: another branch, known or not, is the same 403.
    assert service.client.get(path, headers=service.h("secretary")).status_code == 403


def test_numbers_and_ids_are_ascii_digits_and_a_doubled_slash_is_not_redirected(service):
    for limit in ("１０", "1_0", "+10", " 10"):
        r = service.client.get("/v1/lamps", query_string={"period": "2025-12", "limit": limit},
                               headers=service.h("platform"))
        assert r.status_code == 422 and "limit must be a whole number" in r.get_data(as_text=True), limit
    assert service.client.get("/v1/lamps?period=2025-12&limit=10", headers=service.h("platform")).status_code == 200
    assert service.client.get("/v1/rules/versions/1", headers=service.h("admin")).status_code == 200
    assert service.client.get("/v1/rules/versions/%D9%A1", headers=service.h("admin")).status_code == 404
    doubled = service.client.get("/v1//rules", headers={**service.h("admin"), "Host": "evil.example"})
    assert doubled.status_code == 404 and doubled.mimetype == "application/problem+json"
    assert "evil.example" not in str(doubled.headers)
