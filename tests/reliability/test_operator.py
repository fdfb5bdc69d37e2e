"""Setup mistakes an operator makes: each prints one line saying what is wrong and what fixes it, and
exits with 2; never a traceback. Files the commands write get the mode the umask gives."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from diagnosis_service.cli import main
from tests.support.http import free_port

EXE = str(Path(sys.executable).parent / "diagnosis-service")


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def test_commands_before_db_upgrade(runner, tmp_path, small_district):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    for args in (["import", str(small_district)], ["tokens", "create", "--role", "admin", "--name", "a"],
                 ["tokens", "list"], ["tokens", "revoke", "--name", "a"], ["model", "train"]):
        line = one_line(runner.invoke(main, args, env=env))
        assert line.endswith("has no schema (run `diagnosis-service db upgrade`)"), (args, line)


@pytest.mark.parametrize(("url", "says"), [
    ("postgres://postgres@127.0.0.1:5432/test", "names a database driver that is not installed"),
    ("mysql+nosuchdriver://u@127.0.0.1/x", "names a database driver that is not installed"),
    ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "names a database driver that is not installed"),
    ("not a url", "DATABASE_URL is not a database URL"),
])
def test_urls_that_name_no_database(runner, url, says):
    assert says in one_line(runner.invoke(main, ["tokens", "list"], env={"DATABASE_URL": url}))


@pytest.mark.postgresql
def test_a_missing_postgresql_database(runner, postgres_server):
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/no_such_database_here"
    line = one_line(runner.invoke(main, ["db", "upgrade"], env={"DATABASE_URL": url}))
    assert "does not exist" in line and "createdb" in line and "password" not in line


@pytest.mark.parametrize(("name", "value"), [("DIAGNOSIS_MAX_BODY_MB", "lots"), ("DIAGNOSIS_DB_TIMEOUT", "-1"),
                                             ("DIAGNOSIS_LOG_LEVEL", "LOUD"), ("DIAGNOSIS_PRIOR_EXPLORATION", "1.5")])
def test_a_malformed_setting(runner, tmp_path, name, value):
    line = one_line(runner.invoke(main, ["tokens", "list"], env={name: value,
                                                                 "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}))
    assert line.startswith(f"{name}: must be")


def test_a_token_name_is_bounded(runner, tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    r = runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "n" * 65], env=env)
    assert r.exit_code == 2 and "--name: a token needs a name of 1 to 64 printable characters" in r.stderr
    r = runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "a\tb"], env=env)
    assert r.exit_code == 2
    assert runner.invoke(main, ["tokens", "create", "--role", "admin", "--name", "n" * 64], env=env).exit_code == 0


@pytest.mark.server
def test_serve_refuses_a_database_without_schema_and_a_taken_port(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIAGNOSIS_VAR": str(tmp_path / "var")}
    def refused() -> list[str]:
        r = subprocess.run([EXE, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 2, r.stderr
        return [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("{")]

    # No file yet: refused without leaving an empty one behind.
    assert refused() == [f"the database (sqlite:///{tmp_path / 'd.db'}) does not exist "
                         "(run `diagnosis-service db upgrade`)"]
    assert not (tmp_path / "d.db").exists()
    import sqlite3

    sqlite3.connect(tmp_path / "d.db").close()  # a file without the schema
    assert refused() == [f"the database (sqlite:///{tmp_path / 'd.db'}) has no schema "
                         "(run `diagnosis-service db upgrade`)"]
    subprocess.run([EXE, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([EXE, "serve", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60)
    lines = [line for line in r.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"--port: cannot listen on 127.0.0.1:{port}"), \
        r.stderr


def test_written_files_take_the_umask(runner, tmp_path, small_district):
    old = os.umask(0o027)
    try:
        out = tmp_path / "out.jsonl"
        assert runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12",
                                    "--prescriptions", "0", "--out", str(out)]).exit_code == 0
        data = tmp_path / "sim"
        assert runner.invoke(main, ["simulate", "--out", str(data), "--branches", "5", "--members", "20",
                                    "--months", "2"]).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert stat.S_IMODE(data.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()} == {0o640}
