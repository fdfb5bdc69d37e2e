"""Which reported indicators a diagnosis of one month reads in the months before it.

A month's diagnosis reads every indicator of that month, but of the months before it only what its
rules look back at (``for_periods``, ``change``, references at a lag), what runs, windows and
year-to-date sums add up, and what those are derived from. Of the default district's 28 member
indicators that is 8 (attendance, dues, points), so a source that can read columns (the columnar
dataset) reads a third of the history. The evaluator's results for that month are the same to the last
bit with the other columns of earlier months missing: ``tests/engine/test_lookback.py`` checks it.

A dataset may also keep the runs, windows and year-to-date sums with each month (``carry_plan`` names
which, ``pipeline.carry`` computes them): their history is then not read at all, and with the shipped
rules a month reads no member history (``tests/data/test_carried.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection

from ..data.sources import HISTORY_MONTHS, Carry
from ..rules.model import RuleSet
from ..rules.registry import sources
from .derive import DERIVATIONS_VERSION
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


def _earlier(ruleset: RuleSet, carried: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """(subject, indicator) pairs whose values in months before the diagnosed one can change its results,
    when the derived indicators ``carried`` are given in the diagnosed month (not computed from history)."""
    earlier: set[tuple[str, str]] = set()
    for subject in ("branch", "member"):
        for rule in ruleset.for_subject(subject):
            for leaf, lag in slots(rule.when):
                if lag > 0 or leaf.change:
                    earlier.add((subject, leaf.indicator))
        # Every derived indicator is computed in the diagnosed month; some of them look back.
        for ind in ruleset.registry.derived(subject):
            kind = next(iter(ind.derived))
            if kind in LOOKING_BACK and (subject, ind.id) not in carried:
                earlier.update(_inputs(ruleset, subject, ind.id))
    # What is needed in an earlier month needs, in that month, whatever it is computed from (a carried
    # indicator needed there too is computed there, from its inputs).
    todo = list(earlier)
    while todo:
        for dep in _inputs(ruleset, *todo.pop()):
            if dep not in earlier:
                earlier.add(dep)
                todo.append(dep)
    return earlier


def _reported(ruleset: RuleSet, pairs: set[tuple[str, str]]) -> dict[str, frozenset[str]]:
    return {subject: frozenset(i.id for i in ruleset.registry.reported(subject) if (subject, i.id) in pairs)
            for subject in ("branch", "member")}


def lookback_columns(ruleset: RuleSet) -> dict[str, frozenset[str]]:
    """Per subject, the reported indicators whose values in months before the diagnosed one can change
    its results (a superset: an indicator a rule looks back at is kept whole)."""
    return _reported(ruleset, _earlier(ruleset, ()))


# Derivations whose values depend on more than the subject's own rows: the members' lamps or means (the
# rules and the district), the roll of members (it changes when members join). Nothing computed from them
# is kept.
NOT_OWN_ROWS = ("member_share", "member_mean", "per_members")


def _kind(ruleset: RuleSet, subject: str, indicator: str) -> str | None:
    ind = ruleset.registry.get(subject, indicator)
    return None if ind is None or ind.derived is None else next(iter(ind.derived))


def _closure(ruleset: RuleSet, subject: str, indicator: str) -> set[tuple[str, str]] | None:
    """The indicator and everything it is computed from; None when that includes a derivation of
    ``NOT_OWN_ROWS``."""
    seen = {(subject, indicator)}
    todo = [(subject, indicator)]
    while todo:
        pair = todo.pop()
        if _kind(ruleset, *pair) in NOT_OWN_ROWS:
            return None
        for dep in _inputs(ruleset, *pair):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def fingerprint(ruleset: RuleSet, subject: str, indicator: str) -> str | None:
    """A digest of what a derived indicator's values depend on besides the data: its derivation and its
    inputs' (a reported input by its id), the points weights when a points total is among them (in their
    order: a sum of floats depends on it), the months of history a diagnosis reads (a run is counted
    within them) and the version of the derivations' code (``derive.DERIVATIONS_VERSION``). None: it
    cannot be kept."""
    closure = _closure(ruleset, subject, indicator)
    if closure is None:
        return None
    spec: dict[str, object] = {"history_months": HISTORY_MONTHS, "code": DERIVATIONS_VERSION}
    for s, i in sorted(closure):
        ind = ruleset.registry.get(s, i)
        derived = None if ind is None else ind.derived
        spec[f"{s}.{i}"] = derived if derived is not None else "reported"
        if derived is not None and next(iter(derived)) == "points":
            spec["points"] = [[name, weight] for name, weight in ruleset.points.items()]
    text = json.dumps(spec, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def carry_plan(ruleset: RuleSet) -> Carry | None:
    """The derived indicators that look back which a dataset may keep with each month (``data carry``) so
    that a month is read without the history they add up: those needed in the diagnosed month only. None
    when keeping them would save nothing."""
    prints = {(subject, ind.id): fingerprint(ruleset, subject, ind.id)
              for subject in ("branch", "member") for ind in ruleset.registry.derived(subject)
              if next(iter(ind.derived)) in LOOKING_BACK}
    carried = {pair for pair, digest in prints.items() if digest is not None}
    while True:  # one needed in an earlier month is computed there from its history: not carried
        earlier = _earlier(ruleset, carried)
        kept = {c for c in carried if c not in earlier}
        if kept == carried:
            break
        carried = kept
    if not carried:
        return None
    lookback = _reported(ruleset, earlier)
    # A subject's earlier months are not read at all when nothing of them is needed: no reported column, and
    # no looking-back indicator computed from history (a run over a day count needs its rows, not a column).
    uncarried = {(s, i.id) for s in ("branch", "member") for i in ruleset.registry.derived(s)
                 if next(iter(i.derived)) in LOOKING_BACK and (s, i.id) not in carried}
    # A branch value from the members' lamps or means at an earlier month needs the members' rows there.
    members_earlier = any(_kind(ruleset, *p) in ("member_share", "member_mean") for p in earlier)
    skip = frozenset(s for s in ("branch", "member")
                     if not lookback[s] and not any(u[0] == s for u in uncarried)
                     and not any(p[0] == s for p in earlier) and not (s == "member" and members_earlier))
    fingerprints: dict[str, dict[str, str]] = {}
    for subject, indicator in sorted(carried):
        fingerprints.setdefault(subject, {})[indicator] = prints[(subject, indicator)]
    return Carry(fingerprints, lookback, skip, _depths(ruleset, earlier, {u[0] for u in uncarried}))


def _depths(ruleset: RuleSet, earlier: set[tuple[str, str]], adding_up: set[str]) -> dict[str, int]:
    """Per subject, how many months before the diagnosed one are read, when nothing that adds up history
    is computed from it: the furthest a rule compares (``for_periods``, a change reads the month before).
    Absent for the subjects in ``adding_up`` (a looking-back indicator not kept reads its whole history);
    empty (every month of the history) when something needed earlier looks back itself, or is computed
    from the members' lamps or means (their rules' own lags add up)."""
    for subject, indicator in earlier:
        kind = _kind(ruleset, subject, indicator)
        if kind is not None and (kind not in SAME_MONTH or kind in ("member_share", "member_mean")):
            return {}
    depth = {subject: 0 for subject in ("branch", "member") if subject not in adding_up}
    for subject in depth:
        for rule in ruleset.for_subject(subject):
            for leaf, lag in slots(rule.when):
                depth[subject] = max(depth[subject], lag + (1 if leaf.change else 0))
    return depth


__all__ = ["LOOKING_BACK", "SAME_MONTH", "carry_plan", "fingerprint", "lookback_columns"]
