"""The installed `diagnosis-service` script (``cli.run``): it skips the interpreter's teardown, so what a
normal exit did for it must still happen: every byte of the output flushed, the exit status kept, the
atexit handlers run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from diagnosis_service.cli import main

EXE = str(Path(sys.executable).parent / "diagnosis-service")


def script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL)


def test_the_whole_output_and_the_exit_status_are_kept(runner, small_district, tmp_path):
    # stdout to a pipe is block-buffered: a skipped flush would lose the end of the summary
    done = script("diagnose", "--data", str(small_district), "--period", "2025-12", "--lang", "en")
    same = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--lang", "en"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == same.stdout and len(done.stdout) > 200

    out = tmp_path / "month.jsonl"
    wrote = script("diagnose", "--data", str(small_district), "--period", "2025-12", "--out", str(out))
    assert wrote.returncode == 0 and "60 个支部" in wrote.stderr and str(out) in wrote.stderr  # Chinese first
    assert out.read_bytes().count(b"\n") > 60

    bad = script("diagnose", "--data", str(small_district), "--period", "2030-01")
    assert bad.returncode == 2 and "no data for period 2030-01" in bad.stderr
    unknown = script("no-such-command")
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
    assert script("--version").stdout.startswith("diagnosis-service, version")


def test_atexit_handlers_still_run(tmp_path):
    # A handler registered by a module the command imports (logging's flush is one): sitecustomize
    # stands in for such a module, imported before the command runs.
    marker = tmp_path / "ran"
    (tmp_path / "sitecustomize.py").write_text(
        f"import atexit\natexit.register(lambda: open({str(marker)!r}, 'w').write('yes'))\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = script("--version", env=env)
    assert done.returncode == 0
    assert marker.read_text(encoding="utf-8") == "yes"
