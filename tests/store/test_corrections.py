"""Corrections scattered over the columns (as an import of a corrected district brings them): each row
gets exactly its new values, only the changed fields are recorded as revisions, and the rows that carry
the same fields are written by one statement, not one statement per row (SQLite and PostgreSQL)."""

import json
import random

import numpy as np
from sqlalchemy import event, select

from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.pipeline.ingest import store_dataset
from diagnosis_service.store import metrics as metrics_store
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
