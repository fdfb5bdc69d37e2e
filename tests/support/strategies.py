"""Hypothesis strategies for rules and metric tables, shared by the engine tests."""

from hypothesis import HealthCheck
from hypothesis import strategies as st

from diagnosis_service.rules.model import AllOf, AnyOf, Compare, Not, Ref, Rule

INDICATORS = ["theory_study_sessions", "democratic_consultations", "heart_to_heart_talks"]
OPS = ["lt", "le", "gt", "ge", "eq", "ne"]

refs = st.one_of(
    st.builds(Ref, kind=st.just("const"), value=st.integers(0, 4).map(float)),
    st.just(Ref("mean")), st.just(Ref("mean", peers="type")), st.just(Ref("mean", scale=0.8)),
    st.builds(Ref, kind=st.just("quantile"), q=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
              peers=st.sampled_from(["district", "type"])))
leaf = st.builds(Compare, indicator=st.sampled_from(INDICATORS), op=st.sampled_from(OPS), ref=refs,
                 change=st.sampled_from([None, None, "delta", "percent"]), for_periods=st.integers(1, 2))
conditions = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(AllOf, items=st.lists(inner, min_size=1, max_size=3).map(tuple), for_periods=st.integers(1, 2)),
    st.builds(AnyOf, items=st.lists(inner, min_size=1, max_size=3).map(tuple), for_periods=st.integers(1, 2)),
    st.builds(Not, item=inner, for_periods=st.integers(1, 2))), max_leaves=5)
cell = st.one_of(st.none(), st.integers(0, 4))
# For tests that diagnose a dataset per example (slow, and drawing from function-scoped fixtures).
SLOW = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


def branch_tables(months: int):
    """Tables for ``branch_table``: 1 to 6 branches, each (type, a row of INDICATORS for each of ``months``)."""
    return st.lists(st.tuples(st.sampled_from(["village", "community"]),
                              st.lists(st.tuples(cell, cell, cell), min_size=months, max_size=months)),
                    min_size=1, max_size=6)


def branch_table(registry, table, absent=()):
    """A dataset of the branches a ``table`` strategy drew: (type, one row of INDICATORS per month going
    back from 2025-06); ``absent``: (branch, lag) pairs left without a row."""
    from tests.support.builders import Builder

    b = Builder()
    for i, (btype, months) in enumerate(table):
        b.branch(f"B{i}", btype)
        for lag, values in enumerate(months):
            if (i, lag) not in absent:
                b.row("branch", f"B{i}", f"2025-{6 - lag:02d}", **dict(zip(INDICATORS, values, strict=True)))
    return b.dataset(registry)


def make_rules(registry, conds, lamps):
    rules = []
    for i, (cond, lamp) in enumerate(zip(conds, lamps, strict=True)):
        first = cond
        while not isinstance(first, Compare):
            first = first.item if isinstance(first, Not) else first.items[0]
        rules.append(Rule(id=f"r{i}", subject="branch", when=cond, severity=["yellow", "red"][i % 2], lamp=lamp,
                          topic="org_life", message_zh="{value} {reference}", message_en="{value} {reference}",
                          source="default", indicator=first.indicator))
    return rules
