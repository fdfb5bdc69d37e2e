"""kill -9 in the middle of an import and of a rule publish: the store keeps what it had or all of the
new, never a part (for an import: of each month), and works at once afterwards (SQLite and PostgreSQL)."""

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.ingest import import_source
from diagnosis_service.simulation.district import SimulationSpec, simulate
from diagnosis_service.store.schema import branch_metrics, member_metrics, rule_versions
from tests.support.http import call, free_port, wait_until_up

pytestmark = [pytest.mark.slow, pytest.mark.server]
EXE = str(Path(sys.executable).parent / "diagnosis-service")
BIG = SimulationSpec(branches=100, members=1500, months=4, end="2025-12", seed=3)  # an import of ~1 s: room for two kills


def digest(engine) -> dict[str, str]:
    """A fingerprint of each month's stored metric rows: equal fingerprints, equal months."""
    out: dict[str, list] = {}
    with engine.connect() as conn:
        for t in (branch_metrics, member_metrics):
            for row in conn.execute(select(t).order_by(*t.primary_key.columns)):
                out.setdefault(row.period, []).append(tuple(row))
    return {p: hashlib.sha256(repr(rows).encode()).hexdigest() for p, rows in out.items()}


@pytest.fixture(scope="module")
def big_district(tmp_path_factory, ruleset):
    directory = tmp_path_factory.mktemp("big") / "data"
    write_dir(simulate(BIG, ruleset.registry), directory, ruleset.registry)
    return directory


def test_kill_during_import(fresh_service, big_district, ruleset, tmp_path):
    svc = fresh_service
    spills = tmp_path / "tmp"  # TMPDIR: where an import spills the checked months
    spills.mkdir()
    env = {**os.environ, "DATABASE_URL": svc.db.url, "DIAGNOSIS_VAR": str(tmp_path / "var"), "TMPDIR": str(spills)}
    start = time.perf_counter()
    import_source(svc.engine, ruleset.registry, CsvDir(big_district), actor="test")
    seconds = time.perf_counter() - start + 1.5  # and a command's start
    before = digest(svc.engine)
    other = tmp_path / "corrected"  # the same organisations, every figure different: an import of updates
    write_dir(simulate(SimulationSpec(**{**BIG.__dict__, "seed": 4}), ruleset.registry), other, ruleset.registry)
    for fraction in (0.3, 0.7):  # bounded: two kills at different points of the write
        proc = subprocess.Popen([EXE, "import", str(other)], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(seconds * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        killed = digest(svc.engine)
        again = subprocess.run([EXE, "import", str(other)], env=env, capture_output=True, timeout=600)
        assert again.returncode == 0, again.stderr  # an import stopped half-way is finished by running it again
        assert list(spills.iterdir()) == [], "the killed import's spill is swept by the next, which removes its own"
        after = digest(svc.engine)
        assert set(killed) == set(after) == set(before)
        for period, fingerprint in killed.items():  # each month all of the old or all of the new, never a part
            assert fingerprint in (before[period], after[period]), period
        before = after


def test_kill_during_a_rule_publish(fresh_service, tmp_path):
    svc = fresh_service
    env = {**os.environ, "DATABASE_URL": svc.db.url, "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_LOG_LEVEL": "ERROR"}
    admin = svc.tokens["admin"]
    for delay in (0.05, 0.3):  # bounded: two kills at different moments of the publish
        port = free_port()
        server = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base)
            status, _, active = call(f"{base}/v1/rules", admin)
            changed = active["files"]["member_lamps.yaml"] + f"\n# edit {delay}\n"
            body = {"files": {"member_lamps.yaml": changed}, "comment": "killed?"}
            sender = threading.Thread(target=_quietly, args=(call, f"{base}/v1/rules", admin, "PUT", body))
            sender.start()
            time.sleep(delay)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            sender.join(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
        with svc.engine.connect() as conn:
            actives = conn.execute(select(rule_versions.c.version).where(rule_versions.c.active.is_(True))).all()
            newest = conn.execute(select(func.max(rule_versions.c.version))).scalar()
        assert len(actives) == 1 and actives[0][0] == newest, "exactly one active version: the newest whole one"
        # The service starts on what is there and serves it.
        port = free_port()
        server = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"http://127.0.0.1:{port}")
            status, _, body = call(f"http://127.0.0.1:{port}/v1/rules", admin)
            assert status == 200 and body["version"] == newest
            assert body["files"]["member_lamps.yaml"] in (active["files"]["member_lamps.yaml"], changed)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _quietly(fn, *args):
    with contextlib.suppress(OSError):  # the server was killed under the request: that is the point
        fn(*args)
