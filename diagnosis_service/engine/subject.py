"""One subject at a time through durable_rules: the event path ("a member just paid dues").

The caller gives the subject's own rows (this month and the months its rules look back on) and the
period's references (district and peer aggregates, computed once per period from the whole
district with ``references.period_references``). The answer is the same ``SubjectResult`` the whole-period
diagnosis gives for that subject: the differential tests hold the two paths to it.

``SubjectEngine`` is safe to share between the threads of a WSGI server (durable_rules calls are
serialised by one lock in ``durable``) and can switch to a new rule set without a restart:
``replace`` compiles and registers the new version under new names first, then swaps one reference.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pandas as pd

from ..data.model import KEYS
from ..data.rows import check_rows
from ..errors import InputError, Problem
from ..periods import parse_period, period_month, period_str
from ..rules.model import RuleSet
from .derive import month_days
from .durable import DurableRules
from .findings import Hit, SubjectResult, finalize
from .references import PeriodReferences
from .single import Plan, SubjectValues, own_values


class SubjectEngine:
    def __init__(self, ruleset: RuleSet):
        self._state = _compile(ruleset)
        self._swap = threading.Lock()

    @property
    def ruleset(self) -> RuleSet:
        return self._state[0]

    def replace(self, ruleset: RuleSet) -> None:
        """Serve a new rule set from now on; calls already running finish with the old one."""
        state = _compile(ruleset)  # slow part first, outside the lock
        with self._swap:
            self._state = state

    def evaluate(self, subject: str, subject_id: str, period: str, history: pd.DataFrame | list[dict],
                 references: PeriodReferences, *, branch_type: str | None = None, branch_id: str | None = None,
                 member_values: Mapping[str, Mapping[str, float]] | None = None,
                 validate: bool = True, roll: int | None = None, day: int | None = None) -> SubjectResult:
        """Lamp, findings (and for a member, points) of one subject in ``period``.

        ``history``: the subject's rows (``period`` plus indicator columns), including ``period``
        itself and the months before it that runs, changes and year-to-date points need.
        ``member_values``: for a branch, values derived from its members by period, e.g.
        ``{"2025-06": {"red_member_share": 12.5}}``. ``validate=False`` skips the checks of the rows
        (for rows that come from the store, already validated). ``roll``: the members on the roll of the
        (member's) branch, for size-band references (without it, they find no value: unknown). ``day``:
        the day of ``period`` the values were recorded on (an event before the month is over); without
        it the month is taken as closed (``day_of_month`` its last day, ``days_left_in_month`` 0).
        """
        ruleset, compiled, plans = self._state  # one read: consistent even during a replace
        if subject not in KEYS:
            raise InputError(Problem("subject is required: branch or member" if subject is None else
                                     f"subject must be branch or member, got {subject!r}", field=("subject",)))
        pidx = _period(period, "period")
        plan = plans[subject]
        rows = self._rows(subject, history, ruleset, validate)
        values = own_values(plan, rows, roll if subject == "branch" else None)
        if pidx not in values:
            raise InputError(Problem(f"history has no row for period {period}", field=("period",)))
        if day is not None:
            for name, kind, _ in plan.derived:
                if kind == "day_of_month":
                    values[pidx][name] = float(day)
                elif kind == "days_left_in_month":
                    values[pidx][name] = float(month_days(pidx) - day)
        extra = {}
        if subject == "branch":
            extra = {_period(p, "member_values"): v for p, v in (member_values or {}).items()}
        btype = branch_type or "other"
        band = None if roll is None else ruleset.registry.size_band(roll)
        ctx = SubjectValues(subject, pidx, values, extra, references.values, btype, band)
        names = compiled.subjects[subject].names
        fact = {}
        for name, (indicator, change, lag) in names.values.items():
            v = ctx.measure(indicator, change, lag)
            if v == v:
                fact[name] = v
        for name, (node, lag) in names.diff_nodes.items():
            v = ctx.measure(node.indicator, node.change, lag) - ctx.reference(node, lag)
            if v == v:
                fact[name] = v
        fired = compiled.match(subject, [fact])[0]
        month = period_month(pidx)
        hits = []
        for rule in plan.rules:
            if rule.id in fired and (not rule.months or month in rule.months):
                _, primary, periods = plan.primaries[rule.id]
                hits.append(Hit(rule, _f(ctx.measure(primary.indicator, primary.change, 0)),
                                _f(ctx.reference(primary, 0)), periods))
        lamp, findings, weaknesses = finalize(ruleset, subject, subject_id, period_str(pidx), hits)
        if subject == "member":
            own = values[pidx]
            return SubjectResult("member", subject_id, period_str(pidx), lamp, findings,
                                 branch_id=branch_id or "?",
                                 vanguard_points=_f(own["vanguard_points"]) if plan.has_points else None,
                                 vanguard_points_ytd=_f(own["vanguard_points_ytd"]) if plan.has_ytd else None)
        return SubjectResult("branch", subject_id, period_str(pidx), lamp, findings, branch_type=btype,
                             weaknesses=weaknesses)

    @staticmethod
    def _rows(subject: str, history: pd.DataFrame | list[dict], ruleset: RuleSet,
              validate: bool) -> Mapping[int, Mapping[str, object]]:
        """The history as month index -> row."""
        records = history.to_dict("records") if isinstance(history, pd.DataFrame) else history
        if validate:
            return check_rows(records, subject, ruleset.registry)
        return {_period(str(row["period"]), "period"): row for row in records}


def _compile(ruleset: RuleSet) -> tuple[RuleSet, DurableRules, dict[str, Plan]]:
    return ruleset, DurableRules(ruleset), {s: Plan(ruleset, s) for s in ("branch", "member")}


def _period(text: str, field: str) -> int:
    try:
        return parse_period(text)
    except ValueError as exc:
        raise InputError(Problem(str(exc), field=(field,))) from None


def _f(x: float) -> float | None:
    return None if x != x else float(x)
