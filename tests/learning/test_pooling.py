"""The adoption rates' partial pooling, column-wise, against its definition group by group."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.pooling import shrunk_means


def defined(frame, keys, target, parent, global_mean, k, parent_keys) -> dict[str, float]:
    """(n x mean + k x parent) / (n + k), group by group, the parent looked up by label in the groups' first
    values (the code before the column-wise one; the mean is pandas' grouped mean in both)."""
    out = {}
    if frame.empty:
        return out
    grouped = frame.groupby(keys, sort=True).agg(n=(target, "size"), mean=(target, "mean"))
    first = frame.groupby(keys, sort=True).first()
    for idx, row in grouped.iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        if parent_keys:
            pkey = "|".join(str(first.loc[idx][p] if p not in keys else idx[keys.index(p)]) for p in parent_keys)
            base = parent.get(pkey, global_mean)
        else:
            base = global_mean
        out["|".join(str(i) for i in idx)] = float((row["n"] * row["mean"] + k * base) / (row["n"] + k))
    return out


rows = st.lists(st.tuples(st.sampled_from(["lecturer", "base", "lesson"]), st.sampled_from(["R1", "R2", "R10", "R3"]),
                          st.sampled_from(["rural", "enterprise", None]), st.floats(0, 1)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(rows=rows, k=st.floats(0.1, 50), global_mean=st.floats(0, 1),
       parent_values=st.lists(st.floats(0, 1), min_size=6, max_size=6))
def test_pooled_means_are_the_definition_to_the_bit(rows, k, global_mean, parent_values):
    frame = pd.DataFrame(rows, columns=["kind", "resource_id", "branch_type", "_a"])
    parent = {f"{kind}|{t}": v for (kind, t), v in zip([(kd, t) for kd in ("lecturer", "base", "lesson")
                                                        for t in ("rural", "enterprise")], parent_values, strict=True)}
    upper = shrunk_means(frame, ["kind", "branch_type"], "_a", {}, global_mean, k, ())
    assert upper == defined(frame, ["kind", "branch_type"], "_a", {}, global_mean, k, ())
    # A resource's parent is its kind (read from its first row) with the branch type of its group.
    lower = shrunk_means(frame, ["resource_id", "branch_type"], "_a", parent, global_mean, k, ("kind", "branch_type"))
    want = defined(frame, ["resource_id", "branch_type"], "_a", parent, global_mean, k, ("kind", "branch_type"))
    assert list(lower) == list(want)
    assert all(lower[key] == want[key] or (math.isnan(lower[key]) and math.isnan(want[key])) for key in want)
    if frame.dropna().empty:
        assert lower == {}
