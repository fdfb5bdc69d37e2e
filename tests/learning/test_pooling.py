"""The adoption rates' partial pooling, column-wise, against its definition group by group."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.pooling import resource_rates, shrunk_means


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


def rates_defined(frame, target, kind_type, global_mean, k) -> dict[str, float]:
    """``resource_rates`` resource by resource: the offset (its departures from its lists' kind x type rates,
    summed, over n + k), the parent (kind x type rate plus offset, within [0, 1]) for every known type, and
    the mean of its lists of a type shrunk toward that parent."""
    rows = frame.dropna(subset=["resource_id", "branch_type"])
    types = sorted({key.split("|", 1)[1] for key in kind_type})
    out = {}
    for rid in sorted({str(r) for r in rows["resource_id"]}):
        mine = rows[rows["resource_id"].astype(str) == rid]
        given = [kd for kd in mine["kind"] if isinstance(kd, str)]
        kind = given[0] if given else None  # its first kind given; a row without one departs from the overall rate
        departures = [a - (kind_type.get(f"{kd}|{t}", global_mean) if isinstance(kd, str) else global_mean)
                      for kd, t, a in zip(mine["kind"], mine["branch_type"].astype(str), mine[target], strict=True)]
        offset = sum(departures) / (len(departures) + k)
        for t in types:
            rate = global_mean if kind is None else kind_type.get(f"{kind}|{t}", global_mean)
            out[f"{rid}|{t}"] = min(max(rate + offset, 0.0), 1.0)
        for t in sorted({str(t) for t in mine["branch_type"]}):
            values = mine[mine["branch_type"].astype(str) == t][target]
            base = out.get(f"{rid}|{t}", global_mean)
            out[f"{rid}|{t}"] = (len(values) * values.mean() + k * base) / (len(values) + k)
    return {key: out[key] for key in sorted(out)}


@settings(max_examples=60, deadline=None)
@given(rows=rows, k=st.floats(0.1, 50), global_mean=st.floats(0, 1),
       kind_values=st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=len(PARENTS), max_size=len(PARENTS)))
def test_resource_rates_are_their_definition(rows, k, global_mean, kind_values):
    frame = pd.DataFrame(rows, columns=["kind", "resource_id", "branch_type", "_a", "band"])
    kind_type = {key: v for key, v in zip(PARENTS, kind_values, strict=True) if v is not None}
    got, want = resource_rates(frame, "_a", kind_type, global_mean, k), rates_defined(frame, "_a", kind_type,
                                                                                      global_mean, k)
    assert list(got) == list(want)
    assert all(math.isclose(got[key], want[key], rel_tol=1e-9, abs_tol=1e-12) for key in want)
    assert all(0.0 <= v <= 1.0 for v in got.values())


def test_a_resource_taken_up_everywhere_is_expected_to_be_where_it_was_rarely_shown():
    """A lecture adopted 9 times in 10 by rural branches, against 4 in 10 for its kind: with a single list
    of an enterprise branch, its enterprise rate is pulled up by what rural branches showed, not left at
    the kind's; the kind's other lecture, adopted as the kind is, stays near the kind's rate."""
    kind_type = {"lecturer|rural": 0.4, "lecturer|enterprise": 0.4}
    rural = [("lecturer", "L1", "rural", 1.0 if i % 10 else 0.0) for i in range(60)]
    rural += [("lecturer", "L2", "rural", 1.0 if i % 10 < 4 else 0.0) for i in range(60)]
    frame = pd.DataFrame([*rural, ("lecturer", "L1", "enterprise", 0.0), ("lecturer", "L2", "enterprise", 0.0)],
                         columns=["kind", "resource_id", "branch_type", "_a"])
    offsets = resource_rates(frame, "_a", kind_type, 0.45, 20.0)
    plain = shrunk_means(frame, ["resource_id", "branch_type"], "_a", kind_type, 0.45, 20.0, ("kind", "branch_type"))
    assert plain["L1|enterprise"] < 0.4
    assert offsets["L1|enterprise"] > 0.55 > offsets["L2|enterprise"]
    assert abs(offsets["L2|enterprise"] - plain["L2|enterprise"]) < 0.02
