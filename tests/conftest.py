"""Shared fixtures: the shipped rules and catalog, a small simulated district on disk, a CLI runner, and
real databases and services on SQLite and PostgreSQL (as flaskr's ``app``/``client``/``runner``).

Markers (setup.cfg): ``postgresql`` (the PostgreSQL leg), ``server`` (real processes and sockets),
``slow`` (closed loops and long fuzzing); ``make test-fast`` leaves those three out.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.remedies.catalog_files import load_catalog
from diagnosis_service.rules import load_ruleset
from diagnosis_service.simulation.district import SimulationSpec, simulate
from tests.support.paths import CATALOG, RULES

SMALL = SimulationSpec(branches=60, members=900, months=12, end="2025-12", seed=7)


# Fixtures that make a test what a marker names: the promotion tests' closed loop (slow), the dask engine's
# LocalCluster of worker processes (server).
MARKED_BY_FIXTURE = {"loop": "slow", "dask_client": "server"}


def pytest_collection_modifyitems(config, items) -> None:
    """Marks from MARKED_BY_FIXTURE; then the modules with a slow test first, those with a server test next.

    pytest-xdist hands whole modules to its workers in collection order (``--no-loadscope-reorder``; by
    default it orders them by their number of tests, which put the few-test, long modules last, each then
    running alone on one core while the other idled). Long first, the many short ones fill in at the end.
    """
    for item in items:
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in item.fixturenames and not item.get_closest_marker(marker):
                item.add_marker(marker)
    tier: dict[str, int] = {}
    looped: set[str] = set()
    for item in items:
        rank = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("server") else 2
        module = item.nodeid.split("::", 1)[0]
        tier[module] = min(tier.get(module, 2), rank)
        if "loop" in item.fixturenames:
            looped.add(module)
    # The closed loop is simulated once for the run (by the first module that asks; any other waits for it),
    # so its modules alternate with other slow ones rather than start side by side.
    slow = [m for m in tier if tier[m] == 0]
    pairs = itertools.zip_longest([m for m in slow if m in looped], [m for m in slow if m not in looped])
    order = {m: i for i, m in enumerate(m for pair in pairs for m in pair if m)}
    items.sort(key=lambda item: (tier[module := item.nodeid.split("::", 1)[0]], order.get(module, 0)))  # stable


@pytest.fixture
def sigint_default():
    """Ctrl-C raises KeyboardInterrupt in this process and in the processes a test starts, as in a terminal.

    A test run started in the background by a shell without job control (``cmd &`` in a script, as a CI
    runner may) inherits SIGINT ignored, and a process keeps an ignored signal across exec: a test of what
    Ctrl-C does would then see nothing happen. A handled signal is reset to the default across exec."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    if before is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.fixture(scope="session")
def ruleset():
    return load_ruleset(RULES)


@pytest.fixture(scope="session")
def catalog(ruleset):
    return load_catalog(CATALOG, ruleset.registry)


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


# ------------------------------------------------------------------ databases and the HTTP service

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def _backend(request) -> str:
    from tests.support.service import postgres_unavailable

    backend = request.param
    if backend == "postgresql":
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
    return backend


@pytest.fixture()
def postgres_server():
    """For a test that needs the local PostgreSQL itself (behind a proxy, a database of its own)."""
    from tests.support.service import postgres_unavailable

    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(params=BACKENDS)
def db_engine(request, tmp_path):
    """A migrated, empty database of its own: an SQLite file, or a fresh schema in the local PostgreSQL."""
    from diagnosis_service.store import make_engine
    from diagnosis_service.store.migrate import upgrade
    from tests.support.service import Database

    db = Database(_backend(request), tmp_path)
    engine = make_engine(db.url)
    upgrade(engine)
    yield engine
    engine.dispose()
    db.drop()


@pytest.fixture(scope="module", params=BACKENDS)
def service(request, tmp_path_factory):
    """A seeded service (read-mostly tests share it within a module)."""
    from tests.support.service import make_service

    backend = _backend(request)
    svc = make_service(backend, tmp_path_factory.mktemp(f"svc-{backend}"))
    yield svc
    svc.close()


@pytest.fixture(params=BACKENDS)
def fresh_service(request, tmp_path):
    """A seeded service of its own, for tests that change rules or data."""
    from tests.support.service import make_service

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
