"""One subject's values in plain Python: the event path's counterpart of ``derive`` and ``Context``.

The whole-month path works on columns (numpy, pandas); for a single subject with a dozen rows, building
those tables costs milliseconds while the arithmetic costs microseconds. This module computes the same
numbers row by row, in the same order of IEEE operations, so results are bit-for-bit those of
``derive.derive_own`` and ``evaluator.Context`` (the differential tests in tests/test_subject.py hold it
to that).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping

import numpy as np

from ..rules.model import OP_ALIASES, Compare, Rule, RuleSet
from .derive import MEMBER_BASED, WINDOW_MONTHS, derivation_order, month_days
from .evaluator import _span, aggregate

NAN = float("nan")
_OPS = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
        "eq": operator.eq, "ne": operator.ne}


class Plan:
    """What a rule set asks of one subject kind, worked out once per rule set."""

    def __init__(self, ruleset: RuleSet, subject: str):
        self.subject = subject
        self.reported = [i.id for i in ruleset.registry.reported(subject)]
        self.points = list(ruleset.points.items())
        self.derived = []
        for ind in derivation_order(ruleset, subject):
            kind, arg = next(iter(ind.derived.items()))
            if kind not in MEMBER_BASED:
                self.derived.append((ind.id, kind, arg))
        self.rules = ruleset.for_subject(subject)
        # (rule, primary comparison, months it spans) for the hits of fired rules.
        self.primaries: dict[str, tuple[Rule, Compare, int]] = {
            r.id: (r, r.primary, _span(r.when, r.primary)) for r in self.rules}
        self.has_points = any(i == "vanguard_points" for i, _, _ in self.derived)
        self.has_ytd = any(i == "vanguard_points_ytd" for i, _, _ in self.derived)


def own_values(plan: Plan, rows: Mapping[int, Mapping[str, float]],
               roll: int | None = None) -> dict[int, dict[str, float]]:
    """Each month's reported and derived values (NaN = missing), months in order; ``roll``: the branch's
    members on the roll, for ``per_members``."""
    out: dict[int, dict[str, float]] = {}
    for pidx in sorted(rows):
        row = rows[pidx]
        out[pidx] = {name: _num(row.get(name)) for name in plan.reported}
    months = list(out)
    for name, kind, arg in plan.derived:
        if kind == "sum":
            for pidx in months:
                values = out[pidx]
                total = 0.0
                for part in arg:
                    total = total + values.get(part, NAN)  # NaN if any part is missing
                values[name] = total
        elif kind == "points":
            for pidx in months:
                values = out[pidx]
                total = 0.0
                for part, weight in plan.points:
                    v = values.get(part, NAN)
                    total = total + (0.0 if v != v else v) * weight
                values[name] = total
        elif kind == "run":
            test, limit, source = _OPS[OP_ALIASES[arg["op"]]], float(arg["value"]), arg["indicator"]
            run, previous = 0, None
            for pidx in months:
                values = out[pidx]
                if previous is None or pidx != previous + 1:
                    run = 0  # a gap in the months starts afresh
                previous = pidx
                v = values.get(source, NAN)
                run = run + 1 if v == v and test(v, limit) else 0
                values[name] = NAN if v != v else float(run)
        elif kind == "per_members":
            for pidx in months:
                v = out[pidx].get(arg["indicator"], NAN)
                out[pidx][name] = v / roll * float(arg["per"]) if roll else NAN
        elif kind in ("day_of_month", "days_left_in_month"):
            for pidx in months:
                out[pidx][name] = float(month_days(pidx)) if kind == "day_of_month" else 0.0
        elif kind == "remaining_months":
            size = WINDOW_MONTHS[arg]
            for pidx in months:
                out[pidx][name] = float(size - 1 - pidx % size)
        elif kind == "window":
            _window(out, months, name, arg)
        else:  # year_to_date: running total within the calendar year
            total, year = 0.0, None
            for pidx in months:
                values = out[pidx]
                if pidx // 12 != year:
                    total, year = 0.0, pidx // 12
                v = values.get(arg, NAN)
                total = total + (0.0 if v != v else v)
                values[name] = total
    return out


def _window(out: dict[int, dict[str, float]], months: list[int], name: str, arg: Mapping) -> None:
    """The calendar window so far, aggregated, as ``derive.window_values`` computes it for many subjects:
    missing from the first gap of the window (a month without a row or a value) to its end."""
    size, source, agg = WINDOW_MONTHS[arg["period"]], arg["indicator"], arg["agg"]
    total, window, bad, previous = 0.0, None, False, None
    for pidx in months:
        v = out[pidx].get(source, NAN)
        if pidx // size != window:
            total, window, bad = 0.0, pidx // size, pidx % size != 0
        elif pidx != previous + 1:
            bad = True
        previous = pidx
        bad = bad or v != v
        clean = 0.0 if v != v else v
        if agg == "sum":
            total = total + clean
        elif agg == "count_nonzero":
            total = total + (1.0 if clean != 0 else 0.0)
        else:
            total = clean if pidx % size == 0 or pidx == months[0] else max(total, clean)
        out[pidx][name] = NAN if bad else total


class SubjectValues:
    """Values and references of one subject in one period, as ``Context`` computes them for many."""

    def __init__(self, subject: str, pidx: int, values: dict[int, dict[str, float]],
                 extra: Mapping[int, Mapping[str, float]], references: Mapping[tuple, float | dict[str, float]],
                 branch_type: str, size_band: str | None = None):
        self.subject = subject
        self.size_band = size_band
        self.pidx = pidx
        self.values = values
        self.extra = extra
        self.references = references
        self.branch_type = branch_type

    def value(self, indicator: str, pidx: int) -> float:
        row = self.values.get(pidx)
        if row is not None and indicator in row:
            return row[indicator]
        extra = self.extra.get(pidx)
        return NAN if extra is None else _num(extra.get(indicator))

    def _measure_at(self, indicator: str, change: str | None, pidx: int) -> float:
        now = self.value(indicator, pidx)
        if change is None:
            return now
        before = self.value(indicator, pidx - 1)
        if change == "delta":
            return now - before
        if before == 0 or before != before or now != now:
            return NAN
        return (now - before) / before * 100.0

    def measure(self, indicator: str, change: str | None, lag: int) -> float:
        return self._measure_at(indicator, change, self.pidx - lag)

    def reference(self, node: Compare, lag: int) -> float:
        ref = node.ref
        if ref.kind == "const":
            return float(ref.value)
        agg = self.references.get((self.subject, node.indicator, node.change, lag, ref))
        if agg is None:
            # Not supplied: the population is this subject alone (what the whole-month path does
            # with a one-subject dataset).
            pidx = self.pidx - lag
            own = self._measure_at(node.indicator, node.change, pidx) if pidx in self.values else NAN
            agg = aggregate(np.array([own] if own == own else [], dtype=float), ref)
            return agg
        if isinstance(agg, dict):
            return float(agg.get(self.size_band if ref.peers == "size" else self.branch_type, NAN))
        return float(agg)


def _num(v: object) -> float:
    if v is None:
        return NAN
    f = float(v)  # validated upstream
    return NAN if math.isnan(f) else f
