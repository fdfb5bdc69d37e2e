"""What a refused request is told: a field left out is "required", not Python's NoneType; a bad period
says what is wrong with it (the month, the year, the shape)."""

from __future__ import annotations

import json


def test_a_field_left_out_is_said_required(service):
    put = service.client.put("/v1/periods/2025-12/metrics", json={"branches": [{"member_assemblies": 1}]},
                             headers=service.h("platform"))
    assert put.status_code == 422
    said = json.dumps(put.get_json(), ensure_ascii=False)
    assert "branch_id is required (missing or null)" in said and "NoneType" not in said
    listed = service.client.post("/v1/prescriptions", json={"branch_id": "B00002", "period": "2025-12"},
                                 headers=service.h("platform")).get_json()
    fb = service.client.post(f"/v1/prescriptions/{listed['prescriptions'][0]['prescription_id']}/feedback", json={},
                             headers=service.h("platform"))
    assert fb.status_code == 422 and fb.get_json()["errors"][0]["message"].startswith("status is required: one of")


def test_a_bad_period_says_what_is_wrong_with_it(service):
    for period, why in (("2025-13", "months are 01 to 12"), ("9999-12", "years are 1900 to 2099")):
        r = service.client.get(f"/v1/lamps?period={period}", headers=service.h("platform"))
        assert r.status_code == 422 and why in r.get_data(as_text=True), r.get_json()


def test_renaming_a_known_branch_without_its_type_says_the_profile_is_sent_whole(service):
    r = service.client.put("/v1/periods/2025-12/metrics", json={"branches": [{"branch_id": "B00002", "name": "改名支部"}]},
                           headers=service.h("platform"))
    assert r.status_code == 422
    (err,) = r.get_json()["errors"]
    assert err["path"] == "branches[0].type" and "is sent whole; type left out" in err["message"], err
    assert "with their current values" in err["suggestion"]


def test_thousands_of_bad_rows_are_counted_whole_and_the_count_is_listed(service):
    rows = [{"branch_id": "B00002", "member_assemblies": 1, f"typo_{n}": 1} for n in range(1500)]
    r = service.client.put("/v1/periods/2025-12/metrics", json={"branches": rows}, headers=service.h("platform"))
    assert r.status_code == 422
    body = r.get_json()
    *listed, last = body["errors"]
    assert len(listed) == 1000 and last["message"].startswith("... and ") and "more problems not listed" in last["message"]
    more = int(last["message"].split()[2])
    assert body["detail"] == f"{1000 + more} problems; see errors" and 1000 + more >= 1500
