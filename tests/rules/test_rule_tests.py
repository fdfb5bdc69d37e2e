"""Mistakes in a rule test file are told where they are written, with what may have been meant: not as a
difference from what the rules gave, nor as advice for a CSV file."""

from __future__ import annotations

import pytest

from diagnosis_service.pipeline.rule_tests import run_tests
from tests.support.paths import RULES

CASE = """\
tests:
  - name: one
    period: 2025-06
    branches: {{B1: {{}}}}
    members:
      M1: {{branch: B1, series: {{dues_paid: "{series}"}}}}
    expect:
      members:
        M1: {{lamp: {lamp}, findings: [{finding}]}}
      branches:
        B1: {{weaknesses: [{topic}]}}
"""


@pytest.mark.parametrize(("fields", "says"), [
    ({"series": "1 a"}, "6:44: bad value 'a' in a series (a number, _ for a missing value or x for a month with no row)"),
    ({"lamp": "yelow"}, "9:20: unknown lamp 'yelow' (did you mean 'yellow'?)"),
    ({"finding": "member_dues_mised"}, "9:38: unknown member rule id 'member_dues_mised' in findings (did you mean "),
    ({"finding": "branch_red_members_20"}, "9:38: unknown member rule id 'branch_red_members_20' in findings ('branch_red_members_20' is a branch rule; "
                                            "these are a member's findings)"),
    ({"topic": "dues_x"}, "11:27: unknown topic 'dues_x' in weaknesses (did you mean 'dues'?)"),
])
def test_a_mistake_in_a_test_is_located_not_diffed(tmp_path, fields, says):
    good = {"series": "1 1", "lamp": "green", "finding": "", "topic": ""}
    path = tmp_path / "x_test.yaml"
    path.write_text(CASE.format(**(good | fields)), encoding="utf-8")
    report = run_tests(RULES, [path])
    assert [r.passed for r in report.results] == [False]
    result = report.results[0]
    assert not result.diff and result.error.startswith(f"{path}:{says}"), result.error


def test_the_same_file_without_mistakes_runs_and_can_pass(tmp_path):
    path = tmp_path / "x_test.yaml"
    path.write_text(CASE.format(series="1 1", lamp="green", finding="", topic=""), encoding="utf-8")
    report = run_tests(RULES, [path])
    assert [(r.passed, bool(r.error)) for r in report.results] == [(True, False)], report.results[0].diff
