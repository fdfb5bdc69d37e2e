"""Calendar windows (the quarter or year so far) and the months left in them: the vectorized derivation
and the single-subject path agree on every series, gaps and missing values included, and say what the
regulations mean by "once a quarter"."""

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.engine.derive import derive_own, window_values
from diagnosis_service.engine.single import Plan, own_values
from diagnosis_service.periods import parse_period
from diagnosis_service.rules import check_rules
from tests.support.paths import RULES

JAN = parse_period("2025-01")


def frame_of(series: dict[str, list[float | None]], start: int = JAN) -> pd.DataFrame:
    """One branch's rows: None is a month without a row, nan a row without the value."""
    rows = []
    for k, value in enumerate(series["member_assemblies"]):
        if value is not None:
            rows.append({"pidx": start + k, "branch_id": "B1", "member_assemblies": value})
    return pd.DataFrame(rows)


def test_quarter_so_far_with_gaps_and_missing_values():
    src = np.array([0, 1, 0, 2, 0, 0, 1, np.nan, 1, 0, 0, 0], dtype=float)
    pidx = JAN + np.arange(12)
    ids = np.array(["B1"] * 12)
    got = window_values(src, ids, pidx, "quarter", "sum")
    expect = [0, 1, 1, 2, 2, 2, 1, math.nan, math.nan, 0, 0, 0]
    assert np.array_equal(np.isnan(got), np.isnan(expect))
    assert np.allclose(np.nan_to_num(got, nan=-1), np.nan_to_num(expect, nan=-1))
    # A quarter whose first months are not in the data is unknown to its end; the next starts afresh.
    late = window_values(np.array([1.0, 0, 0, 0]), np.array(["B1"] * 4), JAN + 1 + np.arange(4), "quarter", "sum")
    assert np.isnan(late[:2]).all() and late[2:].tolist() == [0, 0]
    # A month without a row inside the quarter: unknown from there on.
    gap = window_values(np.array([1.0, 0]), np.array(["B1"] * 2), np.array([JAN + 3, JAN + 5]), "quarter", "sum")
    assert gap[0] == 1 and math.isnan(gap[1])
    assert window_values(src[:6], ids[:6], pidx[:6], "year", "count_nonzero").tolist() == [0, 1, 1, 2, 2, 2]
    assert window_values(src[:6], ids[:6], pidx[:6], "year", "max").tolist() == [0, 1, 1, 2, 2, 2]


# Decimals too: a running total must be added in the same order on both paths (0.7 + 0.1 is not 0.8).
series = st.lists(st.one_of(st.none(), st.just(math.nan), st.integers(0, 3).map(float),
                            st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 1))), min_size=1, max_size=28)


@settings(max_examples=200, deadline=None)
@given(values=series, start=st.integers(0, 11), agg=st.sampled_from(["sum", "max", "count_nonzero"]),
       period=st.sampled_from(["quarter", "year"]))
def test_both_paths_agree(ruleset, values, start, agg, period):
    frame = frame_of({"member_assemblies": values}, JAN + start)
    if frame.empty:
        return
    got = window_values(frame["member_assemblies"].to_numpy(dtype=float), frame["branch_id"].to_numpy(),
                        frame["pidx"].to_numpy(), period, agg)
    plan = Plan(ruleset, "branch")
    plan.derived = [("w", "window", {"indicator": "member_assemblies", "period": period, "agg": agg}),
                    ("left", "remaining_months", period)]
    rows = {int(p): {"member_assemblies": v} for p, v in zip(frame["pidx"], frame["member_assemblies"], strict=True)}
    single = own_values(plan, rows)
    size = 3 if period == "quarter" else 12
    for k, p in enumerate(frame["pidx"]):
        a, b = got[k], single[int(p)]["w"]
        assert (math.isnan(a) and math.isnan(b)) or a == b
        assert single[int(p)]["left"] == size - 1 - int(p) % size


def test_the_shipped_quarter_indicators_are_derived(ruleset, small_district):
    from diagnosis_service.data.csvdir import load_dir

    ds = load_dir(small_district, ruleset.registry)
    out = derive_own(ds.branch_metrics, "branch", ruleset)
    one = out[out["branch_id"] == "B00001"].sort_values("pidx")
    quarter = one["pidx"].to_numpy() // 3
    for q in sorted(set(quarter)):
        rows = one[quarter == q]
        assert rows["member_assemblies_this_quarter"].tolist() == rows["member_assemblies"].cumsum().tolist()
        assert rows["months_left_in_quarter"].tolist() == [2 - int(p) % 3 for p in rows["pidx"]]


def test_a_wrong_window_is_explained(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / "indicators.yaml").read_text(encoding="utf-8")
    text = text.replace("{indicator: member_assemblies, period: quarter, agg: sum}",
                        "{indicator: member_assemblies, period: quater, agg: total}")
    text = text.replace("derived: {remaining_months: year}", "derived: {remaining_months: yaer}")
    (rules / "indicators.yaml").write_text(text, encoding="utf-8")
    problems = [str(p) for p in check_rules(rules)]
    assert any("window period must be one of quarter, year, got 'quater'" in p and "did you mean 'quarter'" in p
               for p in problems)
    assert any("window agg must be one of sum, max, count_nonzero, got 'total'" in p for p in problems)
    assert any("remaining_months must be one of quarter, year, got 'yaer'" in p and "did you mean 'year'" in p
               for p in problems)
    assert all("indicators.yaml:" in p for p in problems[:3])


def test_deadlines_are_the_last_day_of_the_window():
    from datetime import date

    from diagnosis_service.engine.findings import window_end

    assert window_end("2025-02", 3) == date(2025, 3, 31) and window_end("2025-04", 3) == date(2025, 6, 30)
    assert window_end("2024-11", 3) == date(2024, 12, 31) and window_end("2025-10", 12) == date(2025, 12, 31)


INLINE = """version: 1
rules:
  - id: lectures_missing_quarter_inline
    title: {zh: 本季度未上党课, en: "no party lecture this quarter"}
    source: default
    subject: branch
    when: {all: [{remaining_months: quarter, op: eq, value: 0},
                 {indicator: party_lectures, window: quarter, agg: sum, op: eq, value: 0}]}
    severity: yellow
    topic: theory_study
    message: {zh: "{name}：{value}次", en: "{name}: {value}"}
"""


def test_a_condition_may_name_the_window_itself(tmp_path, small_district):
    """`window:` on a comparison and `remaining_months:` as a condition do what the declared indicators
    do, on both engines, month after month."""
    import shutil

    from diagnosis_service.data.csvdir import load_dir
    from diagnosis_service.engine import make_evaluator
    from diagnosis_service.rules import load_ruleset

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "inline.yaml").write_text(INLINE, encoding="utf-8")
    (rules / "inline_year.yaml").write_text(INLINE.replace("lectures_missing_quarter_inline", "study_year_inline")
                                            .replace("party_lectures, window: quarter", "theory_study_sessions, window: year")
                                            .replace("remaining_months: quarter", "remaining_months: year"),
                                            encoding="utf-8")
    ruleset = load_ruleset(rules)
    # A window indicators.yaml declares is reused (its name reads better); another is implied.
    assert ruleset.registry.get("branch", "party_lectures_quarter_sum") is None
    implied = ruleset.registry.get("branch", "theory_study_sessions_year_sum")
    assert implied is not None and implied.name_zh == "本年度理论学习次数合计"
    inline = ruleset.rule("lectures_missing_quarter_inline")
    assert inline.indicator == "party_lectures_this_quarter", "the finding reports the window, not the calendar"
    ds = load_dir(small_district, ruleset.registry)
    fired_somewhere = 0
    for engine in ("vectorized", "durable"):
        ev = make_evaluator(ds, ruleset, engine)
        for month in ("2025-03", "2025-05", "2025-06", "2025-09", "2025-12"):
            branches, _ = ev.run(month)
            inline = {b.id for b in branches for f in b.findings if f.rule == "lectures_missing_quarter_inline"}
            shipped = {b.id for b in branches for f in b.findings if f.rule == "party_lecture_missing_quarter"}
            assert inline == shipped
            fired_somewhere += len(inline)
            for b in branches:
                for f in b.findings:
                    if f.rule == "lectures_missing_quarter_inline":
                        assert f.indicator == "party_lectures_this_quarter" and f.message_zh.startswith("本季度党课次数")
    assert fired_somewhere > 0


def test_a_wrong_window_in_a_condition_is_explained(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    bad = INLINE.replace("window: quarter, agg: sum", "window: quater, agg: total").replace(
        "{remaining_months: quarter,", "{remaining_months: yaer,")
    (rules / "inline.yaml").write_text(bad, encoding="utf-8")
    problems = [str(p) for p in check_rules(rules)]
    assert any("inline.yaml:" in p and "window must be one of quarter, year, got 'quater'" in p
               and "did you mean 'quarter'" in p and "lectures_missing_quarter_inline" in p for p in problems)
    assert any("agg must be one of sum, max, count_nonzero, got 'total'" in p for p in problems)
    assert any("remaining_months must be one of quarter, year, got 'yaer'" in p and "did you mean 'year'" in p
               for p in problems)
    named = INLINE.replace("    severity: yellow", "    indicator: party_lectures\n    severity: yellow")
    (rules / "inline.yaml").write_text(named, encoding="utf-8")
    assert check_rules(rules) == [], "the window's source indicator names the window"
    member_based = INLINE.replace("party_lectures, window", "red_member_share, window")
    (rules / "inline.yaml").write_text(member_based, encoding="utf-8")
    assert any("computed from the members' results" in str(p) for p in check_rules(rules))
    mixed = INLINE.replace("window: quarter, agg: sum, op: eq", "window: quarter, change: delta, op: eq")
    (rules / "inline.yaml").write_text(mixed, encoding="utf-8")
    assert any("a calendar window and a change cannot be combined" in str(p) for p in check_rules(rules))


def test_derivations_that_cannot_be_computed_are_refused(tmp_path):
    """A window of what the members' results give, or a derivation of itself, is a problem for
    `rules check`, never an error when the month is diagnosed."""
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "indicators.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("{window: {indicator: affairs_disclosures, period: quarter, agg: sum}}",
                        "{window: {indicator: red_member_share, period: quarter, agg: max}}")
    text = text.replace("{window: {indicator: party_lectures, period: quarter, agg: sum}}",
                        "{window: {indicator: party_lectures_this_quarter, period: year, agg: sum}}")
    path.write_text(text, encoding="utf-8")
    problems = [str(p) for p in check_rules(rules)]
    assert any("window cannot use 'red_member_share', which is computed from the members' results" in p
               for p in problems)
    assert any("derived indicators form a cycle: party_lectures_this_quarter -> party_lectures_this_quarter" in p
               for p in problems)


def test_a_reminder_never_hides_a_problem(tmp_path):
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    path = rules / "branch_weaknesses.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("  - id: member_assembly_missing_quarter\n",
                        "  - id: member_assembly_missing_quarter\n    superseded_by: [member_assembly_due_quarter]\n", 1)
    path.write_text(text, encoding="utf-8")
    problems = [str(p) for p in check_rules(rules)]
    assert any("superseded_by names the reminder 'member_assembly_due_quarter'" in p
               and "member_assembly_missing_quarter" in p for p in problems)
    lamp = (rules / "member_lamps.yaml").read_text(encoding="utf-8")
    (rules / "member_lamps.yaml").write_text(lamp.replace("    severity: reminder\n", "    severity: reminder\n"
                                                          "    lamp: true\n", 1), encoding="utf-8")
    assert any("a reminder never lights a lamp" in str(p) for p in check_rules(rules))
