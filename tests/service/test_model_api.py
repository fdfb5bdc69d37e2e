"""GET /v1/model: what ranks now and the promotion verdicts, for the platform and administrators only."""

from __future__ import annotations

import json

import pandas as pd
from jsonschema_rs import Draft202012Validator

from tests.support.verdicts import record


def test_who_may_read_the_models_state(service):
    assert service.client.get("/v1/model").status_code == 401
    for role in ("secretary", "street"):
        assert service.client.get("/v1/model", headers=service.h(role)).status_code == 403
    for role in ("platform", "admin"):
        r = service.client.get("/v1/model", headers=service.h(role))
        assert r.status_code == 200, r.get_json()


def test_the_ranking_in_service_and_the_latest_verdicts_without_server_paths(service, tmp_path):
    models = service.app.extensions["diagnosis"].settings.models_dir
    before = service.client.get("/v1/model", headers=service.h("admin")).get_json()
    assert before["ranking"]["ranker"].startswith("prior") and before["routine"]["routine"] == "off"
    assert before["verdicts"] == {"total": 0, "items": [], "problems": [], "partial": False, "skipped": 0}
    assert str(models) not in json.dumps(before)  # "no trained model" named the file where the server keeps it
    record(models, "refused", "learned:aaa", "2025-11-01T00:00:00Z", difference=-0.01,
           reason=f"not cross-fitted (this version's recipe does not reproduce {models}/candidate.json)")
    with (models / "promotions.jsonl").open("a", encoding="utf-8") as f:
        f.write("{broken\n")
    record(models, "on trial", "learned:bbb", "2025-12-01T00:00:00Z")
    state = service.client.get("/v1/model", headers=service.h("platform")).get_json()
    assert [(v["verdict"], v["candidate"]) for v in state["verdicts"]["items"]] == [
        ("on trial", "learned:bbb"), ("refused", "learned:aaa")]
    assert state["verdicts"]["total"] == 2 and state["verdicts"]["skipped"] == 1 and state["verdicts"]["problems"] == [
        "promotions.jsonl line 2: not a JSON record (JSONDecodeError); skipped"]
    refused = state["verdicts"]["items"][1]
    assert refused["reason"] == "not cross-fitted (this version's recipe does not reproduce candidate.json)"
    assert str(models) not in json.dumps(state)
    # As the OpenAPI document promises (the fuzz test meets no verdict: its service has none).
    doc = service.client.get("/openapi.json", headers=service.h("admin")).get_json()
    Draft202012Validator({**doc["components"]["schemas"]["ModelState"], "components": doc["components"]}).validate(state)
    one = service.client.get("/v1/model?limit=1", headers=service.h("admin")).get_json()
    assert [v["candidate"] for v in one["verdicts"]["items"]] == ["learned:bbb"] and one["verdicts"]["total"] == 2
    bad = service.client.get("/v1/model?limit=201", headers=service.h("admin"))
    assert bad.status_code == 422 and "limit must be a whole number from 0 to 200" in json.dumps(bad.get_json())


def test_a_record_edited_by_hand_or_unreadable_never_fails_the_answer_or_the_page(fresh_service):
    svc = fresh_service
    models = svc.app.extensions["diagnosis"].settings.models_dir
    models.mkdir(parents=True, exist_ok=True)
    odd = {"at": 5, "refused": "learned:odd", "comparison": {"months": 3, "bounds": 1, "effective_sample": ["a"],
                                                              "cross_fitted": 4, "reason": {"why": "?"}, "difference": "x"}}
    (models / "promotions.jsonl").write_text(json.dumps(odd) + '\n{"trial": "learned:nan", "comparison": '
                                             '{"difference": NaN, "confidence": 0.9, "bounds": [NaN, 1]}}\n',
                                             encoding="utf-8")
    state = svc.client.get("/v1/model", headers=svc.h("admin"))
    assert state.status_code == 200 and "NaN" not in state.get_data(as_text=True)
    doc = svc.client.get("/openapi.json", headers=svc.h("admin")).get_json()
    Draft202012Validator({**doc["components"]["schemas"]["ModelState"], "components": doc["components"]}).validate(
        state.get_json())
    page = svc.client.get("/model", headers=svc.h("admin"))
    assert page.status_code == 200 and "learned:odd" in page.get_data(as_text=True)
    (models / "promotions.jsonl").unlink()
    (models / "promotions.jsonl").mkdir()
    broken = svc.client.get("/v1/model", headers=svc.h("admin")).get_json()
    assert broken["verdicts"]["problems"] == ["promotions.jsonl cannot be read (IsADirectoryError)"]
    assert svc.client.get("/model", headers=svc.h("admin")).status_code == 200


def test_a_reason_keeps_relative_and_api_paths_and_says_an_absolute_one_by_its_name():
    from diagnosis_service.service.health import no_paths

    assert no_paths("see var/loop/candidate.json") == "see var/loop/candidate.json"  # was "varcandidate.json"
    assert no_paths("/srv/ds/models/candidate.json: bad (C:/x/y.json)") == "candidate.json: bad (y.json)"
    assert no_paths("POST /v1/diagnoses for 2025-12, then x=/srv/a/b") == "POST /v1/diagnoses for 2025-12, then x=b"


def test_administrators_find_the_model_and_the_catalog_from_home_before_any_month_is_diagnosed(tmp_path):
    from tests.support.service import make_service

    svc = make_service("sqlite", tmp_path, diagnose=())
    try:
        home = svc.client.get("/", headers=svc.h("admin")).get_data(as_text=True)
        assert 'id="open-model"' in home and 'id="open-catalog"' in home and "还没有任何月份的诊断结果" in home
        assert 'id="open-model"' not in svc.client.get("/", headers=svc.h("street")).get_data(as_text=True)
    finally:
        svc.close()


def test_the_page_says_whether_no_model_was_promoted_or_the_file_is_unusable(fresh_service):
    svc = fresh_service
    rt = svc.app.extensions["diagnosis"]
    none = svc.client.get("/v1/model", headers=svc.h("admin")).get_json()["ranking"]
    assert none["fallback_kind"] == "none" and "尚未启用训练好的模型" in svc.client.get(
        "/model", headers=svc.h("admin")).get_data(as_text=True)
    rt.settings.models_dir.mkdir(parents=True, exist_ok=True)
    (rt.settings.models_dir / "effectiveness.json").write_text("{not a model", encoding="utf-8")
    rt.rankers.load()  # as the service does within seconds of the file's change
    broken = svc.client.get("/v1/model", headers=svc.h("admin")).get_json()["ranking"]
    assert broken["ranker"].startswith("prior") and broken["fallback_kind"] == "unusable"
    assert str(rt.settings.models_dir) not in broken["fallback"]
    page = svc.client.get("/model", headers=svc.h("admin")).get_data(as_text=True)
    assert "模型文件存在，但本版本无法使用" in page and str(rt.settings.models_dir) not in page


def test_the_routines_own_verdicts_give_no_command_line_advice_an_administrators_keep_it(service):
    from diagnosis_service.learning.rollout import compare

    models = service.app.extensions["diagnosis"].settings.models_dir
    empty = compare(pd.DataFrame({"period": []}), None, None, _Named("learned:new"), _Named("prior"))
    said = {"reason": empty.reason, "reason_zh": empty.reason_zh}  # what `model promote` records for it
    assert "--holdout-months" in said["reason"]
    record(models, "refused", "learned:by-hand", "2025-11-01T00:00:00Z", **said)
    record(models, "refused", "learned:routine", "2025-12-01T00:00:00Z", by="the service's monthly routine, for "
           "2025-12", **said)
    items = service.client.get("/v1/model", headers=service.h("platform")).get_json()["verdicts"]["items"]
    by_candidate = {v["candidate"]: v for v in items}
    routine, by_hand = by_candidate["learned:routine"], by_candidate["learned:by-hand"]
    assert routine["reason"].endswith("the routine judges again next month") and "--holdout" not in routine["reason"]
    assert "例行任务下月再评判" in routine["reason_zh"] and "--holdout" not in routine["reason_zh"]
    assert by_hand["reason"] == said["reason"] and by_hand["reason_zh"] == said["reason_zh"]
    page = service.client.get("/model", headers=service.h("admin")).get_data(as_text=True)
    assert page.count("例行任务下月再评判") == 1 and page.count("--holdout-months N") == 1


class _Named:
    def __init__(self, name: str):
        self.name = name
