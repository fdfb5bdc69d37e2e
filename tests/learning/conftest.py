"""The closed loop the promotion tests share: simulated once per test run, whatever the number of workers."""

from __future__ import annotations

import fcntl
import os

import pytest

from diagnosis_service.cli import main
from tests.support.rollout import LOOP


@pytest.fixture(scope="session")
def loop(tmp_path_factory):
    from click.testing import CliRunner

    # Under pytest-xdist each worker has its own base directory inside the run's: the parent is shared by
    # the run's workers and by no other run. The loop is deterministic, so one copy serves them all; the
    # tests only read it (a test that changes it copies it first).
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = root / "rollout-loop"
    with open(root / "rollout-loop.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker simulates it, the others wait for it
        if not out.exists():
            partial = root / "rollout-loop.partial"
            r = CliRunner().invoke(main, ["simulate", "loop", *LOOP, "--out", str(partial)])
            assert r.exit_code == 0, r.output
            partial.rename(out)
    return out
