"""`import` of a columnar dataset: read a month at a time, it stores exactly what the CSV directory it
came from stores (on SQLite and PostgreSQL), with each new month's columnar block, and progress per
month."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from diagnosis_service.cli import main
from diagnosis_service.data.columnar import ParquetDir, write_dataset
from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.model import Dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.pipeline.ingest import import_source
from diagnosis_service.store import make_engine
from diagnosis_service.store import metrics as metrics_store
from diagnosis_service.store.schema import member_metrics, metric_blocks, metric_revisions
from tests.support.builders import months


def test_a_dataset_imports_month_by_month_what_its_csv_directory_imports(db_engine, small_district, ruleset,
                                                                           tmp_path):
    registry = ruleset.registry
    whole = CsvDir(small_district).load(registry)
    write_dataset(whole, tmp_path / "ds", registry)
    told = []
    first = import_source(db_engine, registry, ParquetDir(tmp_path / "ds"), actor="test",
                          progress=lambda done, total, period: told.append((done, total, period)))
    rows = len(whole.branch_metrics) + len(whole.member_metrics)
    periods = sorted(set(whole.branch_metrics["period"]))
    assert [p for _, _, p in told] == periods
    assert all(total == rows for _, total, _ in told) and told[-1][0] == rows
    assert [d for d, _, _ in told] == sorted(d for d, _, _ in told)
    assert first["member_metrics"]["inserted"] == len(whole.member_metrics)
    assert first["branches"]["inserted"] == len(whole.branches)
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metric_blocks)).scalar() == 2 * len(periods)
    # The CSV directory it came from finds every row and organisation already there, unchanged.
    again = import_source(db_engine, registry, CsvDir(small_district), actor="test")
    for table, count in (("branch_metrics", len(whole.branch_metrics)), ("member_metrics", len(whole.member_metrics)),
                         ("branches", len(whole.branches)), ("members", len(whole.members))):
        assert again[table] == {"inserted": 0, "updated": 0, "unchanged": count}, table


def test_import_keeps_a_dataset_up_to_date_and_refuses_a_correction_before_storing(runner, ruleset, small_district,
                                                                                    tmp_path):
    registry = ruleset.registry
    whole = CsvDir(small_district).load(registry)
    periods = whole.periods()
    write_dir(months(whole, periods[:-1]), tmp_path / "before", registry)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    ds = tmp_path / "ds"
    first = runner.invoke(main, ["import", str(tmp_path / "before"), "--dataset", str(ds)], env=env)
    assert first.exit_code == 0, first.output
    assert f"dataset {ds}: written, {len(periods) - 1} month(s)" in first.stdout
    second = runner.invoke(main, ["import", str(small_district), "--dataset", str(ds)], env=env)
    assert second.exit_code == 0, second.output
    assert f"dataset {ds}: added 1 month(s) ({periods[-1]} to {periods[-1]})" in second.stdout
    loaded = ParquetDir(ds).load(registry)
    for name in ("branch_metrics", "member_metrics"):
        pd.testing.assert_frame_equal(getattr(loaded, name), getattr(whole, name))
    engine = make_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert metrics_store.periods(conn) == periods
        stored = conn.execute(select(func.count()).select_from(member_metrics)).scalar()
    assert stored == len(whole.member_metrics)

    # A correction to a month the dataset holds: refused before the store sees it.
    corrected = whole.member_metrics.copy()
    column = corrected.columns[3]
    corrected.loc[0, column] = (corrected.loc[0, column] if corrected.loc[0, column] == corrected.loc[0, column]
                                else 0.0) + 1.0
    write_dir(Dataset(whole.branches, whole.members, whole.branch_metrics, corrected), tmp_path / "fixed", registry)
    refused = runner.invoke(main, ["import", str(tmp_path / "fixed"), "--dataset", str(ds)], env=env)
    assert refused.exit_code != 0 and "differ from the dataset's" in refused.output, refused.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(metric_revisions)).scalar() == 0
    engine.dispose()

    # Something else where the dataset should go: not replaced.
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    other = runner.invoke(main, ["import", str(small_district), "--dataset", str(tmp_path / "notes")], env=env)
    assert other.exit_code == 2 and "not a dataset" in other.output
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    from_ds = runner.invoke(main, ["import", str(ds), "--dataset", str(tmp_path / "again")], env=env)
    assert from_ds.exit_code == 2 and "is a dataset already" in from_ds.output
