"""A month's diagnosis reads of the months before it only what ``lookback_columns`` names: with every
other indicator of those months missing, its output is the same to the byte, for the shipped rules, for
random rules that look back (``for_periods``, ``change``, references at a lag) and for a branch rule
that looks back at its members' lamps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.data.model import Dataset
from diagnosis_service.engine import make_evaluator
from diagnosis_service.engine.lookback import lookback_columns
from diagnosis_service.periods import parse_period
from diagnosis_service.rules.model import Compare, Ref, Rule, RuleSet
from tests.support.diagnose import diagnose
from tests.support.strategies import SLOW, branch_table, branch_tables, conditions, make_rules


def blank_earlier(dataset: Dataset, ruleset: RuleSet, period: str) -> Dataset:
    """The dataset as a source reading by column gives it: before ``period`` only the lookback columns."""
    keep, complete = lookback_columns(ruleset), parse_period(period)
    frames = {}
    for subject in ("branch", "member"):
        frame = dataset.metrics(subject).copy()
        earlier = frame["pidx"].to_numpy() < complete
        for ind in ruleset.registry.reported(subject):
            if ind.id not in keep[subject]:
                frame.loc[earlier, ind.id] = np.nan
        frames[subject] = frame
    return dataclasses.replace(dataset, branch_metrics=frames["branch"], member_metrics=frames["member"],
                               complete_from=complete)


def test_every_kind_of_derivation_is_known_to_read_earlier_months_or_not():
    from diagnosis_service.engine.lookback import LOOKING_BACK, SAME_MONTH
    from diagnosis_service.rules.registry import DERIVATIONS

    assert set(LOOKING_BACK) | set(SAME_MONTH) == set(DERIVATIONS)
    assert not set(LOOKING_BACK) & set(SAME_MONTH)


def test_the_shipped_rules_look_back_at_runs_windows_points_and_their_inputs(ruleset):
    keep = lookback_columns(ruleset)
    # consecutive_unpaid_months runs over dues_paid; consecutive_absent_months over the five attendances
    # (org_life_attended sums them); vanguard_points_ytd adds up the points of every points input.
    assert {"dues_paid", *ruleset.points} <= keep["member"]
    assert {"member_assemblies_attended", "theme_party_days_attended"} <= keep["member"]
    # Quarter windows of the branch counts.
    assert {"member_assemblies", "party_lectures", "affairs_disclosures"} <= keep["branch"]
    reported = {s: {i.id for i in ruleset.registry.reported(s)} for s in ("branch", "member")}
    assert keep["member"] <= reported["member"] and keep["branch"] <= reported["branch"]
    assert "study_test_score" not in keep["member"] and "star_rating" not in keep["branch"]
    assert len(keep["member"]) < len(reported["member"]) / 2


@pytest.mark.parametrize("period", ["2025-01", "2025-03", "2025-07", "2025-12"])
def test_a_month_diagnosed_from_its_lookback_alone_is_the_same(ruleset, catalog, small_district, period):
    full = load_dir(small_district, ruleset.registry)
    whole = diagnose(full, ruleset, period, catalog=catalog)
    part = diagnose(blank_earlier(full, ruleset, period), ruleset, period, catalog=catalog)
    assert list(part.lines()) == list(whole.lines())


def test_a_branch_rule_over_its_members_lamps_last_month_keeps_the_members_rules_inputs(ruleset, small_district):
    # A member lamp on an indicator nothing else looks back at, and a branch rule on last month's share
    # of red members: that indicator is then needed last month too.
    red = Rule(id="low_test_score", subject="member", severity="red", lamp=True, topic="theory_study",
               when=Compare("study_test_score", "lt", Ref("quantile", q=0.2)),
               message_zh="{value}", message_en="{value}", source="default", indicator="study_test_score")
    share = Rule(id="red_members_two_months", subject="branch", severity="yellow", lamp=True, topic="org_life",
                 when=Compare("red_member_share", "gt", Ref("mean"), for_periods=2),
                 message_zh="{value}", message_en="{value}", source="default", indicator="red_member_share")
    alone = dataclasses.replace(ruleset, rules=(*ruleset.rules, red))
    assert "study_test_score" not in lookback_columns(alone)["member"]
    rs = dataclasses.replace(ruleset, rules=(*ruleset.rules, red, share))
    assert "study_test_score" in lookback_columns(rs)["member"]
    full = load_dir(small_district, ruleset.registry)
    whole, part = diagnose(full, rs, "2025-12"), diagnose(blank_earlier(full, rs, "2025-12"), rs, "2025-12")
    assert list(part.lines()) == list(whole.lines())
    assert any(f.rule == share.id for b in whole.branches for f in b.findings)


@settings(max_examples=40, **SLOW)
@given(conds=st.lists(conditions, min_size=1, max_size=4), table=branch_tables(3))
def test_random_rules_that_look_back_give_the_same_month_from_their_lookback(ruleset, conds, table):
    rs = RuleSet(ruleset.registry, ruleset.points, tuple(make_rules(ruleset.registry, conds, [True] * len(conds))),
                 "lookback")
    full = branch_table(ruleset.registry, table)
    part = blank_earlier(full, rs, "2025-06")
    assert list(diagnose(part, rs, "2025-06").lines()) == list(diagnose(full, rs, "2025-06").lines())


def test_an_earlier_month_of_a_dataset_read_in_part_is_not_diagnosed(ruleset, small_district):
    part = blank_earlier(load_dir(small_district, ruleset.registry), ruleset, "2025-12")
    evaluator = make_evaluator(part, ruleset)
    assert evaluator.run("2025-12")[0]
    with pytest.raises(ValueError, match="read in part"):
        evaluator.run("2025-11")
