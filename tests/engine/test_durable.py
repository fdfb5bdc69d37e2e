"""The durable_rules engine gives the same answers as the vectorized one, and behaves as a service needs."""

import threading

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from diagnosis_service.data.csvdir import load_dir
from diagnosis_service.engine import make_evaluator
from diagnosis_service.engine.durable import DurableRules, compile_condition, compile_problems
from diagnosis_service.rules.model import AllOf, Compare, Not, Ref, Rule, RuleSet
from tests.support.diagnose import diagnose
from tests.support.strategies import branch_table, cell, conditions, make_rules


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(conds=st.lists(conditions, min_size=1, max_size=4), lamps=st.lists(st.booleans(), min_size=4, max_size=4),
       table=st.lists(st.tuples(st.sampled_from(["village", "community"]),
                                st.lists(st.tuples(cell, cell, cell), min_size=3, max_size=3)),
                      min_size=1, max_size=6),
       absent=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 2)), max_size=3))
def test_random_rules_and_tables_give_identical_output(ruleset, conds, lamps, table, absent):
    rules = make_rules(ruleset.registry, conds, lamps[:len(conds)])
    rs = RuleSet(ruleset.registry, ruleset.points, tuple(rules), "diff")
    assume(not compile_problems(rs))  # rules check refuses these; tested below
    ds = branch_table(ruleset.registry, table, absent)
    vec = diagnose(ds, rs, "2025-06", engine="vectorized")
    dur = diagnose(ds, rs, "2025-06", engine="durable")
    assert list(dur.lines()) == list(vec.lines())


def test_simulated_month_is_byte_identical(ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    for period in ("2025-06", "2025-12"):
        vec = list(diagnose(ds, ruleset, period, engine="vectorized").lines())
        dur = list(diagnose(ds, ruleset, period, engine="durable").lines())
        assert dur == vec
        assert any('"lamp":"red"' in line for line in vec), "the month exercises red lamps"


def test_negation_is_pushed_to_the_comparisons():
    from diagnosis_service.engine.durable import FactNames

    cond = Not(AllOf((Compare("x", "lt", Ref("const", value=1.0)), Compare("y", "eq", Ref("mean")))))
    compiled = compile_condition(cond, FactNames())
    assert compiled == {"$or": [{"$gte": {"v_x_level_0": 1.0}}, {"$neq": {"d0": 0.0}}]}
    runs = compile_condition(Compare("x", "eq", Ref("const", value=0.0), for_periods=2), FactNames())
    assert runs == {"$and": [{"v_x_level_0": 0.0}, {"v_x_level_1": 0.0}]}


def test_missing_values_never_match(ruleset):
    rule = Rule(id="r", subject="member", when=Not(Compare("dues_paid", "eq", Ref("const", value=1.0))),
                severity="yellow", lamp=True, topic="dues", message_zh="x", message_en="x", source="default",
                indicator="dues_paid")
    engine = DurableRules(RuleSet(ruleset.registry, ruleset.points, (rule,), "t"))
    assert engine.match("member", [{}, {"v_dues_paid_level_0": 0.0}, {"v_dues_paid_level_0": 1.0}]) == [
        set(), {"r"}, set()]


def test_rule_sets_are_replaced_by_new_names_and_states_are_cleaned(ruleset):
    first, second = DurableRules(ruleset), DurableRules(ruleset)
    names = {c.name for s in (first, second) for sub in s.subjects.values() for c in sub.chunks}
    assert len(names) == 4, "each compiled version registers under names of its own"
    fact = {"v_dues_paid_level_0": 0.0, "v_consecutive_unpaid_months_level_0": 1.0,
            "v_consecutive_absent_months_level_0": 0.0, "v_days_left_in_month_level_0": 0.0,
            "v_day_of_month_level_0": 31.0}
    # Far more evaluations than the engine's ~1,024 live states: each one deletes its state.
    for _ in range(3000):
        assert first.match("member", [fact]) == [{"member_dues_missed"}]


def test_concurrent_evaluations_from_threads(ruleset):
    engine = DurableRules(ruleset)
    paid = {"v_dues_paid_level_0": 1.0, "v_consecutive_unpaid_months_level_0": 0.0,
            "v_consecutive_absent_months_level_0": 0.0, "v_days_left_in_month_level_0": 0.0,
            "v_day_of_month_level_0": 31.0}
    unpaid = dict(paid, v_dues_paid_level_0=0.0, v_consecutive_unpaid_months_level_0=6.0)
    errors = []

    def work(n):
        try:
            for i in range(300):
                fact = unpaid if (i + n) % 2 else paid
                expected = {"member_dues_missed", "member_dues_unpaid_6_months"} if fact is unpaid else set()
                assert engine.match("member", [fact]) == [expected]
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_shipped_rules_compile_and_oversized_rules_are_refused(ruleset):
    assert compile_problems(ruleset) == []
    big = Compare("theory_study_sessions", "lt", Ref("mean"), for_periods=36)
    cond = AllOf((big, big, big))
    rule = Rule(id="huge", subject="branch", when=cond, severity="yellow", lamp=False, topic="theory_study",
                message_zh="x", message_en="x", source="default", indicator="theory_study_sessions",
                file="f.yaml", line=3)
    (problem,) = compile_problems(RuleSet(ruleset.registry, ruleset.points, (rule,), "big"))
    assert problem.rule_id == "huge" and "108 comparisons" in problem.message


def test_engines_agree_on_lamps_counts(ruleset, small_district):
    ds = load_dir(small_district, ruleset.registry)
    vec = make_evaluator(ds, ruleset, "vectorized").members_at(int(np.int64(2025 * 12 + 11)))[1]
    dur = make_evaluator(ds, ruleset, "durable").members_at(2025 * 12 + 11)[1]
    assert (vec == dur).all()
