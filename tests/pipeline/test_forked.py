"""`diagnose --out --jobs N`: the month's prescriptions and lines shared out among processes (the
recorded bytes with any N: ``test_month``); a part that fails fails the whole with its message, and leaves no file, no
temporary directory and no process behind."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.forked import write_forked
from diagnosis_service.pipeline.month import diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot
from tests.support.paths import CATALOG, REPO, RULES

RECORDED = REPO / "tests" / "fixtures" / "diagnose-small-2025-12.jsonl.gz"


def no_child_left() -> bool:
    """No copy of this process (a part's fork: the same command line) is its child, running or not waited
    for. Other children (a server another test started) are not counted."""
    me = os.getpid()
    mine = Path("/proc/self/cmdline").read_bytes()
    comm = Path("/proc/self/comm").read_text()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state, ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if int(ppid) != me:
                continue
            if (proc / "cmdline").read_bytes() == mine or (state == "Z" and (proc / "comm").read_text() == comm):
                return False
        except (OSError, IndexError, ValueError):
            continue
    return True


@pytest.fixture()
def month(small_district):
    snapshot = Snapshot.from_dirs(RULES, CATALOG)
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, "2025-12")
    return diagnose_month(dataset, snapshot, "2025-12", per_weakness=5, prescribe_now=False)


def failing(month, branch_id: str):
    """The month's prescriber, failing on one branch (a fault, as a bug in a ranker would be)."""
    prescribe = month.prescribe

    def once(result):
        if result.id == branch_id:
            raise ValueError(f"no remedy for {branch_id}")
        return prescribe(result)

    month.prescribe = once
    return month


@pytest.mark.parametrize("where", ["another process", "this process"])
def test_a_part_that_fails_fails_the_whole_and_leaves_nothing(month, tmp_path, where):
    ids = [b.id for b in month.branches]
    victim = ids[-1] if where == "another process" else ids[0]  # the last part is a child's, the first ours
    out = tmp_path / "out.jsonl"
    out.write_text("the month before\n", encoding="utf-8")
    with pytest.raises((RuntimeError, ValueError), match=f"no remedy for {victim}"):
        write_forked(failing(month, victim), out, 3)
    assert out.read_text(encoding="utf-8") == "the month before\n", "the file there is kept as it was"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    assert no_child_left()


def test_choices_stay_with_the_first_part_and_one_job_keeps_them_all(month, tmp_path):
    write_forked(month, tmp_path / "a.jsonl", 2)
    first_half = {b.id for b in month.branches[: len(month.branches) // 2]}
    assert set(month.choices) == first_half
    assert (tmp_path / "a.jsonl").read_bytes() == gzip.decompress(RECORDED.read_bytes())


def test_jobs_apply_to_out_only(runner, small_district):
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--jobs", "2"])
    assert r.exit_code == 2 and "--jobs applies to --out" in r.output


SLOW_PARTS = """
import json, sys, time
from pathlib import Path
from diagnosis_service.cli.common import sigterm_as_exit
from diagnosis_service.pipeline.forked import write_forked

class Result:
    def __init__(self, i):
        self.id, self.extra = f"B{i:03d}", {}
    def to_json(self):
        return json.dumps({"id": self.id})

class Month:  # a month whose prescriptions take a while: SIGTERM comes while every part is at work
    branches = [Result(i) for i in range(8)]
    members = [Result(100 + i) for i in range(8)]
    choices = {}
    def prescribe(self, result):
        time.sleep(0.5)
        return []

print("ready", flush=True)
with sigterm_as_exit():
    write_forked(Month(), Path(sys.argv[1]), 2)
"""


def test_sigterm_stops_every_part_and_leaves_nothing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "slow.py"
    script.write_text(SLOW_PARTS, encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(out_dir / "month.jsonl")], stdout=subprocess.PIPE,
                            cwd=REPO, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while not any(out_dir.iterdir()) and time.monotonic() < deadline:  # the parts have begun
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert list(out_dir.iterdir()) == []
    cmdline = f"{sys.executable}\0{script}\0".encode()
    time.sleep(0.2)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).startswith(cmdline)]
    assert left == [], "a part outlived its parent"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_a_part_that_hangs_is_stopped_and_written_here(month, tmp_path, caplog):
    """A copy of a process can hang on a lock another thread held at the fork: past ``hung_after`` the part
    is killed and its share written in this process, the same bytes; nothing is left running."""
    parent = os.getpid()
    last = month.branches[-1].id  # in the last part: a child's
    prescribe = month.prescribe

    def hangs_in_a_child(result):
        if result.id == last and os.getpid() != parent:
            time.sleep(60)  # bounded: the part is killed long before
        return prescribe(result)

    month.prescribe = hangs_in_a_child
    started = time.monotonic()
    write_forked(month, tmp_path / "out.jsonl", 3, hung_after=(0.5, 0.0))
    assert time.monotonic() - started < 30
    assert (tmp_path / "out.jsonl").read_bytes() == gzip.decompress(RECORDED.read_bytes())
    assert last in month.choices, "the redone part's choices are this process's"
    assert "part 2 of 3 was still running" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    assert no_child_left()
