"""A month through the pipeline gives the same bytes as before the pipeline was one (the output of
`diagnose --out` recorded at commit 7b7d152 for the small district, re-recorded with issue 13's
wording and with issue 15's calendar quarters and size bands: messages, reported indicators and the
two rules now compared with branches of similar size changed; and with a lesson named as one in
English, "hold the lesson \"...\"", 2026-12-04), on
both engines and with any number of jobs, and the sinks
and sources keep what they promise."""

import gzip
import os
import stat

import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.errors import InputError
from diagnosis_service.pipeline.month import JsonLinesSink, diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot
from tests.support.paths import CATALOG, REPO, RULES

RECORDED = REPO / "tests" / "fixtures" / "diagnose-small-2025-12.jsonl.gz"


@pytest.mark.parametrize("engine, jobs", [("vectorized", None), ("durable", None), ("vectorized", "1"),
                                          ("vectorized", "3"), ("vectorized", "7"), ("durable", "2")])
def test_diagnose_out_is_byte_identical_to_the_recorded_output(runner, small_district, tmp_path, engine, jobs):
    # With any number of processes sharing out the prescriptions and lines (--jobs; default: the cores).
    from tests.pipeline.test_forked import no_child_left

    out = tmp_path / "out.jsonl"
    r = runner.invoke(main, ["diagnose", "--data", str(small_district), "--period", "2025-12", "--out", str(out),
                             "--engine", engine, *(["--jobs", jobs] if jobs else [])])
    assert r.exit_code == 0, r.output
    assert out.read_bytes() == gzip.decompress(RECORDED.read_bytes())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"] and no_child_left()


def test_the_library_call_and_the_command_write_the_same_lines(small_district, tmp_path):
    snapshot = Snapshot.from_dirs(RULES, CATALOG)
    month = diagnose_month(CsvDir(small_district).load(snapshot.ruleset.registry, "2025-12"), snapshot, "2025-12",
                           per_weakness=5)
    path = JsonLinesSink(tmp_path / "lines.jsonl").keep(month)
    assert path.read_bytes() == gzip.decompress(RECORDED.read_bytes())
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, "an output file gets the umask's mode"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left behind"


def test_a_period_without_data_says_which_periods_there_are(small_district):
    snapshot = Snapshot.from_dirs(RULES)
    dataset = CsvDir(small_district).load(snapshot.ruleset.registry)
    with pytest.raises(InputError) as err:
        diagnose_month(dataset, snapshot, "2030-01")
    (problem,) = err.value.problems
    assert problem.field == ("period",) and problem.suggestion == "periods in the data: 2025-01 to 2025-12"
    for bad in ("2025-1", "２０２５-１２", "2025-12\n", " 2025-12"):
        with pytest.raises(InputError, match="bad period"):
            diagnose_month(dataset, snapshot, bad)
