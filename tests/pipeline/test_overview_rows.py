"""An overview's rows from a month evaluated here (``month_rows``: members read as columns) are the rows
built from every member's result object (``branch_month_rows``, what a stored diagnosis keeps), to the
float: the default district's months and random ones, with and without the platform's indicators."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diagnosis_service.engine import make_evaluator
from diagnosis_service.pipeline.overview_rows import branch_month_rows, month_rows
from diagnosis_service.rules import load_ruleset
from diagnosis_service.simulation.district import SimulationSpec, simulate
from tests.conftest import SMALL
from tests.support.paths import RULES

# A member reminder that fires every month (the shipped ones need a day of the month: events only), and
# points of many decimals (the shipped weights give at most one): what the rows leave out and round.
REMINDER = """version: 1
rules:
  - id: member_study_reminded
    title: {zh: 学习提醒, en: "study reminder"}
    source: default
    subject: member
    when: {indicator: party_lectures_attended, op: lt, value: 2}
    severity: reminder
    topic: theory_study
    message: {zh: 学习提醒, en: study reminder}
"""


def same_rows(dataset, ruleset) -> int:
    """Every month of ``dataset`` both ways (each on an evaluator of its own); the number of rows."""
    profiles = dataset.branches[["name", "street", "type"]].to_dict("index")
    fast, slow = make_evaluator(dataset, ruleset, "vectorized"), make_evaluator(dataset, ruleset, "vectorized")
    n = 0
    for period in dataset.periods():
        rows = month_rows(fast, period, profiles)
        expected = branch_month_rows(period, *slow.run(period), profiles)
        assert rows == expected, period
        # Equal floats may still differ in type or sign; the stored rows are compared as written.
        assert [repr(r) for r in rows] == [repr(r) for r in expected], period
        n += len(rows)
    return n


def test_the_small_districts_months(ruleset):
    dataset = simulate(SMALL, ruleset.registry)
    assert same_rows(dataset, ruleset) == 60 * 12


def test_a_month_without_members_or_points(ruleset):
    dataset = simulate(SMALL, ruleset.registry)
    periods = dataset.periods()
    metrics = dataset.member_metrics
    gone = metrics[metrics["period"] != periods[-1]]  # no member reported in the last month
    unscored = metrics.assign(vanguard_points=float("nan")) if "vanguard_points" in metrics else metrics
    for members in (gone, unscored):
        changed = type(dataset)(dataset.branches, dataset.members, dataset.branch_metrics,
                                members.reset_index(drop=True))
        assert same_rows(changed, ruleset) == 60 * 12


def test_reminders_are_left_out_and_points_rounded_as_results_round_them(ruleset):
    points = (RULES / "points.yaml").read_text(encoding="utf-8").replace("weight: 0.5", "weight: 0.123456789")
    assert points != (RULES / "points.yaml").read_text(encoding="utf-8")
    changed = load_ruleset(RULES, overrides={"extra_reminders.yaml": REMINDER, "points.yaml": points})
    assert same_rows(simulate(SMALL, changed.registry), changed) == 60 * 12


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(branches=st.integers(1, 30), per_branch=st.integers(1, 20), months=st.integers(1, 14),
       seed=st.integers(0, 10_000), platform=st.booleans())
def test_random_districts(ruleset, branches, per_branch, months, seed, platform):
    spec = SimulationSpec(branches=branches, members=branches * per_branch, months=months, seed=seed,
                          platform_from="2025-06" if platform else None)
    dataset = simulate(spec, ruleset.registry)
    assert same_rows(dataset, ruleset) == branches * months
