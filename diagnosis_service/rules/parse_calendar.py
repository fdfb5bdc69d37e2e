"""Calendar conditions of the rule language: ``{indicator, window: quarter|year, agg}`` and
``{remaining_months: quarter|year, op, value}``. Each implies a derived indicator (a declared one with the
same derivation is reused), added to the rule set's registry so that every engine derives it.

A mixin of the rule parser (``parse._RuleParser``): it uses the parser's ``registry``, ``implied`` and
``err``.
"""

from __future__ import annotations

from ..errors import did_you_mean
from .model import OP_ALIASES, OPS, Compare, Indicator, Ref
from .parse_common import is_number, unknown_keys
from .registry import WINDOW_AGGS, WINDOWS, member_based

LEFT_KEYS = ("remaining_months", "op", "value", "for_periods")
WINDOW_WORDS = {"quarter": ("本季度", "this quarter so far", "本季度剩余月数", "months left in the quarter"),
                "year": ("本年度", "this year so far", "本年度剩余月数", "months left in the year")}


class CalendarConditions:
    def _derived(self, subject: str, name: str) -> dict | None:
        ind = self.registry.get(subject, name) or self.implied[subject].get(name)
        return ind.derived if ind is not None else None

    def _derived_kind(self, subject: str, name: str) -> str | None:
        derived = self._derived(subject, name)
        return next(iter(derived)) if derived else None

    def _window_of(self, subject: str, name: str) -> str | None:
        derived = self._derived(subject, name)
        return derived["window"]["indicator"] if derived and "window" in derived else None

    def _imply(self, path: tuple, subject: str, ind: Indicator, rule_id: str | None) -> str | None:
        declared = next((i.id for i in self.registry.indicators[subject].values() if i.derived == ind.derived), None)
        if declared is not None:
            return declared  # e.g. party_lectures_this_quarter: its name reads better in messages
        have = self.registry.get(subject, ind.id) or self.implied[subject].get(ind.id)
        if have is not None and have.derived != ind.derived:
            self.err(path, f"the condition implies indicator '{ind.id}', which indicators.yaml defines otherwise",
                     rule_id, suggestion=f"use indicator: {ind.id}, or rename that indicator")
            return None
        if have is None:
            self.implied[subject][ind.id] = ind
        return ind.id

    def window_indicator(self, path: tuple, node: dict, subject: str, name: str, rule_id: str | None) -> str | None:
        """{indicator, window: quarter|year, agg: sum|max|count_nonzero}: the window so far, as an implied
        derived indicator ``<indicator>_<window>_<agg>``."""
        window, agg = node.get("window"), node.get("agg", "sum")
        bad = False
        for key, value, allowed in (("window", window, WINDOWS), ("agg", agg, WINDOW_AGGS)):
            if value not in allowed:
                self.err(path + (key,), f"{key} must be one of {', '.join(allowed)}, got {value!r}", rule_id,
                         suggestion=did_you_mean(str(value), allowed))
                bad = True
        if bad:
            return None
        base = self.registry.get(subject, name)
        if member_based(base):
            self.err(path + ("window",), f"'{name}' is computed from the members' results: it has no window",
                     rule_id, suggestion="compare with it directly")
            return None
        zh, en = WINDOW_WORDS[window][:2]
        what = {"sum": ("合计", "total"), "max": ("最大值", "highest"), "count_nonzero": ("有记录月数", "months with any")}[agg]
        ind = Indicator(f"{name}_{window}_{agg}", subject, f"{zh}{base.name_zh}{what[0]}", f"{base.name_en}, {en} "
                        f"({what[1]})", base.unit, base.min, None, base.integer,
                        {"window": {"indicator": name, "period": window, "agg": agg}})
        return self._imply(path, subject, ind, rule_id)

    def parse_left(self, path: tuple, node: dict, subject: str, rule_id: str | None, for_periods: int,
                   node_id: int) -> Compare | None:
        """{remaining_months: quarter|year, op, value}: the months of the window after this one."""
        unknown_keys(self.doc, path, node, LEFT_KEYS, self.problems, "a remaining_months comparison", rule_id)
        window = node.get("remaining_months")
        if window not in WINDOWS:
            self.err(path + ("remaining_months",), f"remaining_months must be one of {', '.join(WINDOWS)}, got "
                     f"{window!r}", rule_id, suggestion=did_you_mean(str(window), WINDOWS))
            return None
        op = OP_ALIASES.get(node.get("op")) if isinstance(node.get("op"), str) else None
        if op is None:
            self.err(path + ("op",), f"unknown operator {node.get('op')!r}", rule_id,
                     suggestion="one of " + ", ".join(f"{k} ({v})" for k, v in OPS.items()))
            return None
        if "value" not in node or not is_number(node["value"]):
            self.err(path + ("value",), f"remaining_months compares with a number (value), got {node.get('value')!r}",
                     rule_id)
            return None
        _, _, zh, en = WINDOW_WORDS[window]
        ind = Indicator(f"months_left_in_{window}", subject, zh, en, "count", 0, 11, True,
                        {"remaining_months": window})
        name = self._imply(path, subject, ind, rule_id)
        if name is None:
            return None
        return Compare(name, op, Ref("const", value=float(node["value"])), None, for_periods, path, node_id)


__all__ = ["LEFT_KEYS", "WINDOW_WORDS", "CalendarConditions"]
