"""Which reported indicators a diagnosis of one month reads in the months before it.

A month's diagnosis reads every indicator of that month, but of the months before it only what its
rules look back at (``for_periods``, ``change``, references at a lag), what runs, windows and
year-to-date sums add up, and what those are derived from. Of the default district's 28 member
indicators that is 8 (attendance, dues, points), so a source that can read columns (the columnar
dataset) reads a third of the history. The evaluator's results for that month are the same to the last
bit with the other columns of earlier months missing: ``tests/engine/test_lookback.py`` checks it.
"""

from __future__ import annotations

from ..rules.model import RuleSet
from ..rules.registry import sources
from .evaluator import slots

LOOKING_BACK = ("run", "window", "year_to_date")  # derivations whose value in a month reads earlier months
# Derivations that read their subject's (or its members') values of the same month only. A new kind of
# derivation must be added to one of the two (a test checks every kind the registry accepts is here).
SAME_MONTH = ("sum", "points", "per_members", "member_share", "member_mean", "remaining_months", "day_of_month",
              "days_left_in_month")


def _inputs(ruleset: RuleSet, subject: str, indicator: str) -> list[tuple[str, str]]:
    """(subject, indicator) pairs an indicator's value in a month is computed from, in that month."""
    ind = ruleset.registry.get(subject, indicator)
    if ind is None or ind.derived is None:
        return []
    kind, arg = next(iter(ind.derived.items()))
    if kind == "points":
        return [(subject, a) for a in ruleset.points]
    if kind == "member_mean":
        return [("member", arg)]
    if kind == "member_share":  # the members' lamps: every comparison of every member rule
        return [("member", leaf.indicator) for rule in ruleset.for_subject("member")
                for leaf, _lag in slots(rule.when)]
    return [(subject, a) for a in sources(ind)]


def lookback_columns(ruleset: RuleSet) -> dict[str, frozenset[str]]:
    """Per subject, the reported indicators whose values in months before the diagnosed one can change
    its results (a superset: an indicator a rule looks back at is kept whole)."""
    earlier: set[tuple[str, str]] = set()
    for subject in ("branch", "member"):
        for rule in ruleset.for_subject(subject):
            for leaf, lag in slots(rule.when):
                if lag > 0 or leaf.change:
                    earlier.add((subject, leaf.indicator))
        # Every derived indicator is computed in the diagnosed month; some of them look back.
        for ind in ruleset.registry.derived(subject):
            kind = next(iter(ind.derived))
            if kind in LOOKING_BACK:
                earlier.update(_inputs(ruleset, subject, ind.id))
    # What is needed in an earlier month needs, in that month, whatever it is computed from.
    todo = list(earlier)
    while todo:
        for dep in _inputs(ruleset, *todo.pop()):
            if dep not in earlier:
                earlier.add(dep)
                todo.append(dep)
    return {subject: frozenset(i.id for i in ruleset.registry.reported(subject) if (subject, i.id) in earlier)
            for subject in ("branch", "member")}


__all__ = ["LOOKING_BACK", "SAME_MONTH", "lookback_columns"]
