"""The platform in the simulated district (SimulationSpec.platform_from): no platform changes nothing, the
months before the launch are those of the same district without it, and after it the district improves."""

import hashlib
from dataclasses import fields, replace

import numpy as np
import pandas as pd
import pytest

from diagnosis_service.cli import main
from diagnosis_service.errors import InputError
from diagnosis_service.simulation.district import DEFAULT_SPEC, SimulationSpec, simulate

TINY = SimulationSpec(branches=40, members=700, months=6, end="2025-06", seed=3)
SMALL = SimulationSpec(branches=200, members=3000, months=24, end="2025-12", seed=0, platform_from="2025-01")
LAUNCH = "2025-01"
# The same district with the platform launched after its window: its counterfactual without the platform.
LATER = replace(SMALL, platform_from="2026-01")
ORG_LIFE = ["member_assemblies", "committee_meetings", "group_meetings", "party_lectures", "theme_party_days"]
# Branch counts drawn as "uniform < p(health)": with the same draws (month-by-month streams, see platform.MonthByMonth), a
# healthier branch never holds fewer than it would without the platform.
BERN = ["member_assemblies", "party_lectures", "theme_party_days", "affairs_disclosures"]
# Every activity count of a branch is 0 in a month it lapses.
ACTIVITY = ORG_LIFE + ["theory_study_sessions", "democratic_consultations", "affairs_disclosures", "base_activities"]


@pytest.fixture(scope="module")
def with_platform(ruleset):
    return simulate(SMALL, ruleset.registry)


@pytest.fixture(scope="module")
def without_platform(ruleset):
    return simulate(LATER, ruleset.registry)


def _fingerprint(ds) -> str:
    digest = hashlib.sha256()
    for frame, cols in ((ds.branch_metrics, ["pidx", "theory_study_sessions", "group_meetings",
                                             "org_life_attendance_rate", "dues_on_time_rate"]),
                        (ds.member_metrics, ["pidx", "dues_paid", "group_meetings_attended", "theory_study_hours"])):
        digest.update(frame[cols].to_numpy(dtype=float).tobytes())
    digest.update("".join(ds.members["name"]).encode())
    return digest.hexdigest()[:16]


def _frames(ds) -> dict[str, pd.DataFrame]:
    return {"branches": ds.branches, "members": ds.members, "branch_metrics": ds.branch_metrics,
            "member_metrics": ds.member_metrics}


def test_no_platform_is_the_district_as_it_was(ruleset):
    assert SimulationSpec().platform_from is None and replace(TINY, platform_from=None) == TINY
    assert SimulationSpec() == SimulationSpec(months=12, end="2025-12", platform_from=None)
    plain, explicit = simulate(TINY, ruleset.registry), simulate(replace(TINY, platform_from=None), ruleset.registry)
    for name, frame in _frames(plain).items():
        pd.testing.assert_frame_equal(frame, _frames(explicit)[name], obj=name)
    # Figures of the simulator before platform_from existed (the same seed gives the same district).
    assert _fingerprint(plain) == "0eef365222f175dc"


def test_platform_from_is_validated_like_end():
    with pytest.raises(InputError) as caught:
        SimulationSpec(platform_from="2025-13").validate()
    assert [p.field for p in caught.value.problems] == [("platform_from",)]
    SimulationSpec(platform_from="2020-01").validate()  # before the window: in full effect throughout


def test_nothing_changes_before_the_launch(with_platform, without_platform):
    a, b = _frames(with_platform), _frames(without_platform)
    for name in ("branches", "members"):
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    for name in ("branch_metrics", "member_metrics"):
        before_a, before_b = (f[f["period"] < LAUNCH].reset_index(drop=True) for f in (a[name], b[name]))
        assert len(before_a) > 0
        pd.testing.assert_frame_equal(before_a, before_b, obj=name)
        after_a, after_b = (f[f["period"] >= LAUNCH].reset_index(drop=True) for f in (a[name], b[name]))
        assert not after_a.equals(after_b), name


def _paired(a: pd.DataFrame, b: pd.DataFrame, key: str, col: str) -> pd.DataFrame:
    return a[["period", key, col]].merge(b[["period", key, col]], on=["period", key], suffixes=("", "_without"),
                                         validate="one_to_one")


def test_members_pay_their_dues_more_often(with_platform, without_platform):
    mm = with_platform.member_metrics
    # The same uniform draws decide a month's dues with and without the platform (month-by-month streams), and
    # the platform only ends drift spells early and makes forgetting rarer: never a payment fewer.
    both = _paired(mm, without_platform.member_metrics, "member_id", "dues_paid")
    assert (both["dues_paid"] >= both["dues_paid_without"]).all()
    after = both["period"] >= "2025-07"
    assert both.loc[after, "dues_paid"].mean() > both.loc[after, "dues_paid_without"].mean() + 0.003
    # Year on year, with the platform: fewer unpaid dues in the second half of 2025 than a year before.
    unpaid = 1 - mm.groupby(mm["period"].str[:4] + (mm["period"].str[5:] > "06").map({True: "b", False: "a"}))[
        "dues_paid"].mean()
    assert unpaid["2025b"] < 0.9 * unpaid["2024b"]
    # Members drifting at the launch (unpaid all of 2024-Q4) are brought back: more of them pay at the end of 2025.
    q4 = mm[mm["period"].between("2024-10", "2024-12")].groupby("member_id")["dues_paid"].agg(["sum", "count"])
    drifting = q4.index[(q4["sum"] == 0) & (q4["count"] == 3)]
    assert len(drifting) >= 20

    def paid_late_2025(ds):
        m = ds.member_metrics
        return m.loc[m["member_id"].isin(drifting) & m["period"].between("2025-07", "2025-12"), "dues_paid"].mean()

    assert paid_late_2025(with_platform) > paid_late_2025(without_platform)
    assert paid_late_2025(with_platform) > mm.loc[mm["member_id"].isin(drifting)
                                                  & mm["period"].between("2024-07", "2024-12"), "dues_paid"].mean()


def test_branches_get_healthier(with_platform, without_platform):
    bm, cf = with_platform.branch_metrics, without_platform.branch_metrics
    for col in BERN:
        both = _paired(bm, cf, "branch_id", col)
        assert (both[col] >= both[f"{col}_without"]).all(), col
        assert both.loc[both["period"] >= "2025-07", col].sum() > both.loc[both["period"] >= "2025-07",
                                                                           f"{col}_without"].sum(), col
    # Lapses that would start after the launch are partly caught: fewer months without any activity.
    def lapsed(ds, after):
        b = ds.branch_metrics
        return int(((b[ACTIVITY].sum(axis=1) == 0) & ((b["period"] >= LAUNCH) == after)).sum())

    assert lapsed(with_platform, False) == lapsed(without_platform, False)
    assert lapsed(with_platform, True) < lapsed(without_platform, True)
    # Health-driven counts rise from the first year to the second, and beyond the district without the platform.
    driven = ORG_LIFE + ["theory_study_sessions", "democratic_consultations", "base_activities"]
    year1, year2 = (bm[bm["period"].str.startswith(y)][driven].sum(axis=1).mean() for y in ("2024", "2025"))
    cf_year2 = cf[cf["period"].str.startswith("2025")][driven].sum(axis=1).mean()
    assert year2 > 1.02 * year1 and year2 > 1.02 * cf_year2
    theory = bm.groupby(bm["period"].str[:4])["theory_study_sessions"].mean()
    assert theory["2025"] > theory["2024"]
    # Weak branches gain most: the weakest quarter (by 2024 health-driven counts) gains more than the rest.
    per_branch = bm.assign(year=bm["period"].str[:4], n=bm[driven].sum(axis=1)).pivot_table(
        index="branch_id", columns="year", values="n", aggfunc="mean")
    weak = per_branch["2024"] <= per_branch["2024"].quantile(0.25)
    gain = per_branch["2025"] - per_branch["2024"]
    gain_cf = (cf.assign(year=cf["period"].str[:4], n=cf[driven].sum(axis=1))
               .pivot_table(index="branch_id", columns="year", values="n", aggfunc="mean")
               .pipe(lambda f: f["2025"] - f["2024"]))
    assert (gain - gain_cf)[weak].mean() > (gain - gain_cf)[~weak].mean() > 0


def test_the_command_defaults_to_the_demo_district(runner, tmp_path):
    params = {p.name: p.default for p in main.commands["simulate"].params}
    for field in fields(SimulationSpec):
        assert params[field.name] == getattr(DEFAULT_SPEC, field.name), field.name
    assert DEFAULT_SPEC.months == 24 and DEFAULT_SPEC.platform_from == "2025-01" and DEFAULT_SPEC.end == "2025-12"
    small = ["simulate", "--branches", "20", "--members", "200", "--months", "4", "--end", "2025-03"]
    outs = {}
    for name, extra in (("default", []), ("explicit", ["--platform-from", "2025-01"]),
                        ("none", ["--platform-from", "none"]), ("None", ["--platform-from", "None"])):
        result = runner.invoke(main, [*small, *extra, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outs[name] = (tmp_path / name / "member_metrics.csv").read_bytes()
    assert outs["default"] == outs["explicit"] and outs["none"] == outs["None"] != outs["default"]
    result = runner.invoke(main, [*small, "--platform-from", "2025-13", "--out", str(tmp_path / "bad")])
    assert result.exit_code == 2 and "--platform-from: bad period" in result.output


def test_the_effect_ramps_up(with_platform, without_platform):
    """The gap to the district without the platform widens over its first year (a ramp, not a step)."""
    held = []
    for ds in (with_platform, without_platform):
        b = ds.branch_metrics
        held.append(b[b["period"] >= LAUNCH].groupby("period")[BERN].sum().sum(axis=1))
    gap = (held[0] - held[1]).to_numpy()
    assert len(gap) == 12 and np.all(gap >= 0)
    assert gap[:3].mean() < 0.5 * gap[-3:].mean()
