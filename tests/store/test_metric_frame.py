"""Metrics read back column-wise (metric_frame) are exactly the stored values: every double bit for
bit, missing values missing, any id, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from diagnosis_service.store import metrics as metrics_store
from diagnosis_service.store.schema import MEMBER_COLUMNS, branches, member_metrics, members

COLUMNS = list(MEMBER_COLUMNS[:4])
ids = st.text(alphabet=st.sampled_from('AZaz09_-,"\' 中文.'), min_size=1, max_size=12).map(lambda s: f"M{s}X")
values = st.one_of(st.none(), st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
                   st.sampled_from([0.1, 1 / 3, 2.675, 1e-300, 5e-324, 123456789.123456789]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(ids, st.sampled_from(["2025-01", "2025-02"]), st.lists(values, min_size=4,
                                                                                          max_size=4)),
                     min_size=0, max_size=30, unique_by=lambda r: (r[0], r[1])))
def test_the_frame_holds_exactly_what_was_stored(db_engine, rows):
    with db_engine.begin() as conn:
        conn.execute(delete(member_metrics))
        conn.execute(delete(members))
        conn.execute(delete(branches))
        conn.execute(branches.insert().values(branch_id="B1", name="b", type="community", street="s"))
        for mid in sorted({r[0] for r in rows}):
            conn.execute(members.insert().values(member_id=mid, branch_id="B1", name="n"))
        for mid, period, vals in rows:
            conn.execute(member_metrics.insert().values(member_id=mid, period=period, **dict(zip(COLUMNS, vals,
                                                                                                  strict=True))))
    with db_engine.connect() as conn:
        frame = metrics_store.metric_frame(conn, "member", COLUMNS, ["2025-01", "2025-02"])
    assert list(frame.columns) == ["period", "member_id", *COLUMNS] and len(frame) == len(rows)
    got = {(r.member_id, r.period): [getattr(r, c) for c in COLUMNS] for r in frame.itertuples(index=False)}
    for mid, period, vals in rows:
        for want, have in zip(vals, got[(mid, period)], strict=True):
            if want is None:
                assert math.isnan(have)
            else:
                assert np.float64(want) == have  # (SQLite keeps -0.0 as 0: equal values)
    assert all(frame[c].dtype == np.float64 for c in COLUMNS)
