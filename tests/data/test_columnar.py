"""The columnar dataset (`data convert`): the same bytes out of every command as from the CSV files it
came from, only the months asked for read, and clear errors for what is not a dataset."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.columnar import MARKER, ParquetDir, street_file
from diagnosis_service.data.model import KEYS
from diagnosis_service.data.sources import CsvDir, source_for
from diagnosis_service.errors import InputError
from diagnosis_service.periods import parse_period


@pytest.fixture(scope="module")
def converted(small_district, tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("columnar") / "dataset"
    r = CliRunner().invoke(main, ["data", "convert", str(small_district), str(out)])
    assert r.exit_code == 0, r.output
    assert "已写入" in r.stdout and "行指标" in r.stdout
    return out


def test_commands_give_the_same_bytes_from_the_dataset(runner, small_district, converted, tmp_path):
    for args in (["diagnose", "--period", "2025-12"], ["report", "--period", "2025-12", "--branch", "B00002"]):
        outs = []
        for data in (small_district, converted):
            extra = ["--out", str(tmp_path / f"{args[0]}-{data.name}.jsonl")] if args[0] == "diagnose" else []
            r = runner.invoke(main, [*args, "--data", str(data), *extra])
            assert r.exit_code == 0, r.output
            outs.append(r.stdout if not extra else (tmp_path / f"{args[0]}-{data.name}.jsonl").read_bytes())
        assert outs[0] == outs[1] and outs[0]


def test_the_dataset_holds_the_csv_exactly_and_reads_only_the_months_asked(ruleset, small_district, converted):
    whole = CsvDir(small_district).load(ruleset.registry)
    back = source_for(converted).load(ruleset.registry)
    assert isinstance(source_for(converted), ParquetDir) and isinstance(source_for(small_district), CsvDir)
    for subject in ("branch", "member"):
        pd.testing.assert_frame_equal(back.metrics(subject), whole.metrics(subject))
    pd.testing.assert_frame_equal(back.branches, whole.branches)
    pd.testing.assert_frame_equal(back.members, whole.members)
    two = ParquetDir(converted).load(ruleset.registry, "2025-12", months=2)
    assert two.periods() == ["2025-11", "2025-12"]
    described = json.loads((converted / MARKER).read_text(encoding="utf-8"))
    assert described["periods"] == whole.periods() and described["rows"]["member"] == len(whole.member_metrics)
    # Each month a folder, each street a file: appending a month writes new files only.
    assert sorted(p.name for p in (converted / "member_metrics").iterdir()) == whole.periods()
    assert described["streets"] == sorted(set(whole.branches["street"]))
    files = {f.stem for f in (converted / "member_metrics" / "2025-12").glob("*.parquet")}
    assert files == {street_file(i) for i in range(len(described["streets"]))}


def test_a_month_read_with_its_lookback_has_the_rest_of_earlier_months_missing(ruleset, small_district, converted):
    from diagnosis_service.engine.lookback import lookback_columns

    keep = lookback_columns(ruleset)
    whole = CsvDir(small_district).load(ruleset.registry)
    part = ParquetDir(converted).load(ruleset.registry, "2025-07", lookback=keep)
    assert part.complete_from == parse_period("2025-07") and whole.complete_from is None
    for subject in ("branch", "member"):
        full = whole.metrics(subject)
        full = full[full["pidx"] <= parse_period("2025-07")].reset_index(drop=True)
        got = part.metrics(subject)
        assert list(got.columns) == list(full.columns) and len(got) == len(full)
        now = (got["pidx"] == parse_period("2025-07")).to_numpy()
        pd.testing.assert_frame_equal(got[now], full[now])
        kept = ["pidx", "period", KEYS[subject], *sorted(keep[subject])]
        pd.testing.assert_frame_equal(got.loc[~now, kept], full.loc[~now, kept])
        dropped = [i.id for i in ruleset.registry.reported(subject) if i.id not in keep[subject]]
        assert dropped and got.loc[~now, dropped].isna().all().all()


def test_earlier_months_written_with_another_string_type_read_with_the_lookback(ruleset, converted, tmp_path):
    """Earlier months whose files hold ``large_string`` ids (written by an earlier version, whose footers
    kept Arrow's schema, or elsewhere: pandas 3 writes them) beside this writer's ``string`` ones: the two
    reads of a month's lookback still stack into one frame, the same as one read."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from diagnosis_service.engine.lookback import lookback_columns
    from tests.support.diagnose import diagnose

    mixed = tmp_path / "mixed"
    shutil.copytree(converted, mixed)
    for subject in ("branch", "member"):
        key = KEYS[subject]
        for f in (mixed / f"{subject}_metrics").glob("2025-0*/*.parquet"):
            t = pq.read_table(f)
            pq.write_table(t.set_column(t.schema.get_field_index(key), key, t.column(key).cast(pa.large_string())), f,
                           store_schema=True)
            assert pq.read_schema(f).field(key).type == pa.large_string()
    whole = ParquetDir(mixed).load(ruleset.registry, "2025-12")
    part = ParquetDir(mixed).load(ruleset.registry, "2025-12", lookback=lookback_columns(ruleset))
    assert list(diagnose(part, ruleset, "2025-12").lines()) == list(diagnose(whole, ruleset, "2025-12").lines())


@pytest.mark.parametrize("period", ["2025-01", "2025-07"])
def test_diagnose_reads_only_the_lookback_of_earlier_months_and_gives_the_same_bytes(runner, small_district,
                                                                                    converted, tmp_path, period):
    outs = []
    for data in (small_district, converted):
        out = tmp_path / f"{data.name}.jsonl"
        r = runner.invoke(main, ["diagnose", "--period", period, "--data", str(data), "--out", str(out)])
        assert r.exit_code == 0, r.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0]


def test_what_is_not_a_dataset_is_refused_clearly(ruleset, tmp_path, converted):
    with pytest.raises(InputError, match="not a dataset: it has no description file"):
        ParquetDir(tmp_path).load(ruleset.registry)
    with pytest.raises(InputError, match="dataset directory not found") as caught:
        ParquetDir(tmp_path / "nope").load(ruleset.registry)
    assert caught.value.problems[0].file == str(tmp_path / "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MARKER).write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"unreadable dataset description \(JSONDecodeError\)"):
        ParquetDir(tmp_path / "bad").load(ruleset.registry)
    broken = tmp_path / "old"
    broken.mkdir()
    (broken / MARKER).write_text(json.dumps({"format": 99}), encoding="utf-8")
    with pytest.raises(InputError, match="dataset format 99"):
        ParquetDir(broken).load(ruleset.registry)
    listed = {**json.loads((converted / MARKER).read_text(encoding="utf-8")), "files": {"members": [[0]]}}
    (broken / MARKER).write_text(json.dumps(listed), encoding="utf-8")
    with pytest.raises(InputError, match="'files' is not a map of folders to ranges"):
        ParquetDir(broken).load(ruleset.registry)
    (broken / MARKER).write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(InputError, match=r"unreadable dataset description \(a JSON list, not an object\)"):
        ParquetDir(broken).load(ruleset.registry)
    described = json.loads((converted / MARKER).read_text(encoding="utf-8"))
    described["columns"]["member"] = described["columns"]["member"][1:]
    del described["files"]  # a description alone: the files it would list are not there
    short = tmp_path / "short"
    short.mkdir()
    (short / MARKER).write_text(json.dumps(described), encoding="utf-8")
    with pytest.raises(InputError, match="no column for"):
        ParquetDir(short).load(ruleset.registry)


def test_a_bad_csv_directory_writes_nothing(runner, district_copy, tmp_path):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").split("\n")
    cells = lines[3].split(",")
    cells[2] = "abc"
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines), encoding="utf-8")
    r = runner.invoke(main, ["data", "convert", str(district_copy), str(tmp_path / "out")])
    assert r.exit_code == 2 and "member_metrics.csv:4:" in r.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


def test_a_convert_replaces_a_dataset_whole_even_after_one_that_stopped(runner, small_district, tmp_path):
    out = tmp_path / "ds"
    (tmp_path / ".ds.old").mkdir()  # what a convert stopped between its two renames leaves
    (tmp_path / ".ds.old" / "x").write_text("left over", encoding="utf-8")
    for _ in range(2):  # the second replaces the first
        r = runner.invoke(main, ["data", "convert", str(small_district), str(out)])
        assert r.exit_code == 0, r.output
    assert (out / MARKER).is_file() and not (tmp_path / ".ds.old").exists()


def test_a_period_the_dataset_lacks_is_refused_with_the_periods_it_has(runner, ruleset, converted):
    result = runner.invoke(main, ["diagnose", "--data", str(converted), "--period", "2030-01"])
    assert result.exit_code == 2
    assert "no data for period 2030-01 (periods in the data: 2025-01 to 2025-12)" in result.stderr
    with pytest.raises(InputError, match="no data for period 2024-12"):
        ParquetDir(converted).load(ruleset.registry, "2024-12")


@pytest.mark.parametrize("lost", ["member_metrics/2025-12", "branch_metrics/2025-12", "members", "branches"])
def test_a_file_lost_on_the_way_is_refused_not_read_as_a_street_without_rows(runner, converted, tmp_path, lost):
    """A street with no rows in a month has no file there; one whose file the description lists but that
    is gone (an interrupted copy or sync) stops the diagnosis: it gave a month without that street's
    subjects, or other references, with exit 0."""
    copy = tmp_path / "copy"
    shutil.copytree(converted, copy)
    gone = copy / lost / f"{street_file(1)}.parquet"
    gone.unlink()
    out = tmp_path / "month.jsonl"
    r = runner.invoke(main, ["diagnose", "--data", str(copy), "--period", "2025-12", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert f"{gone}: 1 file of the dataset missing, that its description lists (s0001.parquet)" in r.stderr
    assert not out.exists()


def test_a_lost_file_of_an_earlier_month_and_a_file_that_is_not_parquet_are_refused(ruleset, converted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(converted, copy)
    (copy / "member_metrics" / "2025-03" / f"{street_file(0)}.parquet").unlink()
    with pytest.raises(InputError, match="1 file of the dataset missing") as caught:
        ParquetDir(copy).load(ruleset.registry)
    assert caught.value.problems[0].file.endswith("member_metrics/2025-03/s0000.parquet")
    ParquetDir(copy).load(ruleset.registry, "2025-12", months=6)  # the months it reads are whole
    cut = copy / "branch_metrics" / "2025-12" / f"{street_file(2)}.parquet"
    cut.write_bytes(cut.read_bytes()[:100])
    with pytest.raises(InputError, match="a file of the dataset cannot be read: .*s0002.parquet"):
        ParquetDir(copy).load(ruleset.registry, "2025-12", months=6)


def test_a_dataset_written_before_its_description_listed_files_still_reads(ruleset, converted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(converted, copy)
    described = json.loads((copy / MARKER).read_text(encoding="utf-8"))
    assert described["files"]["members"] == [[0, len(described["streets"]) - 1]]
    del described["files"]
    (copy / MARKER).write_text(json.dumps(described), encoding="utf-8")
    back = ParquetDir(copy).load(ruleset.registry, "2025-12", months=2)
    whole = ParquetDir(converted).load(ruleset.registry, "2025-12", months=2)
    pd.testing.assert_frame_equal(back.member_metrics, whole.member_metrics)
