import numpy as np
import pandas as pd
import pytest

from diagnosis_service.engine import make_evaluator
from diagnosis_service.simulation.district import SimulationSpec, branch_types, simulate


def test_default_district_has_the_seed_scale():
    types = pd.Series(branch_types(2654)).value_counts()
    assert len(branch_types(2654)) == 2654
    assert types["village"] == 167 and types["community"] == 103
    assert set(types.index) == {"village", "community", "enterprise", "social_org", "government", "school",
                                "hospital", "other"}


def test_small_district_is_consistent(ruleset):
    ds = simulate(SimulationSpec(branches=40, members=700, months=6, end="2025-06", seed=3), ruleset.registry)
    assert len(ds.branches) == 40 and len(ds.members) == 700
    assert ds.members["branch_id"].isin(ds.branches.index).all()
    assert ds.periods() == ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05", "2025-06"]
    # The branch dues rate is its members' share of paid dues in the same month.
    m = ds.member_metrics.assign(branch_id=ds.member_metrics["member_id"].map(ds.members["branch_id"]))
    paid = m.groupby(["pidx", "branch_id"])["dues_paid"].mean().mul(100).round(1)
    b = ds.branch_metrics.set_index(["pidx", "branch_id"])["dues_on_time_rate"]
    common = paid.index.intersection(b.index)
    assert np.allclose(paid.loc[common].to_numpy(), b.loc[common].to_numpy())
    for subject in ("branch", "member"):
        for ind in ruleset.registry.reported(subject):
            values = ds.metrics(subject)[ind.id].dropna()
            assert (values >= ind.min).all(), ind.id
            if ind.max is not None:
                assert (values <= ind.max).all(), ind.id


@pytest.mark.slow  # the whole default district
def test_default_district_has_realistic_lamp_rates(ruleset):
    ds = simulate(SimulationSpec(), ruleset.registry)
    assert len(ds.branches) == 2654 and len(ds.members) == 47411
    branches, members = make_evaluator(ds, ruleset).run("2025-12")
    branch_lamps = pd.Series([b.lamp for b in branches]).value_counts(normalize=True)
    member_lamps = pd.Series([m.lamp for m in members]).value_counts(normalize=True)
    assert branch_lamps["green"] > 0.8 and 0.005 < branch_lamps.get("red", 0) < 0.05
    assert member_lamps["green"] > 0.85 and 0.005 < member_lamps.get("red", 0) < 0.05
    fired = {f.rule for r in branches + members for f in r.findings}
    assert {"branch_no_org_life_2_months", "branch_red_members_20", "member_dues_missed",
            "member_dues_unpaid_6_months", "member_absent_6_months", "theory_study_below_average",
            "democratic_consultation_below_average"} <= fired, "every seed rule has something to find"
