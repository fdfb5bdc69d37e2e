"""The runtime: problems at start are reported by /readyz (the process still answers), and a request
works with one snapshot of the rules from start to end."""

import shutil

from diagnosis_service.config import Settings
from diagnosis_service.service import create_app
from tests.support.paths import CATALOG, RULES


def settings(tmp_path, rules):
    return Settings(rules_dir=rules, catalog_dir=CATALOG, models_dir=tmp_path / "models", var_dir=tmp_path / "var",
                    secret_key="s", log_level="WARNING")


def test_a_broken_registry_at_start_is_reported_not_a_crash(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "indicators.yaml").write_text("branch: [\n", encoding="utf-8")
    app = create_app({"SETTINGS": settings(tmp_path, rules), "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
                      "AUTO_UPGRADE": True})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.get_json() == {"status": "not ready", "reason": "rules"}


def test_a_database_without_a_schema_is_reported(tmp_path):
    app = create_app({"SETTINGS": settings(tmp_path, RULES), "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"})
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.get_json() == {"status": "not ready", "reason": "schema"}


def test_one_request_sees_one_rule_version(fresh_service):
    """A request's snapshot is read once: a switch of the active version in the middle of it (another
    request publishing) does not change what it works with; the next request sees the new version."""
    svc = fresh_service
    rt = svc.app.extensions["diagnosis"]
    from diagnosis_service.service.db import snapshot

    files = dict(rt.snapshot().files)
    files["member_lamps.yaml"] = files["member_lamps.yaml"].replace("请及时补交", "请于本月底前补交")
    with svc.app.test_request_context():
        first = snapshot()
        rt.switch_to(2, files)  # as a publish in another thread does, after its commit
        assert snapshot() is first and first.version == 1 and "请及时补交" in first.files["member_lamps.yaml"]
    with svc.app.test_request_context():
        assert snapshot().version == 2
