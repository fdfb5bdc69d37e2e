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


rows = st.lists(st.tuples(st.sampled_from(["lecturer", "base", "lesson", None]), st.sampled_from(["R1", "R2", "R10", "R3"]),
                          st.sampled_from(["rural", "enterprise", None]), st.floats(0, 1), st.integers(1, 3)),
                max_size=40)
PARENTS = [f"{kind}|{t}" for kind in ("lecturer", "base", "lesson", "None", "nan") for t in ("rural", "enterprise")]
# A number's text as a row of the groups' first values gives it: 2.0 among float columns, never 2.
BANDS = [*(str(b) for b in (1, 2, 3)), *(str(float(b)) for b in (1, 2, 3))]


def same(got: dict, want: dict) -> bool:
    """Equal keys in the same order, equal values to the bit (NaN for NaN)."""
    return list(got) == list(want) and all(
        got[k] == want[k] or (math.isnan(got[k]) and math.isnan(want[k])) for k in want)


@settings(max_examples=60, deadline=None)
@given(rows=rows, k=st.floats(0.1, 50), global_mean=st.floats(0, 1),
       parent_values=st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=len(PARENTS) + len(BANDS),
                              max_size=len(PARENTS) + len(BANDS)))
def test_pooled_means_are_the_definition_to_the_bit(rows, k, global_mean, parent_values):
    frame = pd.DataFrame(rows, columns=["kind", "resource_id", "branch_type", "_a", "band"])
    # Parents of some keys only: the others fall back to the global mean.
    parent = {key: v for key, v in zip([*PARENTS, *BANDS], parent_values, strict=True) if v is not None}
    assert same(shrunk_means(frame, ["kind", "branch_type"], "_a", {}, global_mean, k, ()),
                defined(frame, ["kind", "branch_type"], "_a", {}, global_mean, k, ()))
    # A resource's parent is its kind (its group's first kind, None where it has none) with its branch type.
    keys = ["resource_id", "branch_type"]
    assert same(shrunk_means(frame, keys, "_a", parent, global_mean, k, ("kind", "branch_type")),
                defined(frame, keys, "_a", parent, global_mean, k, ("kind", "branch_type")))
    # A numeric parent column among numeric columns only: its text is a float's.
    numeric = frame[["resource_id", "kind", "_a", "band"]]
    assert same(shrunk_means(numeric, ["resource_id", "kind"], "_a", parent, global_mean, k, ("band",)),
                defined(numeric, ["resource_id", "kind"], "_a", parent, global_mean, k, ("band",)))
    if frame.dropna(subset=["kind", "branch_type"]).empty:
        assert shrunk_means(frame, ["kind", "branch_type"], "_a", {}, global_mean, k, ()) == {}
