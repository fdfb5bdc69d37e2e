"""The integer groups outcomes are compared within: the same groups as the log's keys, and per-row sums
and counts equal to a plain loop over the rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.learning.outcome_groups import Groups, sum_count

KEY = st.one_of(st.none(), st.just(math.nan), st.sampled_from(["a", "b", "c"]))
ROW = st.tuples(st.integers(0, 3), KEY, KEY, st.sampled_from(["r1", "r2"]), st.sampled_from(["B1", "B2"]),
                st.sampled_from(["x", "y"]), st.booleans(),
                st.one_of(st.just(math.nan), st.floats(-100, 100, allow_nan=False)))


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["pidx", "rule", "branch_type", "resource_id", "branch_id", "indicator",
                                       "adopted", "value"])


def same_groups(codes: np.ndarray, keys: list[tuple], dropna: bool = True) -> bool:
    """Two rows share a code exactly when their keys are equal, None and NaN alike missing: -1 exactly
    where a key is missing, or (``dropna`` False) missing a value like another."""
    keys = [tuple("<missing>" if k is None or (isinstance(k, float) and math.isnan(k)) else k for k in key)
            for key in keys]
    for i, ki in enumerate(keys):
        missing = "<missing>" in ki
        if dropna and missing != (codes[i] == -1):
            return False
        for j, kj in enumerate(keys):
            if (not dropna or not missing) and (codes[i] == codes[j]) != (ki == kj):
                return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25))
def test_codes_group_the_rows_whose_keys_are_equal(rows):
    out = frame(rows)
    g = Groups.of(out)
    rule, btype = [r[1] for r in rows], [r[2] for r in rows]
    pidx = [r[0] for r in rows]
    assert same_groups(g.rule, [(k,) for k in rule])
    assert same_groups(g.control[1], list(zip(pidx, rule, strict=True)))
    assert same_groups(g.control[2], list(zip(pidx, rule, btype, strict=True)))
    assert same_groups(g.comparable, list(zip(pidx, rule, btype, strict=True)), dropna=False)
    assert same_groups(g.resource, [(r[1], r[3]) for r in rows])
    assert same_groups(g.series, [(r[4], r[5]) for r in rows])
    assert g.adopted.tolist() == [r[6] for r in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25))
def test_sums_and_counts_are_those_of_the_rows_picked_in_each_group(rows):
    out = frame(rows)
    g = Groups.of(out)
    values, picked = out["value"].to_numpy(dtype=float), g.adopted
    sums, counts = sum_count(g.control[2], values, picked)
    for i in range(len(rows)):
        mates = [j for j in range(len(rows)) if g.control[2][i] >= 0 and g.control[2][j] == g.control[2][i]
                 and picked[j] and not math.isnan(values[j])]
        assert counts[i] == len(mates)
        assert math.isclose(sums[i], math.fsum(values[j] for j in mates), rel_tol=1e-12, abs_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 800), st.sampled_from([None, True, False]))
def test_sums_are_those_of_grouping_by_the_keys_to_the_bit(seed, n, ordered):
    """Large groups, in the log's order or sorted by rule either way: pandas rounds a group's sum
    differently when the group ids come in order; the codes must take the path the keys themselves take."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({"pidx": rng.integers(0, 3, n), "rule": rng.choice(["r_b", "r_a", "r_c", None], n),
                        "branch_type": rng.choice(["x", "y", None], n), "resource_id": "R", "branch_id": "B",
                        "indicator": "i", "adopted": rng.random(n) < 0.4, "value": rng.normal(size=n) * 10})
    if ordered is not None:
        out = out.sort_values("rule", ascending=ordered, kind="stable", na_position="first").reset_index(drop=True)
    g = Groups.of(out)
    rest = ~g.adopted
    for codes, keys in zip(g.control, (["rule"], ["pidx", "rule"], ["pidx", "rule", "branch_type"]), strict=True):
        sums, counts = sum_count(codes, out["value"].to_numpy(), rest)
        stats = out[rest].groupby(keys)["value"].agg(["sum", "count"])
        joined = out[keys].join(stats, on=keys)
        assert [x.hex() for x in sums] == [x.hex() for x in joined["sum"].fillna(0.0)]
        assert counts.tolist() == joined["count"].fillna(0).tolist()
