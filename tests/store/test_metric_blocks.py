"""A month's columnar block stands for its rows: a reader gets the very frame the rows give, a write to
the rows drops the block in the same transaction, a new month writes it, and a rebuild never races a
writer (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from diagnosis_service.pipeline.common import in_transaction
from diagnosis_service.pipeline.store_io import StoreSource, dataset_from_rows, rebuild_blocks
from diagnosis_service.rules import load_ruleset
from diagnosis_service.rules.model import Registry
from diagnosis_service.store import blocks, whole_months
from diagnosis_service.store import metrics as metrics_store
from diagnosis_service.store.schema import (
    MEMBER_COLUMNS,
    branch_metrics,
    branches,
    member_metrics,
    members,
    metric_blocks,
)
from tests.support.paths import RULES

COLUMNS = list(MEMBER_COLUMNS[:3])
PERIODS = ["2025-01", "2025-02", "2025-03"]
ids = st.text(alphabet=st.sampled_from('AZaz09_-,"\' 中文.'), min_size=1, max_size=10).map(lambda s: f"M{s}X")
values = st.one_of(st.none(), st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.1, 1 / 3, 2.675, 1e-300, 5e-324, 123456789.123456789]))


def _registry() -> Registry:
    return load_ruleset(RULES).registry


def _reset(conn, member_ids) -> None:
    for table in (metric_blocks, member_metrics, branch_metrics, members, branches):
        conn.execute(delete(table))
    metrics_store.upsert_profiles(conn, [{"branch_id": "B1", "name": "b", "type": "community", "street": "s"}],
                                  [{"member_id": m, "branch_id": "B1", "name": "n"} for m in sorted(member_ids)])


def _block_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(metric_blocks)).scalar()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    # Text columns come as pandas' str dtype or as objects depending on the driver; the same strings.
    a, b = (f.astype({c: object for c in ("period", "member_id")}) for f in (a, b))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for c in a.columns:
        if a[c].dtype == np.float64:  # to the last bit, not only equal
            assert np.array_equal(a[c].to_numpy().view(np.int64), b[c].to_numpy().view(np.int64)), c


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(ids, st.sampled_from(PERIODS), st.lists(values, min_size=3, max_size=3)),
                     min_size=1, max_size=25, unique_by=lambda r: (r[0], r[1])),
       with_blocks=st.sets(st.sampled_from(PERIODS)))
def test_a_month_read_from_its_block_is_the_month_read_from_its_rows(db_engine, rows, with_blocks):
    registry = _registry()
    with db_engine.begin() as conn:
        _reset(conn, {r[0] for r in rows})
        metrics_store.upsert_metrics(conn, "member", [{"period": p, "member_id": m, **dict(zip(COLUMNS, v, strict=True))}
                                                      for m, p, v in rows], source="api", actor="test")
    assert _block_count(db_engine) == 0  # written through the API: no blocks yet
    with db_engine.connect() as conn:
        from_rows = dataset_from_rows(conn, registry, "2025-03", months=3)
    # Some months (any of them) from blocks, the others from rows: the same frames.
    for p in sorted(with_blocks):
        in_transaction(db_engine, lambda conn, p=p: whole_months.rebuild_block(conn, "member", p))
    with db_engine.connect() as conn:
        mixed = dataset_from_rows(conn, registry, "2025-03", months=3)
    _same(from_rows.member_metrics, mixed.member_metrics)
    # Every month's block, rebuilt as the monthly job does first: the same frames once more.
    assert rebuild_blocks(db_engine, "2025-03", months=3) == len({p for _, p, _ in rows} - with_blocks)
    everything = StoreSource(db_engine).load(registry, "2025-03", months=3)
    _same(from_rows.member_metrics, everything.member_metrics)
    assert _block_count(db_engine) == len({p for _, p, _ in rows})


def test_a_new_month_writes_its_block_and_a_change_to_its_rows_drops_it(db_engine):
    registry = _registry()
    mids = ["M2", "M10", "M1"]
    values = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    with db_engine.begin() as conn:
        _reset(conn, mids)
        assert whole_months.insert_month(conn, "member", "2025-01", mids, COLUMNS, values).inserted == 3
    assert _block_count(db_engine) == 1
    with db_engine.connect() as conn:
        held = blocks.read(conn, "member", ["2025-01"], COLUMNS)["2025-01"]
        assert held.column("id").to_pylist() == ["M1", "M10", "M2"]  # sorted as Python sorts text
        assert held.column(COLUMNS[1]).to_pylist() == [8.0, 5.0, None]
        # A block holds every stored column: those the month left out are missing there too.
        assert blocks.missing(conn, "member", ["2025-01", "2025-02"], MEMBER_COLUMNS) == ["2025-02"]
    same = [{"period": "2025-01", "member_id": "M1", COLUMNS[0]: 7.0}]
    with db_engine.begin() as conn:  # nothing changes: the block stays
        assert metrics_store.upsert_metrics(conn, "member", same, source="api", actor="t").unchanged == 1
    assert _block_count(db_engine) == 1
    with db_engine.begin() as conn:
        metrics_store.upsert_metrics(conn, "member", [{**same[0], COLUMNS[0]: 7.5}], source="api", actor="t")
    assert _block_count(db_engine) == 0
    frame = StoreSource(db_engine).load(registry, "2025-01", months=1).member_metrics  # from the rows
    assert frame.loc[frame["member_id"] == "M1", COLUMNS[0]].item() == 7.5
    assert rebuild_blocks(db_engine, "2025-01", months=1) == 1 and _block_count(db_engine) == 1
    assert rebuild_blocks(db_engine, "2025-01", months=1) == 0  # nothing left to do
    frame = StoreSource(db_engine).load(registry, "2025-01", months=1).member_metrics  # from the block
    assert frame.loc[frame["member_id"] == "M1", COLUMNS[0]].item() == 7.5
    assert frame["member_id"].tolist() == ["M1", "M10", "M2"]


@pytest.mark.postgresql
@pytest.mark.parametrize("db_engine", ["postgresql"], indirect=True)
def test_a_rebuild_waits_for_a_writer_of_the_same_month(db_engine):
    mids = ["M1", "M2"]
    with db_engine.begin() as conn:
        _reset(conn, mids)
        metrics_store.upsert_metrics(conn, "member", [{"period": "2025-01", "member_id": m, COLUMNS[0]: 1.0}
                                                      for m in mids], source="api", actor="t")
    done = threading.Event()

    def rebuild() -> None:
        in_transaction(db_engine, lambda conn: whole_months.rebuild_block(conn, "member", "2025-01"))
        done.set()

    with db_engine.connect() as writer:
        tx = writer.begin()
        metrics_store.upsert_metrics(writer, "member", [{"period": "2025-01", "member_id": "M1", COLUMNS[0]: 2.0}],
                                     source="api", actor="t")
        thread = threading.Thread(target=rebuild, daemon=True)
        thread.start()
        time.sleep(0.5)
        assert not done.is_set()  # the month's lock is the writer's until it commits
        tx.commit()
    assert done.wait(30)
    thread.join(5)
    with db_engine.connect() as conn:
        held = blocks.read(conn, "member", ["2025-01"], COLUMNS)["2025-01"]
    assert held.column(COLUMNS[0]).to_pylist() == [2.0, 1.0]  # the writer's value, not the one before


def test_an_unchanged_month_is_recognised_from_its_block_and_any_difference_is_not(db_engine):
    mids = ["M1", "M10", "M2"]  # sorted as the import's frames are
    values = np.array([[7.0, 8.0, 9.0], [4.0, 5.0, 6.0], [1.0, np.nan, 3.0]])
    with db_engine.begin() as conn:
        _reset(conn, mids)
        whole_months.insert_month(conn, "member", "2025-01", mids, COLUMNS, values)
    with db_engine.begin() as conn:
        same = whole_months.month_unchanged
        assert same(conn, "member", "2025-01", mids, COLUMNS, values.copy())
        assert same(conn, "member", "2025-01", mids, COLUMNS[:1], values[:, :1])  # only the columns given
        for i, j, v in ((0, 0, 7.5), (2, 1, 0.0), (1, 2, np.nan)):
            changed = values.copy()
            changed[i, j] = v
            assert not same(conn, "member", "2025-01", mids, COLUMNS, changed), (i, j, v)
        assert not same(conn, "member", "2025-01", mids[:2], COLUMNS, values[:2])
        assert not same(conn, "member", "2025-02", mids, COLUMNS, values)  # no block: compare row by row


@pytest.mark.parametrize("db_engine", ["sqlite"], indirect=True)
def test_an_import_waits_for_a_writer_of_its_new_month_and_its_block_holds_both(db_engine, small_district, ruleset):
    """SQLite: the import holds the write lock from the start of each month's transaction, so a writer of
    the same month cannot slip between its check for the month's rows and its block."""
    from diagnosis_service.data.sources import CsvDir, Loaded
    from diagnosis_service.pipeline.ingest import import_source
    from tests.support.builders import months

    whole = CsvDir(small_district).load(ruleset.registry)
    periods = whole.periods()
    import_source(db_engine, ruleset.registry, Loaded(months(whole, periods[:-1])), actor="test")
    branch_id = str(whole.branches.index[0])
    release, holding = threading.Event(), threading.Event()

    def writer() -> None:
        with db_engine.connect() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            metrics_store.upsert_metrics(conn, "branch", [{"period": periods[-1], "branch_id": branch_id,
                                                           "party_lectures": 77.0}], source="api", actor="t")
            holding.set()
            release.wait(30)
            conn.commit()

    outcome: dict = {}

    def importer() -> None:
        try:
            outcome["changes"] = import_source(db_engine, ruleset.registry, Loaded(whole), actor="test")
        except Exception as exc:  # noqa: BLE001 -- reported by the assertion below
            outcome["error"] = exc

    w = threading.Thread(target=writer, daemon=True)
    w.start()
    assert holding.wait(30)
    i = threading.Thread(target=importer, daemon=True)
    i.start()
    i.join(0.5)
    assert i.is_alive()  # waiting for the writer's lock
    release.set()
    w.join(30)
    i.join(60)
    assert not i.is_alive() and "error" not in outcome, outcome
    assert outcome["changes"]["branch_metrics"]["updated"] == 1  # the writer's row, set back to the file's
    rebuild_blocks(db_engine, periods[-1], months=1)
    with db_engine.connect() as conn:
        held = blocks.read(conn, "branch", [periods[-1]], ["party_lectures"])[periods[-1]]
    assert held.column("id").to_pylist() == sorted(whole.branches.index)
