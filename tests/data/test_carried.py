"""Derived indicators kept with each month of a dataset (``data carry``): a month read with them, and
without its members' history, is diagnosed to the same bytes as from its whole history; kept values are
used only under the rules they were computed for, and stay right as months are appended."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diagnosis_service.cli import main
from diagnosis_service.data.columnar import MARKER, ParquetDir
from diagnosis_service.data.csvdir import load_dir, write_dir
from diagnosis_service.data.model import Dataset
from diagnosis_service.engine.derive import derive_own
from diagnosis_service.engine.evaluator import slots
from diagnosis_service.engine.lookback import carry_plan, fingerprint, lookback_columns
from diagnosis_service.periods import parse_period
from diagnosis_service.rules.model import Compare, Indicator, Ref, Rule, RuleSet
from diagnosis_service.simulation.district import SimulationSpec, simulate
from tests.support.builders import Builder
from tests.support.diagnose import diagnose
from tests.support.strategies import SLOW, branch_table, branch_tables, conditions, make_rules


def lines(dataset: Dataset, ruleset: RuleSet, period: str, catalog=None) -> list[str]:
    return list(diagnose(dataset, ruleset, period, catalog=catalog).lines())


def read(directory, ruleset: RuleSet, period: str, carry: bool = True) -> Dataset:
    plan = carry_plan(ruleset) if carry else None
    return ParquetDir(directory).load(ruleset.registry, period, lookback=lookback_columns(ruleset), carry=plan)


def convert(runner, data, out, *extra: str) -> str:
    r = runner.invoke(main, ["data", "convert", str(data), str(out), *extra])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.fixture(scope="module")
def converted(small_district, tmp_path_factory):
    """The small district converted (read-only; a test that changes it takes a ``copy``)."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("carried") / "ds"
    said = convert(CliRunner(), small_district, out)
    assert "consecutive_absent_months" in said and "已为 12 个月保存" in said
    return out


def copy(converted, tmp_path):
    shutil.copytree(converted, tmp_path / "ds")
    return tmp_path / "ds"


def test_the_shipped_rules_keep_runs_windows_and_year_to_date_and_read_no_member_history(ruleset):
    plan = carry_plan(ruleset)
    assert plan.indicators("member") == ["consecutive_absent_months", "consecutive_unpaid_months",
                                         "vanguard_points_ytd"]
    assert plan.indicators("branch") == ["affairs_disclosures_this_quarter", "member_assemblies_this_quarter",
                                         "party_lectures_this_quarter"]
    assert plan.skip_earlier == {"member"} and not plan.lookback["member"]
    # A branch rule reads last month's organisational life (a sum of five counts) and its project's change.
    assert {"member_assemblies", "theme_party_days", "secretary_project_progress"} <= plan.lookback["branch"]
    assert plan.lookback["branch"] < lookback_columns(ruleset)["branch"] | {"x"}


def test_every_month_from_a_converted_district_is_the_same_with_kept_values(runner, ruleset, catalog, small_district,
                                                                           converted, tmp_path):
    out = converted
    held = json.loads((out / MARKER).read_text())["carry"]
    assert held["periods"] == ParquetDir(out).describe()["periods"]
    full = load_dir(small_district, ruleset.registry)
    for period in held["periods"]:
        part = read(out, ruleset, period)
        assert part.carried["member"] == {"consecutive_unpaid_months", "consecutive_absent_months",
                                          "vanguard_points_ytd"}
        assert set(part.member_metrics["pidx"]) == {parse_period(period)}  # no member history read
        with_catalog = catalog if period == held["periods"][-1] else None  # prescriptions once: findings matter
        assert lines(part, ruleset, period, with_catalog) == lines(full, ruleset, period, with_catalog), period
    # The command line uses them, to the same bytes.
    outs = []
    for data in (small_district, out):
        r = runner.invoke(main, ["diagnose", "--data", str(data), "--period", "2025-08", "--out",
                                 str(tmp_path / f"{data.name}.jsonl")])
        assert r.exit_code == 0, r.output
        outs.append((tmp_path / f"{data.name}.jsonl").read_bytes())
    assert outs[0] == outs[1]


def test_values_kept_under_other_rules_are_not_used_until_kept_again(runner, ruleset, small_district, rules_copy,
                                                                    converted, tmp_path):
    out = copy(converted, tmp_path)
    first_set = json.loads((out / MARKER).read_text())["carry"]["set"]
    # Unpaid dues now count when under 1 (the same data, other runs): the kept runs do not fit these rules.
    text = (rules_copy / "indicators.yaml").read_text(encoding="utf-8")
    changed = text.replace("derived: {run: {indicator: dues_paid, op: eq, value: 0}}",
                           "derived: {run: {indicator: dues_paid, op: lt, value: 1}}")
    assert changed != text
    (rules_copy / "indicators.yaml").write_text(changed, encoding="utf-8")
    from diagnosis_service.rules import load_ruleset

    other = load_ruleset(rules_copy)
    full = load_dir(small_district, other.registry)
    stale = read(out, other, "2025-12")
    assert not stale.carried and len(set(stale.member_metrics["pidx"])) > 1  # the history, as without
    assert lines(stale, other, "2025-12") == lines(full, other, "2025-12")

    r = runner.invoke(main, ["data", "carry", str(out), "--rules", str(rules_copy)])
    assert r.exit_code == 0, r.output
    assert "已为 12 个月保存" in r.stdout
    held = json.loads((out / MARKER).read_text())["carry"]
    # The set held before stays, for a reader that read the description before: one set back, no more.
    assert held["set"] != first_set and (out / "carry" / first_set).exists()
    fresh = read(out, other, "2025-12")
    assert fresh.carried and lines(fresh, other, "2025-12") == lines(full, other, "2025-12")
    # Run again, it has nothing to do; the shipped rules now read the history.
    r = runner.invoke(main, ["data", "carry", str(out), "--rules", str(rules_copy)])
    assert "已为 0 个月保存" in r.stdout and "，12 个月已有" in r.stdout
    r = runner.invoke(main, ["data", "carry", str(out), "--rules", str(rules_copy), "--lang", "en"])
    assert "for 0 month(s) now, 12 held already" in r.stdout
    assert not read(out, ruleset, "2025-12").carried
    r = runner.invoke(main, ["data", "carry", str(out)])
    assert r.exit_code == 0 and "已为 12 个月保存" in r.stdout
    assert sorted(p.name for p in (out / "carry").iterdir()) == sorted([held["set"], json.loads(
        (out / MARKER).read_text())["carry"]["set"]]) and not (out / "carry" / first_set).exists()
    assert read(out, ruleset, "2025-12").carried


def test_runs_longer_than_the_history_read_are_counted_within_it(runner, ruleset, tmp_path):
    # 30 months, one member who never pays: a diagnosis reads 24 months, so its run is 24 at most.
    dataset = simulate(SimulationSpec(branches=6, members=60, months=30, end="2025-12", seed=3), ruleset.registry)
    member = dataset.members.index[0]
    metrics = dataset.member_metrics
    metrics.loc[metrics["member_id"] == member, "dues_paid"] = 0.0
    write_dir(dataset, tmp_path / "csv", ruleset.registry)
    out = tmp_path / "ds"
    convert(runner, tmp_path / "csv", out)
    for period in ("2024-06", "2025-06", "2025-12"):
        kept, plain = read(out, ruleset, period), read(out, ruleset, period, carry=False)
        assert kept.carried and not plain.carried
        assert lines(kept, ruleset, period) == lines(plain, ruleset, period), period
    found = [json.loads(line) for line in lines(kept, ruleset, "2025-12") if member in line]
    assert any("24" in json.dumps(f, ensure_ascii=False) for f in found[0]["findings"])


def test_months_appended_keep_their_values_and_a_month_filled_in_before_drops_the_later_ones(
        runner, ruleset, small_district, tmp_path):
    full = load_dir(small_district, ruleset.registry)
    periods = full.periods()
    from tests.support.builders import months

    def csv(keep: list[str]):
        target = tmp_path / f"csv-{len(keep)}-{keep[0]}"
        write_dir(months(full, keep), target, ruleset.registry)
        return target

    out = tmp_path / "ds"
    convert(runner, csv(periods[:6]), out)
    # Months 8 to 12 first, then the seventh filled in: what was kept for 8 to 12 counted without it.
    r = runner.invoke(main, ["data", "append", str(csv(periods[:6] + periods[7:])), str(out)])
    assert r.exit_code == 0, r.output
    assert "已为 5 个月保存" in r.stdout
    before = json.loads((out / MARKER).read_text())["carry"]["set"]
    r = runner.invoke(main, ["data", "append", str(csv(periods)), str(out)])
    assert r.exit_code == 0, r.output
    # Months 8 to 12 are computed again, as a new set with all the months: never over the files a reader
    # of the description before the append may be reading.
    assert "已为 12 个月保存" in r.stdout
    assert json.loads((out / MARKER).read_text())["carry"]["set"] != before
    assert json.loads((out / MARKER).read_text())["carry"]["periods"] == periods
    for period in (periods[6], periods[7], periods[-1]):
        assert lines(read(out, ruleset, period), ruleset, period) == lines(full, ruleset, period)


def carried_view(full: Dataset, ruleset: RuleSet, period: str) -> Dataset:
    """``full`` as a dataset with kept values gives it for ``period``: of earlier months only the plan's
    lookback (none for a subject whose history is skipped), the kept indicators as columns of the month."""
    plan = carry_plan(ruleset)
    complete = parse_period(period)
    frames = {}
    for subject in ("branch", "member"):
        frame = full.metrics(subject)
        frame = frame[frame["pidx"].to_numpy() <= complete].reset_index(drop=True)
        derived = derive_own(frame, subject, ruleset)
        earlier = frame["pidx"].to_numpy() < complete
        view = frame.copy()
        for ind in ruleset.registry.reported(subject):
            if ind.id not in plan.lookback[subject]:
                view.loc[earlier, ind.id] = np.nan
        for name in plan.indicators(subject):
            view[name] = np.where(earlier, np.nan, derived[name].to_numpy())
        if subject in plan.skip_earlier:
            view = view[~earlier].reset_index(drop=True)
        elif subject in plan.depth:  # only the months a rule compares with
            view = view[view["pidx"].to_numpy() >= complete - plan.depth[subject]].reset_index(drop=True)
        frames[subject] = view
    carried = {s: frozenset(plan.indicators(s)) for s in ("branch", "member") if plan.indicators(s)}
    return dataclasses.replace(full, branch_metrics=frames["branch"], member_metrics=frames["member"],
                               complete_from=complete, carried=carried)


RUN_INDICATORS = ["consecutive_unpaid_months", "consecutive_absent_months", "vanguard_points_ytd", "dues_paid"]


def const_rule(rid: str, subject: str, indicator: str, op: str, value: float, periods: int = 1,
               change: str | None = None) -> Rule:
    return Rule(id=rid, subject=subject, severity="red", lamp=True, topic="org_life",
                when=Compare(indicator, op, Ref("const", value=float(value)), change=change, for_periods=periods),
                message_zh="{value}", message_en="{value}", source="default", indicator=indicator)


@settings(max_examples=40, **SLOW)
@given(history=st.lists(st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=8, max_size=8),
                        min_size=2, max_size=6),
       leaves=st.lists(st.tuples(st.sampled_from(RUN_INDICATORS), st.sampled_from(["ge", "lt", "eq"]),
                                 st.integers(0, 4), st.integers(1, 3), st.sampled_from([None, None, "delta"])),
                       min_size=0, max_size=3),
       branch=st.one_of(st.none(), st.tuples(st.sampled_from(["red_member_share", "avg_vanguard_points"]),
                                             st.sampled_from(["ge", "lt"]), st.sampled_from([0, 1, 30, 50]),
                                             st.integers(1, 3), st.sampled_from([None, None, "delta"]))))
def test_random_member_histories_and_rules_give_the_same_month_with_kept_values(ruleset, history, leaves, branch):
    # Rules over runs and year-to-date sums, some of them at earlier months (for_periods, a change), and a
    # branch rule over its members' lamps or points, maybe at earlier months: what an earlier month needs
    # is then read, not kept, and the month is the same either way.
    b = Builder().branch("B0", "community").branch("B1", "village")
    for lag in range(8):
        for bid in ("B0", "B1"):
            b.row("branch", bid, f"2025-{12 - lag:02d}")
    for i, values in enumerate(history):
        b.member(f"M{i}", f"B{i % 2}")
        for lag, value in enumerate(values):
            if value is not None or lag % 3 or not lag:  # a month with no row breaks a run
                b.row("member", f"M{i}", f"2025-{12 - lag:02d}", dues_paid=value, volunteer_hours=value,
                      member_assemblies_attended=value)
    full = b.dataset(ruleset.registry)
    rules = [const_rule(f"m{i}", "member", *leaf) for i, leaf in enumerate(leaves)]
    if branch is not None:
        rules.append(const_rule("b0", "branch", *branch))
    rs = dataclasses.replace(ruleset, rules=tuple(rules))
    plan = carry_plan(rs)
    looked_back = {ind for ind, _, _, periods, change in leaves if periods > 1 or change}
    assert set(plan.indicators("member")).isdisjoint(looked_back)
    if branch is not None and (branch[3] > 1 or branch[4]):  # the members' earlier months are read
        assert "member" not in plan.skip_earlier and not plan.depth
    assert lines(carried_view(full, rs, "2025-12"), rs, "2025-12") == lines(full, rs, "2025-12")


def test_what_depends_on_more_than_the_subjects_rows_or_on_the_order_of_points_is_told_apart(ruleset):
    # A run over a count per members on the roll (the roll changes as members join) is not kept, and the
    # branches' whole history is read for it; points weights in another order give another fingerprint
    # (a sum of floats depends on its order).
    run = Indicator("months_few_activists", "branch", "x", "x", "count", 0, None, True,
                    derived={"run": {"indicator": "activists_per_10_members", "op": "lt", "value": 5}})
    registry = dataclasses.replace(ruleset.registry, indicators={
        **ruleset.registry.indicators, "branch": {**ruleset.registry.indicators["branch"], run.id: run}})
    rs = dataclasses.replace(ruleset, registry=registry,
                             rules=(*ruleset.rules, const_rule("few", "branch", run.id, "ge", 2)))
    plan = carry_plan(rs)
    assert run.id not in plan.indicators("branch") and fingerprint(rs, "branch", run.id) is None
    assert "branch" not in plan.depth and "activists_in_training" in plan.lookback["branch"]
    reordered = dataclasses.replace(ruleset, points=dict(reversed(list(ruleset.points.items()))))
    assert fingerprint(reordered, "member", "vanguard_points_ytd") != fingerprint(ruleset, "member",
                                                                                  "vanguard_points_ytd")
    assert fingerprint(reordered, "member", "consecutive_unpaid_months") == fingerprint(
        ruleset, "member", "consecutive_unpaid_months")


@settings(max_examples=30, **SLOW)
@given(conds=st.lists(conditions, min_size=1, max_size=4), table=branch_tables(4))
def test_random_branch_rules_that_look_back_give_the_same_month_from_the_months_they_compare(ruleset, conds,
                                                                                              table):
    # Only the months the rules compare with are read (a change reads the month before its own).
    rs = dataclasses.replace(ruleset, rules=tuple(make_rules(ruleset.registry, conds, [True] * len(conds))))
    full = branch_table(ruleset.registry, table)
    furthest = max(lag + (1 if leaf.change else 0) for rule in rs.rules for leaf, lag in slots(rule.when))
    assert carry_plan(rs).depth["branch"] == furthest
    assert lines(carried_view(full, rs, "2025-06"), rs, "2025-06") == lines(full, rs, "2025-06")


def test_a_dataset_whose_kept_values_miss_a_member_says_so(ruleset, converted, tmp_path):
    out = copy(converted, tmp_path)
    held = json.loads((out / MARKER).read_text())["carry"]
    folder = out / "carry" / held["set"] / "member" / "2025-12"
    victim = sorted(folder.glob("*.parquet"))[0]
    import pyarrow.parquet as pq

    table = pq.read_table(victim)
    pq.write_table(table.slice(1), victim)
    from diagnosis_service.errors import InputError

    with pytest.raises(InputError, match="kept for 2025-12 miss some members") as info:
        read(out, ruleset, "2025-12")
    assert "data carry" in str(info.value.problems[0].suggestion)
