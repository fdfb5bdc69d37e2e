"""`simulate --scale K`: a province of K districts written district by district to a columnar dataset,
each district the simulation of its own seed with its ids and streets prefixed, and nothing left of a
write that failed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from diagnosis_service.cli import main
from diagnosis_service.data.columnar import MARKER, DatasetWriter, ParquetDir
from diagnosis_service.errors import InputError
from diagnosis_service.simulation.district import SimulationSpec, simulate
from diagnosis_service.simulation.province import district_seed, relabel, write_province

SPEC = SimulationSpec(branches=12, members=150, months=3, seed=5)


def test_a_province_is_its_districts_each_with_its_own_seed_and_prefix(ruleset, tmp_path):
    seen = []
    described = write_province(SPEC, 3, tmp_path / "p", ruleset.registry, lambda d, k, ds: seen.append((d, k)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    loaded = ParquetDir(tmp_path / "p").load(ruleset.registry)
    assert described["branches"] == len(loaded.branches) == 36
    assert described["members"] == len(loaded.members) == sum(described["street_members"])
    for number in (1, 2, 3):
        alone = simulate(SimulationSpec(branches=12, members=150, months=3, seed=district_seed(5, number)),
                         ruleset.registry)
        prefix = f"D{number:03d}-"
        mine = loaded.member_metrics[loaded.member_metrics["member_id"].str.startswith(prefix)]
        expected = relabel(alone, number).member_metrics
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), expected.reset_index(drop=True),
                                      check_dtype=False)
        streets = loaded.branches.loc[loaded.branches.index.str.startswith(prefix), "street"]
        assert streets.str.startswith(f"D{number:03d} ").all()
    assert len({district_seed(5, n) for n in range(1, 50)}) == 49
    # Each district's streets are partitions of their own: no street holds two districts' branches.
    for i, _ in ParquetDir(tmp_path / "p").partitions():
        part = ParquetDir(tmp_path / "p").load(ruleset.registry, streets=[i])
        assert part.branches.index.str[:4].nunique() == 1
        assert set(part.members["branch_id"]) <= set(part.branches.index)


def test_the_command_writes_the_same_bytes_for_a_seed_and_refuses_bad_scales(runner, tmp_path):
    args = ["simulate", "--scale", "2", "--branches", "8", "--members", "60", "--months", "2"]
    first = runner.invoke(main, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert "2 个区县的全省" in first.stdout and "16 个支部" in first.stdout
    assert runner.invoke(main, [*args, "--out", str(tmp_path / "b")]).exit_code == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert json.loads((tmp_path / "a" / MARKER).read_text(encoding="utf-8"))["format"] == 3
    bad = runner.invoke(main, ["simulate", "--scale", "0", "--out", str(tmp_path / "c")])
    assert bad.exit_code == 2 and "--scale" in bad.output and not (tmp_path / "c").exists()


def test_a_failed_write_leaves_nothing_and_a_street_is_written_once(ruleset, tmp_path):
    district = simulate(SPEC, ruleset.registry)
    with DatasetWriter(tmp_path / "d") as writer:
        writer.add(district)
        with pytest.raises(ValueError, match="written by an earlier part"):
            writer.add(district)
    assert not (tmp_path / "d").exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(InputError) as info:
        write_province(SPEC, 0, tmp_path / "e", ruleset.registry)
    assert info.value.problems[0].field == ("scale",)
    with pytest.raises(InputError):
        write_province(SimulationSpec(branches=5, members=2), 2, tmp_path / "e", ruleset.registry)
    assert list(tmp_path.iterdir()) == []
