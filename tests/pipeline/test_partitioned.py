"""The dask engine against the vectorized one: byte-identical output on a real LocalCluster (worker
processes on 127.0.0.1), for the small district cut in many parts, for random districts, and for rules
whose references reach members and earlier months."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.data.columnar import ParquetDir, write_dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.engine.partitioned import member_periods
from diagnosis_service.errors import InputError
from diagnosis_service.periods import parse_period
from diagnosis_service.pipeline.keyed_merge import sort_key
from diagnosis_service.pipeline.month import diagnose_month, write_lines
from diagnosis_service.pipeline.partitioned import diagnose_partitioned, plan_parts
from diagnosis_service.pipeline.snapshot import Snapshot
from diagnosis_service.rules import load_ruleset
from diagnosis_service.simulation.district import SimulationSpec, simulate
from tests.support.paths import CATALOG, RULES

PERIOD = "2025-12"


def vectorized_bytes(dataset, snapshot, period: str, out: Path) -> bytes:
    write_lines(diagnose_month(dataset, snapshot, period, "vectorized", 5).lines(), out)
    return out.read_bytes()


def test_small_district_in_many_parts_is_byte_identical(dask_client, snapshot, small_district, tmp_path):
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    expected = vectorized_bytes(dataset, snapshot, PERIOD, tmp_path / "vectorized.jsonl")
    runs = {}
    for part_members in (1, 150, None):  # a street a part, a few streets, the default
        run = runs[part_members] = diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, tmp_path / "dask.jsonl",
                                                        dask_client, part_members=part_members)
        assert (tmp_path / "dask.jsonl").read_bytes() == expected, part_members
        assert run.branches == 60 and run.members == expected.count(b'"subject":"member"')
        assert sum(run.lamps["branch"].values()) == 60
    assert runs[None].parts == 1 and runs[1].parts == len(ParquetDir(tmp_path / "ds").partitions())
    assert not list(tmp_path.glob(".dask.jsonl.*")), "the parts' files are removed"


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(branches=st.integers(2, 40), per_branch=st.integers(1, 25), months=st.integers(2, 14),
       seed=st.integers(0, 10_000), platform=st.booleans(), part_members=st.integers(1, 300))
def test_random_districts_are_byte_identical(dask_client, snapshot, tmp_path_factory, branches, per_branch, months, seed,
                                             platform, part_members):
    tmp = tmp_path_factory.mktemp("random")
    spec = SimulationSpec(branches=branches, members=branches * per_branch, months=months, seed=seed,
                          platform_from="2025-06" if platform else None)
    dataset = simulate(spec, snapshot.ruleset.registry)
    write_dataset(dataset, tmp / "ds", snapshot.ruleset.registry)
    expected = vectorized_bytes(dataset, snapshot, PERIOD, tmp / "vectorized.jsonl")
    diagnose_partitioned(tmp / "ds", snapshot, PERIOD, tmp / "dask.jsonl", dask_client, part_members=part_members)
    assert (tmp / "dask.jsonl").read_bytes() == expected


MEMBER_RULE = """
  - id: member_study_below_average
    title: {zh: 学习低于平均, en: "studies less than the district"}
    source: default
    subject: member
    when: {indicator: party_lectures_attended, op: lt, ref: {mean: peers, scale: 0.5}}
    severity: yellow
    lamp: true
    topic: theory_study
    message: {zh: 学习偏少, en: studies little}

  - id: member_quantile
    title: {zh: 分位, en: "quantile"}
    source: default
    subject: member
    when: {indicator: theme_party_days_attended, op: le, ref: {quantile: 0.1, peers: size}}
    severity: red
    lamp: true
    topic: theory_study
    message: {zh: 分位, en: quantile}
"""
BRANCH_RULE = """
  - id: branch_red_members_growing
    title: {zh: 红灯党员增多, en: "more members with a red lamp"}
    source: default
    subject: branch
    when: {indicator: red_member_share, change: delta, op: gt, ref: {mean: peers}, for_periods: 2}
    severity: yellow
    lamp: true
    topic: member_management
    message: {zh: 红灯党员增多, en: more red members}
"""


def test_references_over_members_and_earlier_months_are_the_districts(dask_client, rules_copy, small_district, tmp_path):
    """Member rules with peer means and quantiles; a branch rule on the change of red_member_share over
    two months, so that member lamps (and their references) of three months feed branch references."""
    (rules_copy / "member_lamps.yaml").write_text((rules_copy / "member_lamps.yaml").read_text(encoding="utf-8")
                                                  .rstrip("\n") + "\n" + MEMBER_RULE, encoding="utf-8")
    (rules_copy / "branch_lamps.yaml").write_text((rules_copy / "branch_lamps.yaml").read_text(encoding="utf-8")
                                                  .rstrip("\n") + "\n" + BRANCH_RULE, encoding="utf-8")
    snapshot = Snapshot.from_dirs(rules_copy, CATALOG)
    assert member_periods(snapshot.ruleset, parse_period(PERIOD)) == [parse_period(PERIOD) - k for k in (2, 1, 0)]
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    expected = vectorized_bytes(dataset, snapshot, PERIOD, tmp_path / "vectorized.jsonl")
    assert b"member_study_below_average" in expected and b"member_quantile" in expected
    run = diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, tmp_path / "dask.jsonl", dask_client, part_members=80)
    assert run.parts > 3
    assert (tmp_path / "dask.jsonl").read_bytes() == expected
    # Without the district's references a part would judge its members against its own street only.
    shipped = load_ruleset(RULES)
    assert shipped.version != snapshot.ruleset.version


def test_parts_keep_streets_whole_and_in_order():
    partitions = [(0, 500), (1, 2500), (2, 10), (3, 3000), (4, 1)]
    assert plan_parts(partitions, 2, part_members=2000) == [[0, 1], [2, 3], [4]]
    assert plan_parts(partitions, 2, part_members=1) == [[0], [1], [2], [3], [4]]
    assert plan_parts(partitions, 8) == [[0, 1], [2, 3], [4]]  # at least 2,000 members a part
    assert plan_parts([], 2) == []


@pytest.mark.server  # a LocalCluster of worker processes
def test_the_command_line_runs_a_local_cluster_and_refuses_what_it_cannot_do(runner, small_district, tmp_path):
    from diagnosis_service.cli import main

    converted = runner.invoke(main, ["data", "convert", str(small_district), str(tmp_path / "ds")])
    assert converted.exit_code == 0, converted.output
    vectorized = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", PERIOD,
                                      "--out", str(tmp_path / "v.jsonl")])
    assert vectorized.exit_code == 0, vectorized.output
    result = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
                                  "--scheduler", "local:2", "--worker-memory", "1GiB", "--part-members", "200",
                                  "--out", str(tmp_path / "d.jsonl"), "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "on 2 workers" in result.output and "wrote 60 branches" in result.output
    assert re.search(r"lamps: branches (red|yellow) \d+, .*green \d+; members red \d+", result.output), result.output
    assert (tmp_path / "d.jsonl").read_bytes() == (tmp_path / "v.jsonl").read_bytes()

    no_out = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask"])
    assert no_out.exit_code == 2 and "--out" in no_out.output
    csv = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", PERIOD, "--engine", "dask",
                               "--out", str(tmp_path / "x.jsonl")])
    assert csv.exit_code != 0 and "data convert" in csv.output and not (tmp_path / "x.jsonl").exists()
    bad = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
                               "--scheduler", "local:0", "--out", str(tmp_path / "x.jsonl")])
    assert bad.exit_code != 0 and "--scheduler" in bad.output and "local:N" in bad.output
    ignored = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD,
                                   "--scheduler", "local:2", "--out", str(tmp_path / "x.jsonl")])
    assert ignored.exit_code == 2 and "--engine dask only" in ignored.output and not (tmp_path / "x.jsonl").exists()
    dask = ["diagnose", "--period", PERIOD, "--engine", "dask", "--out", str(tmp_path / "x.jsonl")]
    for args, says in ((["--data", str(tmp_path / "ds"), "--worker-memory", "12zz"], "--worker-memory: bad size '12zz'"),
                       (["--data", str(tmp_path / "ds"), "--worker-memory", "150MiB"], "too little for a worker"),
                       (["--data", str(tmp_path / "nope")], "data directory not found")):
        r = runner.invoke(main, [*dask, *args])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, (args, r.output)
    assert not (tmp_path / "x.jsonl").exists()


def test_a_scheduler_that_does_not_answer_is_one_line(runner, small_district, tmp_path, monkeypatch):
    import socket

    from diagnosis_service.cli import main
    from diagnosis_service.pipeline import dask_cluster

    monkeypatch.setattr(dask_cluster, "CONNECT_SECONDS", 2)  # the wait, shortened: the same path
    assert runner.invoke(main, ["data", "convert", str(small_district), str(tmp_path / "ds")]).exit_code == 0
    with socket.socket() as probe:  # a port nobody listens on: bound here, never listened to
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        r = runner.invoke(main, ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
                                 "--scheduler", f"tcp://127.0.0.1:{port}", "--out", str(tmp_path / "x.jsonl")])
    assert r.exit_code == 2 and f"no dask scheduler answers at tcp://127.0.0.1:{port}" in r.output, r.output
    assert "--scheduler" in r.output and not (tmp_path / "x.jsonl").exists()


def test_a_scheduler_that_takes_the_connection_and_never_answers_is_one_line(runner, small_district, tmp_path,
                                                                              monkeypatch):
    """A stopped (SIGSTOP) or overloaded scheduler accepts the connection and says nothing: distributed's
    timeout does not cover that, and the client waited for good. Malformed addresses and TLS without
    certificates are one line too (they were tracebacks)."""
    import socket
    import time

    from diagnosis_service.cli import main
    from diagnosis_service.pipeline import dask_cluster

    monkeypatch.setattr(dask_cluster, "CONNECT_SECONDS", 1)
    assert runner.invoke(main, ["data", "convert", str(small_district), str(tmp_path / "ds")]).exit_code == 0
    dask = ["diagnose", "--data", str(tmp_path / "ds"), "--period", PERIOD, "--engine", "dask",
            "--out", str(tmp_path / "x.jsonl")]
    with socket.socket() as silent:  # listens (the kernel completes the handshake) and never reads
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        start = time.monotonic()
        r = runner.invoke(main, [*dask, "--scheduler", f"tcp://127.0.0.1:{port}"])
        took = time.monotonic() - start
    assert r.exit_code == 2 and "said nothing for 6 s" in r.output and took < 30, (took, r.output)
    for address, says in (("tcp://127.0.0.1", "bad scheduler address"), ("tcp://127.0.0.1:99999", "bad scheduler "
                          "address"), ("tls://127.0.0.1:{port}", "tls:// needs this client's certificates")):
        with socket.socket() as listening:  # a port of its own each time (the one above may linger)
            listening.bind(("127.0.0.1", 0))
            listening.listen(8)
            address = address.format(port=listening.getsockname()[1])
            r = runner.invoke(main, [*dask, "--scheduler", address])
        assert r.exit_code == 2 and says in r.output and "Traceback" not in r.output, (address, r.output)
    assert not (tmp_path / "x.jsonl").exists()


def test_a_period_without_data_is_refused_before_any_work(snapshot, small_district, tmp_path):
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    with pytest.raises(InputError) as info:
        diagnose_partitioned(tmp_path / "ds", snapshot, "2031-01", tmp_path / "o.jsonl", "tcp://127.0.0.1:1")
    assert "2031-01" in str(info.value) and "2025-12" in str(info.value)
    assert not (tmp_path / "o.jsonl").exists()


def test_a_dataset_at_an_fsspec_url_gives_the_same_bytes(dask_client, snapshot, runner, small_district, tmp_path):
    """Workers of a real cluster read the dataset from shared storage through fsspec (file:// here; s3://,
    gs://, ... where their packages are installed)."""
    from diagnosis_service.cli import main
    from diagnosis_service.data.locations import is_dataset

    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    expected = vectorized_bytes(dataset, snapshot, PERIOD, tmp_path / "vectorized.jsonl")
    url = (tmp_path / "ds").as_uri()
    assert url.startswith("file:///") and is_dataset(url) and not is_dataset((tmp_path / "nothing").as_uri())
    diagnose_partitioned(url, snapshot, PERIOD, tmp_path / "dask.jsonl", dask_client, part_members=100)
    assert (tmp_path / "dask.jsonl").read_bytes() == expected
    one = runner.invoke(main, ["diagnose", "--data", url, "--period", PERIOD, "--out", str(tmp_path / "one.jsonl")])
    assert one.exit_code == 0, one.output
    assert (tmp_path / "one.jsonl").read_bytes() == expected
    with pytest.raises(InputError) as info:
        ParquetDir("nosuchscheme://bucket/province")
    assert "nosuchscheme://bucket/province" in str(info.value) and "s3fs" in str(info.value)
    with pytest.raises(InputError) as info:
        ParquetDir((tmp_path / "nothing").as_uri()).describe()
    assert "not a dataset" in str(info.value)


def test_many_parts_are_merged_in_rounds_with_few_files_open(dask_client, snapshot, small_district, tmp_path, monkeypatch):
    """A province of thousands of parts must not hit the open-file limit: the merge opens a few at a time."""
    from diagnosis_service.pipeline import keyed_merge

    monkeypatch.setattr(keyed_merge, "MERGE_FILES", 3)
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    expected = vectorized_bytes(dataset, snapshot, PERIOD, tmp_path / "vectorized.jsonl")
    run = diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, tmp_path / "dask.jsonl", dask_client, part_members=1)
    assert run.parts > 9  # three rounds of merges
    assert (tmp_path / "dask.jsonl").read_bytes() == expected


@given(ids=st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=30, unique=True))
def test_part_files_sort_their_lines_as_the_ids_sort(ids):
    # The merge compares keys as bytes: any id (tabs, newlines, quotes, CJK, astral characters) sorts as
    # one process sorts the ids, and the key holds no tab or newline to break a part file's line.
    keys = {i: sort_key(i) for i in ids}
    assert sorted(ids, key=keys.__getitem__) == sorted(ids)
    assert not any(b"\t" in k or b"\n" in k for k in keys.values())


def test_a_part_the_cluster_lost_is_one_line_not_a_traceback(dask_client):
    """A part whose workers died (out of memory, killed) comes back cancelled, the CancelledError given as
    its result (as_completed raises only a task's own error): the run ended in "AttributeError:
    'FutureCancelledError' object has no attribute 'items'" instead of saying what to do."""
    import time

    from diagnosis_service.errors import Unavailable
    from diagnosis_service.pipeline.partitioned import _gather

    future = dask_client.submit(time.sleep, 0.5, pure=False)
    future.cancel()
    with pytest.raises(Unavailable, match="the workers died running a part") as caught:
        list(_gather(dask_client, [future], "diagnosis", None))
    assert "more memory a worker (--worker-memory)" in caught.value.problems[0].suggestion


def test_a_file_lost_from_the_dataset_stops_the_dask_run_with_one_line(dask_client, snapshot, small_district,
                                                                        tmp_path):
    from diagnosis_service.data.columnar import street_file

    dataset = CsvDir(small_district).load(snapshot.ruleset.registry, PERIOD)
    write_dataset(dataset, tmp_path / "ds", snapshot.ruleset.registry)
    (tmp_path / "ds" / "member_metrics" / PERIOD / f"{street_file(1)}.parquet").unlink()
    with pytest.raises(InputError, match="1 file of the dataset missing, that its description lists"):
        diagnose_partitioned(tmp_path / "ds", snapshot, PERIOD, tmp_path / "o.jsonl", dask_client, part_members=100)
    assert not (tmp_path / "o.jsonl").exists()
