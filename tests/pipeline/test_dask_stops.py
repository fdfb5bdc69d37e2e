"""Stopping a dask run: a Ctrl-C or SIGTERM to the command, and a stop the command line noted after the
cluster's code dropped it, leave no output, no temporary and no process behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagnosis_service.data.columnar import write_dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.partitioned import diagnose_partitioned

PERIOD = "2025-12"


def test_a_stop_noted_before_the_output_is_committed_leaves_nothing(dask_client, snapshot, small_district, tmp_path):
    """``before_commit`` raising (a Ctrl-C that the cluster's code swallowed, noted by the command line) once
    every part is in, or once the merged lines are written: the file there before is left as it was, no
    temporary is left; the parts directory likewise."""
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    calls = []

    def stop_at(call: int):
        def stop() -> None:
            calls.append(call)
            if len(calls) == call:
                raise KeyboardInterrupt
        return stop

    (tmp_path / "o.jsonl").write_text("the file there before\n", encoding="utf-8")
    for call in (1, 2):  # once every part is in; then once the merged lines are written, before the rename
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, tmp_path / "o.jsonl", dask_client,
                                 part_members=150, before_commit=stop_at(call))
        assert len(calls) == call and not list(tmp_path.glob(".o.jsonl*")), call
        assert (tmp_path / "o.jsonl").read_text(encoding="utf-8") == "the file there before\n"
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, None, dask_client, part_members=150,
                             out_parts=tmp_path / "parts", before_commit=stop_at(1))
    assert calls == [1] and not (tmp_path / "parts").exists()


@pytest.mark.server
@pytest.mark.parametrize("how", ["ctrl-c to the process group", "sigterm"])
def test_a_dask_run_stopped_says_one_thing_and_leaves_nothing(small_district, tmp_path, how, sigint_default):
    """Stopped during the diagnosis pass: Ctrl-C from a terminal (SIGINT to the whole process group) or
    SIGTERM to the command. Its workers ignore the terminal's Ctrl-C (each printed its KeyboardInterrupt
    traceback) and the cluster's teardown logs are left out (dozens of lines of closed connections and
    forgotten keys): stderr holds the progress lines and "Aborted!" at most. No output file, no process
    of the run left."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from click.testing import CliRunner

    from diagnosis_service.cli import main as cli

    assert CliRunner().invoke(cli, ["data", "convert", str(small_district), str(tmp_path / "ds")]).exit_code == 0
    exe = str(Path(sys.executable).parent / "diagnosis-service")
    env = {**os.environ, "TMPDIR": str(tmp_path), "DIAGNOSIS_VAR": str(tmp_path / "var")}
    run = subprocess.Popen([exe, "diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
                            "--scheduler", "local:2", "--part-members", "50", "--out", str(tmp_path / "o.jsonl")],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        for line in run.stderr:
            lines.append(line)
            if line.startswith("支部参照值："):  # the branch references' pass is done (Chinese first)
                started.set()  # the diagnosis pass comes next

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(120), "".join(lines)
        if how == "sigterm":
            run.send_signal(signal.SIGTERM)
        else:
            os.killpg(run.pid, signal.SIGINT)
        code = run.wait(timeout=120)
        reader.join(timeout=30)
    finally:
        run.kill()
        run.wait(timeout=30)
        reader.join(timeout=30)
        run.stderr.close()
    err = "".join(lines)
    assert code == (128 + signal.SIGTERM if how == "sigterm" else 1), (code, err)
    assert "Traceback" not in err and "ERROR" not in err, err
    assert not (tmp_path / "o.jsonl").exists()
    for _ in range(100):  # bounded: the run's processes gone within 10 s
        try:
            os.killpg(run.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("processes of the stopped run are left")
