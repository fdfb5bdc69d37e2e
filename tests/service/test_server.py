"""The command line of the store and a real server process, as a new user meets them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from diagnosis_service.cli import main
from diagnosis_service.store.schema import member_metrics
from tests.support.http import call, free_port, wait_until_up

EXE = str(Path(sys.executable).parent / "diagnosis-service")


@pytest.fixture()
def env(tmp_path, monkeypatch):
    values = {"DIAGNOSIS_VAR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'd.db'}",
              "DIAGNOSIS_LOG_LEVEL": "INFO"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def test_db_upgrade_import_and_tokens(runner, env, small_district, district_copy):
    r = runner.invoke(main, ["db", "upgrade"])
    assert r.exit_code == 0 and "：版本 无 -> 0009（最新 0009）" in r.stdout
    assert "revision 0009 -> 0009" in runner.invoke(main, ["db", "upgrade", "--lang", "en"]).stdout
    # A broken directory is refused whole: nothing stored.
    text = (district_copy / "member_metrics.csv").read_text(encoding="utf-8").split("\n")
    cells = text[5].split(",")
    cells[2] = "abc"  # not a number
    text[5] = ",".join(cells)
    (district_copy / "member_metrics.csv").write_text("\n".join(text), encoding="utf-8")
    bad = runner.invoke(main, ["import", str(district_copy)])
    assert bad.exit_code == 2 and "member_metrics.csv:6:" in bad.stderr and "未写入任何内容" in bad.stderr
    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(member_metrics)).scalar() == 0
    first = runner.invoke(main, ["import", str(small_district), "--lang", "en"])
    assert first.exit_code == 0 and "branches        inserted      60" in first.stdout
    second = runner.invoke(main, ["import", str(small_district)])
    assert second.exit_code == 0
    for line in second.stdout.splitlines()[:-1]:
        assert "新增       0  更新       0" in line, "importing twice changes nothing"
    created = runner.invoke(main, ["tokens", "create", "--role", "secretary", "--branch", "B00002", "--name", "s2"])
    token = created.stdout.strip()
    assert created.exit_code == 0 and token.startswith("ds_") and "已创建令牌 's2'（secretary，B00002）" in created.stderr
    listing = runner.invoke(main, ["tokens", "list"]).stdout
    assert "s2" in listing and "secretary" in listing and token not in listing and listing.startswith("名称")
    english = runner.invoke(main, ["tokens", "list", "--lang", "en"]).stdout
    assert english.startswith("name") and "active" in english
    dup = runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "s2"])
    assert dup.exit_code == 2 and "a token named 's2' exists" in dup.stderr
    nobranch = runner.invoke(main, ["tokens", "create", "--role", "secretary", "--name", "s9"])
    assert nobranch.exit_code == 2 and "--branch: a secretary's token needs a branch" in nobranch.stderr
    revoked = runner.invoke(main, ["tokens", "revoke", "--name", "s2"])
    assert revoked.exit_code == 0 and revoked.stdout.strip() == "已吊销令牌 's2'"
    again = runner.invoke(main, ["tokens", "revoke", "--name", "s2", "--lang", "en"])
    assert again.exit_code == 2 and "no active token named 's2'" in again.stderr
    assert "已吊销" in runner.invoke(main, ["tokens", "list"]).stdout
    reused = runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "s2"])
    assert reused.exit_code == 2 and "a token named 's2' exists (revoked)" in reused.stderr
    assert "a revoked token keeps its name" in reused.stderr and "revoke that one" not in reused.stderr
    assert "已是最新版本 0009" in runner.invoke(main, ["db", "upgrade"]).stdout
    engine.dispose()


@pytest.mark.slow
@pytest.mark.server
def test_a_real_server_process_over_http(env, small_district, tmp_path):
    full_env = {**os.environ, **env}
    run = lambda *args: subprocess.run([EXE, *args], env=full_env, capture_output=True, text=True, check=True)  # noqa: E731
    run("db", "upgrade")
    run("import", str(small_district))
    platform = run("tokens", "create", "--role", "platform", "--name", "p").stdout.strip()
    secretary = run("tokens", "create", "--role", "secretary", "--branch", "B00002", "--name", "s").stdout.strip()
    port = free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 -- closed below, after the process
    server = subprocess.Popen([EXE, "serve", "--port", str(port)], env=full_env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        status, headers, body = call(f"{base}/healthz")
        assert status == 200 and body == {"status": "ok"} and headers["Server"] == "diagnosis-service"
        assert call(f"{base}/v1/indicators")[0] == 401
        status, _, body = call(f"{base}/v1/diagnoses?wait=true", platform, "POST", {"period": "2025-12"})
        assert status == 201 and body["branches"] == 60
        status, _, body = call(f"{base}/v1/branches/B00002/diagnosis?period=2025-12", secretary)
        assert status == 200 and body["id"] == "B00002"
        assert call(f"{base}/v1/branches/B00003/diagnosis?period=2025-12", secretary)[0] == 403
        status, _, body = call(f"{base}/v1/prescriptions", secretary, "POST", {"branch_id": "B00002",
                                                                               "period": "2025-12"})
        assert status == 201 and all("prescription_id" in p for p in body["prescriptions"])
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("msg") == "request"]
    assert requests and all(entry["request_id"] for entry in requests)
    text = (tmp_path / "server.log").read_text()
    assert platform not in text and secretary not in text
    # Every line of the server's log is one JSON object (waitress's own and the start-up's too), the last
    # ones saying it stopped on SIGTERM.
    assert all(line.startswith("{") for line in text.splitlines() if line.strip()), text[:2000]
    assert any(entry["msg"].startswith("serving on http://127.0.0.1") for entry in lines)
    assert any(entry["msg"] == "stopping" for entry in lines)
