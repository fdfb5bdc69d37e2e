"""The closed loop the promotion tests share: simulated once per test process."""

from __future__ import annotations

import pytest

from diagnosis_service.cli import main
from tests.support.rollout import LOOP


@pytest.fixture(scope="session")
def loop(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("rollout") / "loop"
    r = CliRunner().invoke(main, ["simulate", "loop", *LOOP, "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out
