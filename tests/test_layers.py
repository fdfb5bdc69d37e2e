"""The layer contracts of the design (setup.cfg, run by `lint-imports` in make test) hold, and they are not
decoration: a copy of the package whose store imports the engine breaks them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

LINT = str(Path(sys.executable).parent / "lint-imports")


def lint(package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([LINT, "--no-cache", "--config", str(REPO / "setup.cfg")], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_layers():
    r = lint(REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_store_that_imports_the_engine_breaks_the_contracts(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(REPO / "diagnosis_service", copy / "diagnosis_service",
                    ignore=shutil.ignore_patterns("__pycache__"))
    results = copy / "diagnosis_service" / "store" / "results.py"
    results.write_text(results.read_text(encoding="utf-8") + "\nfrom ..engine.findings import clean_number  # noqa\n",
                       encoding="utf-8")
    r = lint(copy)
    assert r.returncode != 0
    assert "The store imports nothing of the package but errors and periods BROKEN" in r.stdout
    assert "diagnosis_service.store.results -> diagnosis_service.engine.findings" in r.stdout
