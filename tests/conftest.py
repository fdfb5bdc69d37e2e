"""Shared fixtures: the shipped rules, a small simulated district on disk, and a CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.rules import load_ruleset
from diagnosis_service.simulation.district import SimulationSpec, simulate

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


# ------------------------------------------------------------------ the HTTP service, on SQLite and PostgreSQL

BACKENDS = ["sqlite", "postgresql"]


def _backend(request) -> str:
    from tests.service_support import postgres_unavailable

    backend = request.param
    if backend == "postgresql":
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
    return backend


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory):
    """A seeded service (read-mostly tests share it within a module)."""
    from tests.service_support import make_service

    backend = _backend(request)
    svc = make_service(backend, tmp_path_factory.mktemp(f"svc-{backend}"))
    yield svc
    svc.close()


@pytest.fixture(params=BACKENDS)
def fresh_service(request, tmp_path):
    """A seeded service of its own, for tests that change rules or data."""
    from tests.service_support import make_service

    backend = _backend(request)
    svc = make_service(backend, tmp_path)
    yield svc
    svc.close()


@pytest.fixture()
def app(fresh_service):
    return fresh_service.app


@pytest.fixture()
def client(fresh_service):
    return fresh_service.client
