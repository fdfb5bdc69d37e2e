"""A month after this one (a mistyped year) is diagnosed with a warning, and never stops the model's
monthly routine (service/model_routine.py): it is not run for it, nor marked as run."""

from __future__ import annotations

from tests.support.service import make_service


def test_a_month_years_ahead_is_diagnosed_with_a_warning_and_never_stops_the_routine(tmp_path):
    svc = make_service("sqlite", tmp_path, settings={"model_routine": "monthly"})
    try:
        put = svc.client.put("/v1/periods/2099-12/metrics", json={"branches": [{"branch_id": "B00002",
                                                                               "member_assemblies": 1}]},
                             headers=svc.h("platform"))
        assert put.status_code == 200 and "is after this month" in put.get_json()["warnings"][0]["detail"]
        done = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2099-12"}, headers=svc.h("platform"))
        assert done.status_code == 201, done.get_json()
        said = done.get_json()
        assert said["model"]["state"] == "skipped" and "2099-12 is after this month" in said["model"]["reason"]
        assert any("period 2099-12 is after this month" in w["detail"] for w in said["warnings"])
        assert not (tmp_path / "models" / "routine.json").exists()  # not marked: the real months still learn
        real = svc.client.post("/v1/diagnoses?wait=true", json={"period": "2025-12"}, headers=svc.h("platform"))
        assert real.get_json()["model"]["state"] == "nothing to learn" and "warnings" not in real.get_json()
    finally:
        svc.close()
