"""Shared fixtures: the shipped rules, a small simulated district on disk, and a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.rules import load_ruleset
from diagnosis_service.simulate import SimulationSpec, simulate

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules"
SMALL = SimulationSpec(branches=60, members=900, months=12, end="2025-12", seed=7)


@pytest.fixture(scope="session")
def ruleset():
    return load_ruleset(RULES)


@pytest.fixture()
def rules_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped rules that a test may break."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


@pytest.fixture(scope="session")
def small_district(tmp_path_factory, ruleset) -> Path:
    """A 60-branch, 900-member, 12-month district written as a CSV directory (read-only for tests)."""
    directory = tmp_path_factory.mktemp("district") / "data"
    write_dir(simulate(SMALL, ruleset.registry), directory, ruleset.registry)
    return directory


@pytest.fixture()
def district_copy(tmp_path: Path, small_district: Path) -> Path:
    """A private copy of the small district that a test may break."""
    target = tmp_path / "data"
    shutil.copytree(small_district, target)
    return target


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()
