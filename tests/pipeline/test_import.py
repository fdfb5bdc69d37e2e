"""`import` of a columnar dataset: read a month at a time, it stores exactly what the CSV directory it
came from stores (on SQLite and PostgreSQL), with each new month's columnar block, and progress per
month. A CSV directory is checked whole before anything is stored, through a temporary directory
that is gone afterwards; PostgreSQL stores months in parallel, each all or nothing."""

from __future__ import annotations

import tempfile

import pandas as pd
import pytest
from sqlalchemy import func, select

from diagnosis_service.cli import main
from diagnosis_service.data.columnar import ParquetDir, write_dataset
from diagnosis_service.data.csvdir import write_dir
from diagnosis_service.data.model import Dataset
from diagnosis_service.data.sources import CsvDir
from diagnosis_service.errors import InputError
from diagnosis_service.pipeline.ingest import import_source
from diagnosis_service.store import make_engine, whole_months
from diagnosis_service.store import metrics as metrics_store
from diagnosis_service.store.schema import branch_metrics, member_metrics, metric_blocks, metric_revisions
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
    assert sorted(p for _, _, p in told) == periods  # on PostgreSQL months finish in parallel, in any order
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
    assert f"数据集 {ds}：已写入，{len(periods) - 1} 个月" in first.stdout  # Chinese first
    assert f"已将 {tmp_path / 'before'} 导入 sqlite:///{tmp_path / 'store.db'}，用时 " in first.stdout
    second = runner.invoke(main, ["import", str(small_district), "--dataset", str(ds), "--lang", "en"], env=env)
    assert second.exit_code == 0, second.output
    assert f"dataset {ds}: added 1 month(s) ({periods[-1]} to {periods[-1]})" in second.stdout
    assert f"imported {small_district} into sqlite:///{tmp_path / 'store.db'} in " in second.stdout
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


def _rows_by_period(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(member_metrics.c.period, func.count()).group_by(member_metrics.c.period)).all())


@pytest.fixture()
def own_tmpdir(tmp_path, monkeypatch):
    """tempfile's directory for this test alone, to see what an import leaves there."""
    where = tmp_path / "tmpdir"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def test_a_bad_last_row_stores_nothing_and_the_spill_is_gone(db_engine, district_copy, ruleset, own_tmpdir):
    path = district_copy / "member_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[-1].split(",")
    cells[2] = "many"
    lines[-1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as exc:
        import_source(db_engine, ruleset.registry, CsvDir(district_copy), actor="test")
    assert f"{path}:{len(lines)}:" in str(exc.value.problems[0]) and "bad number 'many'" in str(exc.value.problems[0])
    assert _rows_by_period(db_engine) == {}
    with db_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(branch_metrics)).scalar() == 0
    assert list(own_tmpdir.iterdir()) == []


def test_a_month_that_fails_leaves_whole_months_and_running_again_finishes(db_engine, small_district, ruleset,
                                                                           own_tmpdir, monkeypatch):
    registry = ruleset.registry
    whole = CsvDir(small_district).load(registry)
    per_month = whole.member_metrics.groupby("period").size().to_dict()
    insert = whole_months.insert_month

    def failing(conn, subject, period, *args):
        if period == "2025-06" and subject == "member":
            raise ConnectionError("the database went away")  # after the month's branch rows: rolled back
        return insert(conn, subject, period, *args)

    monkeypatch.setattr(whole_months, "insert_month", failing)
    with pytest.raises(ConnectionError):
        import_source(db_engine, registry, CsvDir(small_district), actor="test", workers=2)
    stored = _rows_by_period(db_engine)
    assert "2025-06" not in stored and stored, stored
    assert all(stored[p] == per_month[p] for p in stored), "every month stored is whole"
    with db_engine.connect() as conn:
        assert "2025-06" not in {p for (p,) in conn.execute(select(branch_metrics.c.period).distinct())}
    assert list(own_tmpdir.iterdir()) == []
    monkeypatch.setattr(whole_months, "insert_month", insert)
    again = import_source(db_engine, registry, CsvDir(small_district), actor="test", workers=2)
    assert _rows_by_period(db_engine) == per_month
    assert again["member_metrics"]["inserted"] == sum(per_month[p] for p in per_month if p not in stored)
    assert again["member_metrics"]["unchanged"] == sum(stored.values())
    assert again["member_metrics"]["updated"] == 0


def test_on_a_terminal_an_error_starts_a_line_of_its_own_after_the_progress_bar(district_copy, tmp_path):
    """The bar redraws one line on a terminal; a problem found while it is drawn is printed on a line of its
    own, not after the bar's last text."""
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path

    exe = str(Path(sys.executable).parent / "diagnosis-service")
    path = district_copy / "branch_metrics.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    cells = lines[-1].split(",")
    cells[header.index("group_meetings")] = "1x"
    path.write_text("\n".join([*lines[:-1], ",".join(cells)]) + "\n", encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'tty.db'}"}
    subprocess.run([exe, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    master, slave = os.openpty()
    received: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other end closed
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([exe, "import", str(district_copy)], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=slave, timeout=120)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    text = b"".join(received).decode("utf-8").replace("\r\n", "\n")
    assert proc.returncode == 2 and "\r[" in text, text  # the bar was drawn, then the problem told
    (problem,) = [line for line in text.split("\n") if "bad number '1x'" in line]
    assert problem.startswith(f"{path}:{len(lines)}:group_meetings: "), text
