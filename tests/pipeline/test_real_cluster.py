"""`diagnose --engine dask` on a cluster started as docs/scale.md starts one: `dask scheduler` and `dask worker`
as processes of their own (on 127.0.0.1, each in a directory of its own as on another host), and the command
line as the client, a third process. The same bytes as the vectorized engine, with `--out` and with
`--out-parts` merged by `data merge-parts`; the LocalCluster of the other tests is the library's, this is the
route a real cluster takes."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.http import free_port

BIN = Path(sys.executable).parent
PERIOD = "2025-12"
pytestmark = pytest.mark.server


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "diagnosis-service"), *args], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


@contextlib.contextmanager
def started(cmd: list[str], cwd: Path, log: Path):
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """A scheduler and two single-threaded worker processes (one `dask worker` with a nanny each), as on
    the hosts of a real cluster; its address once both workers have joined (waited for, 90 s at most)."""
    from distributed import Client

    home = tmp_path_factory.mktemp("cluster")
    for host in ("a", "b", "c"):
        (home / host).mkdir()
    address = f"tcp://127.0.0.1:{free_port()}"
    dask = str(BIN / "dask")
    with started([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                  "--dashboard-address", "127.0.0.1:0"], home / "a", home / "scheduler.log"), \
         started([dask, "worker", address, "--nthreads", "1", "--memory-limit", "1GiB", "--host", "127.0.0.1",
                  "--dashboard-address", "127.0.0.1:0"], home / "b", home / "worker-b.log"), \
         started([dask, "worker", address, "--nthreads", "1", "--memory-limit", "1GiB", "--host", "127.0.0.1",
                  "--dashboard-address", "127.0.0.1:0"], home / "c", home / "worker-c.log"):
        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:  # the scheduler not yet listening
                if time.monotonic() > deadline:
                    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(home.glob("*.log")))
                    raise AssertionError(f"the cluster did not come up within 90 s:\n{logs}") from None
                time.sleep(0.5)
        yield address


def test_a_month_on_a_cluster_of_separate_processes_is_the_vectorized_engines_bytes(scheduler, small_district,
                                                                                      tmp_path):
    dataset, parts = tmp_path / "ds", tmp_path / "parts"
    assert cli("data", "convert", str(small_district), str(dataset)).returncode == 0
    expected = cli("diagnose", "--data", str(dataset), "--period", PERIOD, "--out", str(tmp_path / "one.jsonl"))
    assert expected.returncode == 0, expected.stderr

    # the client merges the parts' lines itself
    dask = ["diagnose", "--data", str(dataset), "--period", PERIOD, "--engine", "dask", "--scheduler", scheduler,
            "--part-members", "150", "--lang", "en"]
    merged_here = cli(*dask, "--out", str(tmp_path / "dask.jsonl"))
    assert merged_here.returncode == 0, merged_here.stderr
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
    assert "60 branches" in merged_here.stderr

    # the workers write the parts (their directories differ from the client's: DIR is given absolute)
    written = cli(*dask, "--out-parts", str(parts))
    assert written.returncode == 0, written.stderr
    files = sorted(p.name for p in parts.iterdir())
    assert "manifest.json" in files and len(files) > 2  # several parts, each a worker's file
    merge = cli("data", "merge-parts", str(parts), "--out", str(tmp_path / "merged.jsonl"))
    assert merge.returncode == 0, merge.stderr
    assert (tmp_path / "merged.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()
