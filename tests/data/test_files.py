"""Temporary files and directories beside a target, and what a writer killed outright leaves behind."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from diagnosis_service.data import files
from diagnosis_service.data.columnar import MARKER
from diagnosis_service.data.files import sweep_stale, temp_dir, temp_prefix, temporary_dir, write_atomic

REPO = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    """The pid of a process that has run and been reaped (not reused this soon on a host of 2 cores)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


def _host() -> str:
    return files._host()


def test_a_dead_process_s_temporaries_are_swept_and_no_other(tmp_path, caplog):
    target = tmp_path / "out.jsonl"
    dead, alive = _dead_pid(), os.getppid()
    stale_dir = tmp_path / f".out.jsonl.tmp-{_host()}-{dead}-abc123"
    stale_dir.mkdir()
    (stale_dir / "part").write_text("x")
    stale_file = tmp_path / f".out.jsonl.tmp-{_host()}-{dead}-def456"
    stale_file.write_text("half")
    stale_parts = tmp_path / f".out.jsonl.parts-{_host()}-{dead}-ccc333"  # another kind of work on the same target
    stale_parts.mkdir()
    kept = [tmp_path / f".out.jsonl.tmp-{_host()}-{alive}-aaa111",      # a process still running
            tmp_path / f".out.jsonl.tmp-otherhost.0badf00d-{dead}-bbb222",   # another host's, on shared storage
            tmp_path / f".out.jsonl.tmp-{_host().split('.')[0]}.0badf00d-{dead}-fff666",  # another container's
            tmp_path / f".out.jsonl.tmp-{_host()}-99999999999-ggg777",  # a pid no process can have
            tmp_path / f".other.jsonl.tmp-{_host()}-{dead}-ddd444",    # another target's
            tmp_path / f".out.jsonl.tmp-{_host()}-notapid-eee555"]     # not a name this module makes
    for path in kept:
        path.mkdir()
    with caplog.at_level(logging.WARNING, logger="diagnosis_service.files"):
        write_atomic(target, ["line\n"])
    assert target.read_text() == "line\n"
    assert not stale_dir.exists() and not stale_file.exists() and not stale_parts.exists()
    assert all(path.is_dir() for path in kept)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.jsonl", *(p.name for p in kept)])
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 3 and all(f"process {dead} of this host" in m for m in said)
    assert sweep_stale(target) == []  # nothing left to sweep


def test_temp_dir_names_its_maker_and_takes_the_umask(tmp_path):
    target = tmp_path / "dataset"
    made = temp_dir(target)
    assert made.name.startswith(temp_prefix(target)) and made.parent == tmp_path
    assert temp_prefix(target) == f".dataset.tmp-{_host()}-{os.getpid()}-"
    umask = os.umask(0o022)
    os.umask(umask)
    assert made.stat().st_mode & 0o777 == 0o777 & ~umask
    with temporary_dir(target, "merge") as private:
        assert private.name.startswith(f".dataset.merge-{_host()}-{os.getpid()}-")
        assert private.stat().st_mode & 0o777 == 0o700
    assert not private.exists()
    assert temp_dir(target).exists() and made.exists(), "this process's own temporaries are never swept"


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from diagnosis_service.data.columnar import DatasetWriter
    from diagnosis_service.rules import load_ruleset
    from diagnosis_service.simulation.district import SimulationSpec, simulate

    registry = load_ruleset(Path(sys.argv[1])).registry
    writer = DatasetWriter(Path(sys.argv[2]))
    writer.__enter__()
    writer.add(simulate(SimulationSpec(branches=12, members=150, months=3, seed=5), registry))
    print(writer.tmp, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would: no handler runs
""")


def test_a_convert_killed_outright_is_cleaned_up_by_the_next(tmp_path, small_district):
    """A ``data convert`` killed with SIGKILL leaves its half-written dataset; the next convert of the same
    target removes it and writes the dataset whole, and the directory holds nothing else."""
    out = tmp_path / "converted" / "dataset"
    script = tmp_path / "killed.py"
    script.write_text(KILLED_WRITER, encoding="utf-8")
    r = subprocess.run([sys.executable, str(script), str(REPO / "rules"), str(out)], capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    assert r.returncode == -signal.SIGKILL, r.stderr
    left = Path(r.stdout.strip())
    assert left.is_dir() and any(left.rglob("*.parquet")), "the killed writer left its work"
    assert not out.exists()
    r = subprocess.run([str(Path(sys.executable).parent / "diagnosis-service"), "data", "convert", str(small_district), str(out)],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not left.exists()
    assert [p.name for p in out.parent.iterdir()] == ["dataset"]
    assert "removed" in r.stderr and str(left) in r.stderr and "this host" in r.stderr
    assert json.loads((out / MARKER).read_text(encoding="utf-8"))["branches"] == 60
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask, "a dataset is readable as any new directory, not private"


KILLED_SPILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from diagnosis_service.data.sources import CsvDir
    from diagnosis_service.data.files import spill_dir
    from diagnosis_service.rules import load_ruleset

    registry = load_ruleset(Path(sys.argv[1])).registry
    spill = spill_dir()
    work = spill.__enter__()
    CsvDir(Path(sys.argv[2])).stream(registry, work)
    print(work, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would: no handler runs
""")


def test_a_spill_left_by_a_command_killed_outright_is_swept_by_the_next(tmp_path, small_district):
    """``import`` and ``data convert``/``append`` spill a CSV directory's months into TMPDIR (half the CSV's
    size); one killed with SIGKILL cannot remove its spill, and the next command that spills does, and leaves
    nothing of its own there."""
    spills = tmp_path / "tmp"
    spills.mkdir()
    env = {**os.environ, "TMPDIR": str(spills)}
    script = tmp_path / "killed.py"
    script.write_text(KILLED_SPILLER, encoding="utf-8")
    r = subprocess.run([sys.executable, str(script), str(REPO / "rules"), str(small_district)], capture_output=True,
                       text=True, cwd=REPO, timeout=300, env=env)
    assert r.returncode == -signal.SIGKILL, r.stderr
    left = Path(r.stdout.strip())
    assert left.parent == spills and left.name.startswith(f".diagnosis-service.spill-{_host()}-")
    assert any(left.glob("*.arrow")), "the killed command left its spill"
    out = tmp_path / "dataset"
    r = subprocess.run([str(Path(sys.executable).parent / "diagnosis-service"), "data", "convert", str(small_district),
                        str(out)], capture_output=True, text=True, cwd=REPO, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert not left.exists()
    assert "removed" in r.stderr and str(left) in r.stderr
    assert list(spills.iterdir()) == [], "the convert's own spill is removed too"


def test_sigterm_between_replace_dir_s_renames_leaves_the_new_directory_in_place(tmp_path, monkeypatch):
    """The two renames that put a finished directory in place (the old one aside, the new one in) are not
    cut between by Ctrl-C or SIGTERM: the signal waits for the second, so the target is the new directory
    (it was neither: the old one aside, the new one removed by the caller's cleanup)."""
    from diagnosis_service.cli.common import sigterm_as_exit

    out, tmp = tmp_path / "parts", tmp_path / ".parts.tmp"
    out.mkdir()
    (out / "old").write_text("old", encoding="utf-8")
    tmp.mkdir()
    (tmp / "new").write_text("new", encoding="utf-8")
    replace = os.replace
    calls = []

    def stopping(a, b):
        replace(a, b)
        calls.append(b)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # between the renames

    monkeypatch.setattr(files.os, "replace", stopping)
    try:
        with sigterm_as_exit():
            files.replace_dir(tmp, out)
        stopped = None
    except SystemExit as exc:
        stopped = exc.code
    assert stopped == 128 + signal.SIGTERM and len(calls) == 2
    assert sorted(p.name for p in out.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts"], "the old directory is not left behind"
