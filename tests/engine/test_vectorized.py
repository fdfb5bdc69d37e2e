"""The vectorized engine: seed rules at their boundaries, points, three-valued logic, determinism."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.engine import make_evaluator
from diagnosis_service.engine.derive import run_lengths
from diagnosis_service.engine.vectorized import explain
from diagnosis_service.rules.model import AllOf, AnyOf, Compare, Not, Ref, Rule, RuleSet
from tests.support.builders import Builder
from tests.support.diagnose import diagnose


def by_id(results):
    return {r.id: r for r in results}


def rules_fired(result):
    return sorted(f.rule for f in result.findings)


@pytest.mark.parametrize(("reds", "lamp", "rule"), [(199, "yellow", "branch_red_members_10"),
                                                     (200, "red", "branch_red_members_20")])
def test_red_member_share_boundary_19_9_vs_20(ruleset, reds, lamp, rule):
    b = Builder().branch("B1")
    for i in range(1000):
        mid = f"M{i:04d}"
        b.member(mid, "B1").series("member", mid, "2025-06", dues_paid=[0] * 6 if i < reds else [1] * 6)
    b.series("branch", "B1", "2025-06", theory_study_sessions=[2] * 6)
    branches = diagnose(b.dataset(ruleset.registry), ruleset, "2025-06").branches
    (branch,) = branches
    assert branch.lamp == lamp and rule in rules_fired(branch)
    value = next(f.value for f in branch.findings if f.rule == rule)
    assert value == pytest.approx(reds / 10)


@pytest.mark.parametrize(("sessions", "lamp", "rule"), [([1, 0], "yellow", "branch_no_org_life_this_month"),
                                                        ([0, 0], "red", "branch_no_org_life_2_months")])
def test_org_life_one_month_vs_two(ruleset, sessions, lamp, rule):
    b = Builder().branch("B1")
    zeros = {k: sessions for k in ("member_assemblies", "committee_meetings", "group_meetings", "party_lectures",
                                   "theme_party_days")}
    b.series("branch", "B1", "2025-03", **zeros)
    (branch,) = diagnose(b.dataset(ruleset.registry), ruleset, "2025-03").branches
    assert branch.lamp == lamp
    lamp_rules = [f.rule for f in branch.findings if f.rule.startswith("branch_no_org_life")]
    assert lamp_rules == [rule], "the yellow rule is superseded by the red one"
    assert "org_life" in branch.weaknesses


@pytest.mark.parametrize(("months", "lamp"), [(5, "yellow"), (6, "red"), (7, "red")])
def test_unpaid_dues_5_vs_6_months(ruleset, months, lamp):
    b = Builder().branch("B1").member("M1", "B1")
    b.series("member", "M1", "2025-08", dues_paid=[1] * (8 - months) + [0] * months)
    (member,) = diagnose(b.dataset(ruleset.registry), ruleset, "2025-08").members
    assert member.lamp == lamp
    if lamp == "red":
        (finding,) = member.findings
        assert finding.rule == "member_dues_unpaid_6_months" and finding.value == months
        assert f"{months}个月" in finding.message_zh and f"{months} consecutive months" in finding.message_en


@pytest.mark.parametrize(("months", "lamp"), [(2, "green"), (3, "yellow"), (5, "yellow"), (6, "red")])
def test_absent_months_boundaries(ruleset, months, lamp):
    b = Builder().branch("B1").member("M1", "B1")
    b.series("member", "M1", "2025-08", group_meetings_attended=[1] * (8 - months) + [0] * months)
    (member,) = diagnose(b.dataset(ruleset.registry), ruleset, "2025-08").members
    assert member.lamp == lamp


def test_theory_study_below_district_average_message(ruleset):
    b = Builder().branch("LOW").branch("MID").branch("HIGH")
    for bid, n in (("LOW", 1), ("MID", 2), ("HIGH", 6)):
        b.row("branch", bid, "2025-05", theory_study_sessions=n)
    results = by_id(diagnose(b.dataset(ruleset.registry), ruleset, "2025-05").branches)
    low = results["LOW"]
    (f,) = [f for f in low.findings if f.rule == "theory_study_below_average"]
    assert (f.value, f.reference, f.topic) == (1, 3, "theory_study")
    assert f.message_zh.startswith("理论学习次数(1次)少于全区平均水平(3次)")
    assert rules_fired(results["MID"]) == ["theory_study_below_average"]
    assert rules_fired(results["HIGH"]) == []


def test_points_example_and_year_to_date(ruleset):
    b = Builder().branch("B1").member("M1", "B1").member("M2", "B1")
    b.series("member", "M1", "2025-02", group_meetings_attended=[2, 2, 2], model_posts_created=[0, 0, 1],
             dues_paid=[1, 1, 1])
    b.series("member", "M2", "2025-02", group_meetings_attended=[0, 0, 0], volunteer_hours=[4, 3, 5],
             dues_paid=[0, 1, None])
    members = by_id(diagnose(b.dataset(ruleset.registry), ruleset, "2025-02").members)
    assert members["M1"].vanguard_points == 5  # 2 group meetings + dues + 1 model post (contract example)
    assert members["M1"].vanguard_points_ytd == 3 + 5  # January + February; December belongs to 2024
    assert members["M2"].vanguard_points == 2.5  # 5 volunteer hours; missing dues earn nothing
    assert members["M2"].vanguard_points_ytd == 1.5 + 1 + 2.5


def test_district_ranking_order_is_stable(ruleset):
    b = Builder().branch("B1")
    for mid, pts in (("M3", 2), ("M1", 2), ("M2", 5)):
        b.member(mid, "B1").row("member", mid, "2025-01", group_meetings_attended=pts, dues_paid=0)
    members = diagnose(b.dataset(ruleset.registry), ruleset, "2025-01").members
    assert [m.id for m in members] == ["M1", "M2", "M3"], "results are sorted by id"
    ranking = sorted(members, key=lambda m: (-m.vanguard_points_ytd, m.id))
    assert [m.id for m in ranking] == ["M2", "M1", "M3"]


def test_missing_value_makes_the_rule_unknown_not_fired(ruleset):
    b = Builder().branch("B1").branch("B2")
    b.row("branch", "B1", "2025-05", theory_study_sessions=None).row("branch", "B2", "2025-05", theory_study_sessions=3)
    ds = b.dataset(ruleset.registry)
    diag = diagnose(ds, ruleset, "2025-05")
    assert "theory_study_below_average" not in rules_fired(by_id(diag.branches)["B1"])
    explained = {rule.id: state for rule, state, _, _ in explain(diag.evaluator, "branch", "B1", "2025-05")}
    assert explained["theory_study_below_average"] is None


def test_peer_mean_uses_branches_of_the_same_type(ruleset):
    b = Builder().branch("V1", "village").branch("V2", "village").branch("C1", "community")
    for bid, n in (("V1", 1), ("V2", 9), ("C1", 0)):
        b.row("branch", bid, "2025-05", activists_in_training=n)
    results = by_id(diagnose(b.dataset(ruleset.registry), ruleset, "2025-05").branches)
    (f,) = [f for f in results["V1"].findings if f.rule == "activists_below_average"]
    assert f.reference == pytest.approx(0.8 * 5)
    assert "activists_below_average" not in rules_fired(results["C1"])


# ----------------------------------------------------------------------------- three-valued logic

OPS = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
       "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}
INDICATORS = ["theory_study_sessions", "democratic_consultations", "heart_to_heart_talks"]


def oracle(node, rows, sid, lag, refs):
    """Plain-Python Kleene evaluation of a condition for one subject: True, False or None."""
    results = [oracle_once(node, rows, sid, lag + k, refs) for k in range(node.for_periods)]
    if any(r is False for r in results):
        return False
    return None if any(r is None for r in results) else True


def oracle_once(node, rows, sid, lag, refs):
    if isinstance(node, Compare):
        value = rows.get((sid, lag), {}).get(node.indicator)
        ref = node.ref.value if node.ref.kind == "const" else refs.get((node.indicator, lag))
        if value is None or ref is None or math.isnan(value) or math.isnan(ref):
            return None
        return OPS[node.op](value, ref)
    if isinstance(node, Not):
        inner = oracle(node.item, rows, sid, lag, refs)
        return None if inner is None else not inner
    parts = [oracle(item, rows, sid, lag, refs) for item in node.items]
    if isinstance(node, AllOf):
        return False if False in parts else (None if None in parts else True)
    return True if True in parts else (None if None in parts else False)


leaf = st.builds(
    Compare, indicator=st.sampled_from(INDICATORS), op=st.sampled_from(list(OPS)),
    ref=st.one_of(st.builds(Ref, kind=st.just("const"), value=st.integers(0, 4).map(float)),
                  st.just(Ref("mean"))),
    for_periods=st.integers(1, 2))
conditions = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(AllOf, items=st.lists(inner, min_size=1, max_size=3).map(tuple), for_periods=st.integers(1, 2)),
    st.builds(AnyOf, items=st.lists(inner, min_size=1, max_size=3).map(tuple)),
    st.builds(Not, item=inner)), max_leaves=6)
cell = st.one_of(st.none(), st.integers(0, 4))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cond=conditions, table=st.lists(st.lists(st.tuples(cell, cell, cell), min_size=3, max_size=3),
                                       min_size=1, max_size=5),
       absent=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), max_size=3))
def test_vectorized_matches_a_plain_kleene_oracle(ruleset, cond, table, absent):
    rule = Rule(id="r", subject="branch", when=cond, severity="yellow", lamp=True, topic="org_life",
                message_zh="x", message_en="x", source="default", indicator=next(iter(_leaves(cond))).indicator)
    rs = RuleSet(ruleset.registry, ruleset.points, (rule,), "test")
    b = Builder()
    rows = {}
    for i, months in enumerate(table):
        sid = f"B{i}"
        b.branch(sid)
        for lag, values in enumerate(months):
            if (i, lag) in absent and lag > 0:
                continue
            period = f"2025-{6 - lag:02d}"
            vals = dict(zip(INDICATORS, values, strict=True))
            b.row("branch", sid, period, **vals)
            rows[(sid, lag)] = {k: (float("nan") if v is None else float(v)) for k, v in vals.items()}
    refs = {}
    for ind in INDICATORS:
        for lag in range(3):
            present = [r[ind] for (s, g), r in rows.items() if g == lag and not math.isnan(r[ind])]
            refs[(ind, lag)] = float(np.mean(present)) if present else None
    results = by_id(make_evaluator(b.dataset(ruleset.registry), rs).run("2025-06")[0])
    for i in range(len(table)):
        sid = f"B{i}"
        expected = oracle(cond, rows, sid, 0, refs) is True
        assert (results[sid].lamp == "yellow") == expected, (sid, cond)


def _leaves(cond):
    if isinstance(cond, Compare):
        yield cond
    elif isinstance(cond, Not):
        yield from _leaves(cond.item)
    else:
        for item in cond.items:
            yield from _leaves(item)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0, float("nan")]), st.booleans()), max_size=40))
def test_run_lengths_match_a_loop(cells):
    values = np.array([v for v, _ in cells])
    new_seg = np.array([gap for _, gap in cells], dtype=bool)
    if len(cells):
        new_seg[0] = True
    missing = np.isnan(values)
    cond = (values == 0) & ~missing
    got = run_lengths(cond, new_seg, missing)
    run = 0
    for k, (value, _) in enumerate(cells):
        if new_seg[k]:
            run = 0
        if math.isnan(value):
            assert math.isnan(got[k])
            run = 0
            continue
        run = run + 1 if value == 0 else 0
        assert got[k] == run


def test_same_inputs_same_bytes(ruleset, small_district):
    from diagnosis_service.data.csvdir import load_dir

    first = list(diagnose(load_dir(small_district, ruleset.registry), ruleset, "2025-12").lines())
    second = list(diagnose(load_dir(small_district, ruleset.registry), ruleset, "2025-12").lines())
    assert first == second and len(first) > 900


def test_result_shape(ruleset, small_district):
    from diagnosis_service.data.csvdir import load_dir

    diag = diagnose(load_dir(small_district, ruleset.registry), ruleset, "2025-12")
    branch = diag.branches[0].as_dict()
    assert list(branch) == ["subject", "id", "period", "type", "lamp", "findings", "weaknesses"]
    member = diag.members[0].as_dict()
    assert list(member) == ["subject", "id", "branch_id", "period", "lamp", "vanguard_points",
                            "vanguard_points_ytd", "findings"]
    ids = [b.id for b in diag.branches]
    assert ids == sorted(ids) and [m.id for m in diag.members] == sorted(m.id for m in diag.members)
    for b in diag.branches:
        for f in b.findings:
            assert set(f.as_dict()) == {"rule", "indicator", "severity", "topic", "value", "reference",
                                        "message_zh", "message_en"}
        assert len(b.weaknesses) == len(set(b.weaknesses))
        assert set(b.weaknesses) == {f.topic for f in b.findings}
    assert pd.Series([b.lamp for b in diag.branches]).isin(["red", "yellow", "green"]).all()


@settings(max_examples=200, deadline=None)
@given(sid=st.text(min_size=1, max_size=8), bid=st.text(min_size=1, max_size=8),
       lamp=st.sampled_from(["green", "yellow", "red"]),
       points=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=64)),
       ytd=st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)))
def test_fast_member_json_is_byte_identical_to_json_dumps(sid, bid, lamp, points, ytd):
    import json

    from diagnosis_service.engine.findings import SubjectResult

    result = SubjectResult("member", sid, "2025-01", lamp, [], branch_id=bid, vanguard_points=points,
                           vanguard_points_ytd=ytd)
    assert result.to_json() == json.dumps(result.as_dict(), ensure_ascii=False, separators=(",", ":"))


NUMBERS = st.one_of(st.none(), st.integers(-10**17, 10**17), st.floats(width=64), st.floats(width=32),
                    st.floats(width=64).map(np.float64), st.sampled_from([0, 0.0, -0.0, 1, 1.0, True, 2.5, 2.50001]))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(NUMBERS, max_size=30))
def test_kept_number_texts_are_what_clean_number_gives_whatever_came_before(values):
    # the texts are kept by value: 1, 1.0 and True, 0.0 and -0.0, a float and its numpy twin share one
    from diagnosis_service.engine.findings import _number_json, clean_number, json_value

    for value in values + values[::-1]:
        assert _number_json(value) == json_value(clean_number(value))
