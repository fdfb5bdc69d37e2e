"""`data append`: a dataset kept up to date month by month gives what a full convert gives, writes only
new files, and refuses what it cannot append (a correction, a move, an organisation gone) untouched."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.append import append_months
from diagnosis_service.data.columnar import MARKER, ParquetDir, write_dataset
from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.files import WRITER_LOCK
from diagnosis_service.data.model import Dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.errors import InputError
from diagnosis_service.pipeline.month import diagnose_month
from diagnosis_service.pipeline.snapshot import Snapshot
from tests.support.builders import months
from tests.support.paths import CATALOG, RULES


@pytest.fixture()
def district(ruleset, small_district):
    return CsvDir(small_district).load(ruleset.registry)


def lines(dataset: Dataset, period: str) -> list[str]:
    return list(diagnose_month(dataset, Snapshot.from_dirs(RULES, CATALOG), period, per_weakness=2).lines())


def test_months_appended_one_by_one_give_the_full_dataset(runner, ruleset, district, tmp_path):
    periods = district.periods()
    write_dataset(months(district, periods[:8]), tmp_path / "ds", ruleset.registry)
    files_before = {p: p.stat().st_mtime_ns for p in (tmp_path / "ds").rglob("*.parquet")}
    for n in range(9, len(periods) + 1):
        done = append_months(months(district, periods[:n]), tmp_path / "ds", ruleset.registry)
        assert done["added"] == [periods[n - 1]] and done["checked"] == periods[:n - 1]
        assert done["streets_rewritten"] == 0
    # Only new files: every file of the first convert is untouched.
    assert all(p.stat().st_mtime_ns == t for p, t in files_before.items())
    loaded = ParquetDir(tmp_path / "ds").load(ruleset.registry)
    write_dataset(district, tmp_path / "full", ruleset.registry)
    full = ParquetDir(tmp_path / "full").load(ruleset.registry)
    for name in ("branches", "members", "branch_metrics", "member_metrics"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(full, name))
    assert ParquetDir(tmp_path / "ds").describe() == ParquetDir(tmp_path / "full").describe()
    assert lines(loaded, periods[-1]) == lines(district, periods[-1])
    again = runner.invoke(main, ["data", "append", str(district.source), str(tmp_path / "ds")])
    assert again.exit_code == 0, again.output
    assert "没有新的月份：未写入任何内容" in again.stdout
    in_english = runner.invoke(main, ["data", "append", str(district.source), str(tmp_path / "ds"), "--lang", "en"])
    assert in_english.exit_code == 0 and "no new month: nothing written" in in_english.stdout
    assert not [p for p in (tmp_path / "ds").iterdir() if p.name.startswith(".append")]


def test_new_branches_and_streets_rewrite_only_their_streets(ruleset, district, tmp_path):
    periods = district.periods()
    early = district.branches.index[:-3]  # the last three branches (and their members) join later
    old_members = district.members[district.members["branch_id"].isin(early)]
    first = months(district, periods[:6], district.branches.loc[early], old_members)
    first = Dataset(first.branches, first.members,
                    first.branch_metrics[first.branch_metrics["branch_id"].isin(early)].reset_index(drop=True),
                    first.member_metrics[first.member_metrics["member_id"].isin(old_members.index)]
                    .reset_index(drop=True))
    write_dataset(first, tmp_path / "ds", ruleset.registry)
    later = district.branches.copy()
    later.loc[later.index[-1], "street"] = "新设街道"  # a street the dataset has not seen
    grown = Dataset(later, district.members, district.branch_metrics, district.member_metrics)
    grown = months(grown, periods[:8], later, district.members)
    grown = Dataset(later, district.members,
                    grown.branch_metrics[grown.branch_metrics["branch_id"].isin(early) |
                                         (grown.branch_metrics["period"] > periods[5])].reset_index(drop=True),
                    grown.member_metrics[grown.member_metrics["member_id"].isin(old_members.index) |
                                         (grown.member_metrics["period"] > periods[5])].reset_index(drop=True))
    done = append_months(grown, tmp_path / "ds", ruleset.registry)
    assert done["added"] == periods[6:8] and 1 <= done["streets_rewritten"] <= 3
    described = ParquetDir(tmp_path / "ds").describe()
    assert described["streets"][-1] == "新设街道" and described["branches"] == len(district.branches)
    assert sum(described["street_members"]) == len(district.members)
    loaded = ParquetDir(tmp_path / "ds").load(ruleset.registry)
    pd.testing.assert_frame_equal(loaded.branches, later.sort_index())
    assert lines(loaded, periods[7]) == lines(grown, periods[7])


def test_what_cannot_be_appended_is_refused_and_nothing_changes(runner, ruleset, district, tmp_path):
    periods = district.periods()
    write_dataset(months(district, periods[:6]), tmp_path / "ds", ruleset.registry)
    marker = (tmp_path / "ds" / MARKER).read_bytes()
    corrected = district.member_metrics.copy()
    row = corrected.index[(corrected["period"] == periods[2])][5]
    corrected.loc[row, "dues_paid"] = 1.0 - corrected.loc[row, "dues_paid"]
    fixed = Dataset(district.branches, district.members, district.branch_metrics, corrected)
    with pytest.raises(InputError) as info:
        append_months(months(fixed, periods[:8]), tmp_path / "ds", ruleset.registry)
    assert f"member metrics of {periods[2]} differ" in str(info.value) and "convert" in str(info.value)
    was = district.member_metrics.loc[row, "dues_paid"]
    assert (f"{corrected.loc[row, 'member_id']} dues_paid is {1 - was:g} here, {was:g} in the dataset"
            in str(info.value)) and "cells differ" not in str(info.value), "the one corrected cell, located"

    moved = district.branches.copy()
    moved.loc[moved.index[0], "street"] = "别处街道"
    with pytest.raises(InputError) as info:
        append_months(months(district, periods[:8], moved), tmp_path / "ds", ruleset.registry)
    assert f"branch {moved.index[0]} moved from street" in str(info.value)

    fewer = district.members.iloc[1:]
    with pytest.raises(InputError) as info:
        append_months(months(district, periods[:8], members=fewer), tmp_path / "ds", ruleset.registry)
    assert f"member {district.members.index[0]} is in the dataset but not in the data directory" in str(info.value)
    assert (tmp_path / "ds" / MARKER).read_bytes() == marker
    assert sorted(p.name for p in (tmp_path / "ds" / "member_metrics").iterdir()) == periods[:6]

    write_dir(months(fixed, periods[:8]), tmp_path / "csv", ruleset.registry)
    r = runner.invoke(main, ["data", "append", str(tmp_path / "csv"), str(tmp_path / "ds")])
    assert r.exit_code == 2 and "differ from the dataset" in r.output
    assert (tmp_path / "ds" / MARKER).read_bytes() == marker


def test_an_append_that_stops_before_its_description_leaves_the_held_months_as_they_were(ruleset, district,
                                                                                         tmp_path, monkeypatch):
    """New members change their street's roster, which the months already held are read with: the old
    roster is put back when the append stops before the description is replaced."""
    import os

    periods = district.periods()
    newcomers = district.members.index[-15:]
    before = Dataset(district.branches, district.members.drop(newcomers),
                     district.branch_metrics[district.branch_metrics["period"].isin(periods[:6])]
                     .reset_index(drop=True),
                     district.member_metrics[district.member_metrics["period"].isin(periods[:6]) &
                                             ~district.member_metrics["member_id"].isin(newcomers)]
                     .reset_index(drop=True))
    write_dataset(before, tmp_path / "ds", ruleset.registry)
    files = {p: p.read_bytes() for p in (tmp_path / "ds").rglob("*") if p.is_file()}
    held = lines(ParquetDir(tmp_path / "ds").load(ruleset.registry), periods[5])
    replace = os.replace

    def failing(src, dst):
        if str(dst).endswith(MARKER):
            raise OSError("disk full")
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    mm = district.member_metrics
    joined = ~mm["member_id"].isin(newcomers) | (mm["period"] > periods[5])  # the newcomers' rows start later
    grown = months(Dataset(district.branches, district.members, district.branch_metrics,
                           mm[joined].reset_index(drop=True)), periods[:8])
    with pytest.raises(OSError, match="disk full"):
        append_months(grown, tmp_path / "ds", ruleset.registry)
    monkeypatch.setattr(os, "replace", replace)
    for path, data in files.items():
        assert path.read_bytes() == data, path
    assert lines(ParquetDir(tmp_path / "ds").load(ruleset.registry), periods[5]) == held
    done = append_months(grown, tmp_path / "ds", ruleset.registry)  # and the next append goes through
    assert done["added"] == periods[6:8] and done["streets_rewritten"] >= 1


def test_a_directory_checked_a_chunk_at_a_time_writes_and_appends_as_a_whole_read(ruleset, district, small_district,
                                                                                   tmp_path):
    # `data convert`, `data append` and `import --dataset` write from the directory's spilled months (a
    # month's memory): file for file the dataset a whole read writes, and the same months appended.
    from diagnosis_service.data.csvstream import stream_dir
    from diagnosis_service.data.sources import Streamed

    (tmp_path / "work").mkdir()
    spilled = stream_dir(small_district, ruleset.registry, tmp_path / "work", chunk_rows=500)
    write_dataset(spilled, tmp_path / "streamed", ruleset.registry)
    write_dataset(district, tmp_path / "whole", ruleset.registry)
    files = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*.parquet"))
    assert files == sorted(p.relative_to(tmp_path / "streamed") for p in (tmp_path / "streamed").rglob("*.parquet"))
    for f in files:  # the same Arrow types and values (pandas' frames of them took twice the test's time)
        streamed, whole = (pq.read_table(tmp_path / side / f) for side in ("streamed", "whole"))
        assert streamed.equals(whole), f
    assert ParquetDir(tmp_path / "streamed").describe() == ParquetDir(tmp_path / "whole").describe()
    loaded = Streamed(spilled, "streamed").load(ruleset.registry)
    for name in ("branch_metrics", "member_metrics"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(district, name))

    periods = district.periods()
    write_dataset(months(district, periods[:-2]), tmp_path / "kept", ruleset.registry)
    done = append_months(spilled, tmp_path / "kept", ruleset.registry)
    assert done["added"] == periods[-2:] and done["checked"] == periods[:-2]
    kept = ParquetDir(tmp_path / "kept").load(ruleset.registry)
    whole = ParquetDir(tmp_path / "whole").load(ruleset.registry)
    for name in ("branches", "members", "branch_metrics", "member_metrics"):
        pd.testing.assert_frame_equal(getattr(kept, name), getattr(whole, name))


def test_sigterm_while_a_directory_is_spilled_removes_the_spill(ruleset, small_district, tmp_path, monkeypatch):
    # `data convert` and `data append` keep the checked rows in $TMPDIR meanwhile (about 60% of the
    # CSV's size): a SIGTERM (a stopped container, a job runner's timeout) must not leave them behind.
    import os
    import signal
    import tempfile

    from diagnosis_service.cli.data import _checked

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stopped, _checked(small_district, ruleset.registry) as spilled:
        assert spilled.workdir.is_dir() and any(spilled.workdir.iterdir())
        os.kill(os.getpid(), signal.SIGTERM)
    assert stopped.value.code == 128 + signal.SIGTERM
    assert not any((tmp_path / "tmp").iterdir())
    assert signal.getsignal(signal.SIGTERM) == previous


def test_a_second_writer_at_the_same_time_is_refused_and_changes_nothing(runner, ruleset, district, small_district,
                                                                       tmp_path):
    from diagnosis_service.data.files import one_writer

    periods = district.periods()
    write_dataset(months(district, periods[:8]), tmp_path / "ds", ruleset.registry)
    before = (tmp_path / "ds" / MARKER).read_bytes()
    with one_writer(tmp_path / "ds", "data carry", MARKER):  # another open file: flock refuses it as another process
        for args in (["data", "append", str(small_district), str(tmp_path / "ds")],
                     ["data", "carry", str(tmp_path / "ds")]):
            refused = runner.invoke(main, args)
            assert refused.exit_code == 2, refused.output
            assert "the dataset is being written by data carry (pid " in refused.stderr
            assert "run this again once that has finished" in refused.stderr
        assert (tmp_path / "ds" / MARKER).read_bytes() == before
    done = runner.invoke(main, ["data", "append", str(small_district), str(tmp_path / "ds")])
    assert done.exit_code == 0, done.output
    assert ParquetDir(tmp_path / "ds").describe()["periods"] == periods


def test_a_convert_over_a_dataset_being_written_is_refused_and_leaves_nothing(runner, ruleset, district,
                                                                              small_district, tmp_path):
    """A convert replacing a dataset while an append writes into it would take the append's later files into
    the new directory: it waits for nothing and changes nothing, and leaves no half-written copy beside it."""
    from diagnosis_service.data.files import one_writer

    write_dataset(months(district, district.periods()[:2]), tmp_path / "ds", ruleset.registry)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name != WRITER_LOCK)
    marker = (tmp_path / "ds" / MARKER).read_bytes()
    with one_writer(tmp_path / "ds", "data append", MARKER):
        refused = runner.invoke(main, ["data", "convert", str(small_district), str(tmp_path / "ds")])
        assert refused.exit_code == 2, refused.output
        assert "the dataset is being written by data append (pid " in refused.stderr
    assert (tmp_path / "ds" / MARKER).read_bytes() == marker
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name != WRITER_LOCK) == before
    done = runner.invoke(main, ["data", "convert", str(small_district), str(tmp_path / "ds")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "ds" / MARKER).read_bytes() != marker


def test_no_lock_file_is_left_where_there_is_no_dataset(runner, small_district, tmp_path):
    (tmp_path / "other").mkdir()
    refused = runner.invoke(main, ["data", "append", str(small_district), str(tmp_path / "other")])
    assert refused.exit_code != 0
    assert list((tmp_path / "other").iterdir()) == []
