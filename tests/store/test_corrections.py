"""Corrections scattered over the columns (as an import of a corrected district brings them): each row
gets exactly its new values, only the changed fields are recorded as revisions, and the rows that carry
the same fields are written by one statement, not one statement per row (SQLite and PostgreSQL)."""

import contextlib
import datetime
import json
import random

import numpy as np
from sqlalchemy import event, select

from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.pipeline.ingest import store_dataset
from diagnosis_service.store import metrics as metrics_store
from diagnosis_service.store import whole_months
from diagnosis_service.store.schema import BRANCH_COLUMNS, metric_revisions


def test_scattered_corrections_are_exact_recorded_field_by_field_and_written_together(db_engine, ruleset,
                                                                                      small_district):
    ds = load_dir(small_district, ruleset.registry)
    with db_engine.begin() as conn:
        store_dataset(conn, ds, "test")
    period = sorted(set(ds.branch_metrics["period"]))[-1]
    month = ds.branch_metrics[ds.branch_metrics["period"] == period].drop(columns=["pidx"], errors="ignore")
    columns = [c for c in BRANCH_COLUMNS if c in month.columns]
    rng = random.Random(5)
    records, expected, changed_fields = [], {}, {}
    for _, row in month.iterrows():
        record = {"period": period, "branch_id": row["branch_id"]}
        record.update({c: None if isinstance(row[c], float) and np.isnan(row[c]) else row[c] for c in columns})
        changed = sorted(rng.sample(columns, rng.randint(1, 4)))  # a different set of fields in almost every row
        for c in changed:
            record[c] = (record[c] or 0) + 1000.5
        records.append(record)
        expected[row["branch_id"]] = {c: record[c] for c in columns}
        changed_fields[row["branch_id"]] = changed
    assert len({tuple(f) for f in changed_fields.values()}) > len(records) / 2

    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE BRANCH_METRICS"):
            statements.append(executemany)

    with db_engine.begin() as conn:
        event.listen(conn, "before_cursor_execute", count)
        try:
            changes = metrics_store.upsert_metrics(conn, "branch", records, source="import", actor="t")
        finally:
            event.remove(conn, "before_cursor_execute", count)
    assert changes.updated == len(records) and changes.inserted == changes.unchanged == 0
    assert len(statements) == 1, f"{len(statements)} UPDATE statements for {len(records)} rows"

    with db_engine.connect() as conn:
        for branch_id, want in expected.items():
            (stored,) = metrics_store.subject_history(conn, "branch", branch_id, [period])
            assert {c: stored[c] for c in columns} == want, branch_id
        revisions = conn.execute(select(metric_revisions)).mappings().all()
    assert len(revisions) == len(records)
    for rev in revisions:  # only what changed, before and after
        assert sorted(json.loads(rev["current"])) == changed_fields[rev["subject_id"]]
        assert sorted(json.loads(rev["previous"])) == changed_fields[rev["subject_id"]]


def _month_state(conn, period: str) -> tuple[list, list]:
    """The month's rows (each value by its repr: -0.0 is not 0.0 here) and the revisions, in the order
    they were written."""
    from sqlalchemy import text

    rows = [tuple(r) for r in conn.execute(select(metric_revisions.c.subject, metric_revisions.c.subject_id,
                                                  metric_revisions.c.period, metric_revisions.c.source,
                                                  metric_revisions.c.previous, metric_revisions.c.current,
                                                  metric_revisions.c.actor).order_by(metric_revisions.c.id))]
    stored = sorted(tuple(repr(v) for v in r) for r in
                    conn.execute(text("SELECT * FROM member_metrics WHERE period = :p"), {"p": period}))
    return stored, rows


@contextlib.contextmanager
def _copying(engine, on: bool):
    """PostgreSQL's COPY paths on (as `import`'s bulk engine has them: no wait callback in the process) or
    as the test's engine has them (off)."""
    if not on:
        yield
        return
    from psycopg2 import extensions

    callback = extensions.get_wait_callback()
    extensions.set_wait_callback(None)
    try:
        assert whole_months._can_copy()
        yield
    finally:
        extensions.set_wait_callback(callback)


def test_a_corrected_month_is_stored_in_bulk_exactly_as_row_by_row(db_engine, ruleset, small_district, monkeypatch):
    """``correct_month`` (an import's corrected month, compared column-wise and written in bulk) leaves the
    same rows and the same revisions, in the same order, as ``upsert_metrics`` row by row: values changed
    in scattered fields, NaN to a value and back, rows the month lacked inserted, and the month's block
    written anew holds exactly its rows."""
    from diagnosis_service.store import blocks

    ds = load_dir(small_district, ruleset.registry)
    period = sorted(set(ds.member_metrics["period"]))[-1]
    month = ds.member_metrics[ds.member_metrics["period"] == period].drop(columns=["pidx"], errors="ignore")
    month = month.sort_values("member_id").reset_index(drop=True)
    columns = [c for c in month.columns if c not in ("period", "member_id")]
    held_back = set(month["member_id"].iloc[::17])  # rows the store does not hold yet
    stored = ds.member_metrics[~((ds.member_metrics["period"] == period) &
                                 ds.member_metrics["member_id"].isin(held_back))].reset_index(drop=True)
    with db_engine.begin() as conn:
        store_dataset(conn, ds.__class__(ds.branches, ds.members, ds.branch_metrics, stored), "test")
    rng = np.random.default_rng(7)
    values = month[columns].to_numpy(dtype=float, copy=True)
    hit = rng.random(values.shape) < 0.05
    values[hit] = np.where(np.isnan(values[hit]), 3.25, np.where(rng.random(hit.sum()) < 0.3, np.nan,
                                                                 values[hit] + 1.5))
    values[(values == 0) & (rng.random(values.shape) < 0.2)] = -0.0  # stored as 0.0 (and unchanged)
    ids = month["member_id"].tolist()
    records = [{"period": period, "member_id": i, **{c: (None if np.isnan(v) else float(v))
                                                      for c, v in zip(columns, row, strict=True)}}
               for i, row in zip(ids, values.tolist(), strict=True)]
    with db_engine.connect() as conn:
        trans = conn.begin()
        by_row = metrics_store.upsert_metrics(conn, "member", records, source="import", actor="t")
        expected = _month_state(conn, period)
        trans.rollback()
    monkeypatch.setattr(whole_months, "REVISIONS_AT_ONCE", 7)  # the revisions written a few at a time
    for copying in [False, True] if db_engine.dialect.name == "postgresql" else [False]:
        with _copying(db_engine, copying), db_engine.connect() as conn:
            trans = conn.begin()
            bulk = whole_months.correct_month(conn, "member", period, ids, columns, values, source="import",
                                               actor="t")
            assert bulk.as_dict() == by_row.as_dict() and bulk.inserted == len(held_back) and bulk.updated > 50
            assert _month_state(conn, period) == expected, f"COPY: {copying}"
            assert whole_months.month_unchanged(conn, "member", period, ids, columns, values), "the block holds the rows"
            assert not blocks.missing(conn, "member", [period], columns)
            stamps = set(conn.execute(select(metric_revisions.c.created_at)).scalars())
            if copying:
                trans.commit()
            else:
                trans.rollback()
    if db_engine.dialect.name != "postgresql":
        with db_engine.begin() as conn:
            whole_months.correct_month(conn, "member", period, ids, columns, values, source="import", actor="t")
    (stamp,) = stamps  # read back as the datetime SQLAlchemy writes, on both databases
    assert isinstance(stamp, datetime.datetime) and abs((datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                                                        - stamp).total_seconds()) < 600
    with db_engine.begin() as conn:  # again: nothing to do
        again = whole_months.correct_month(conn, "member", period, ids, columns, values, source="import", actor="t")
    assert again.as_dict() == {"inserted": 0, "updated": 0, "unchanged": len(ids)}
