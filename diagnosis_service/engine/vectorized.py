"""The vectorised engine: every rule over every subject of a period at once, with numpy.

Conditions use three-valued logic (true / false / unknown): a comparison with a missing value, a
missing reference or a month without data is unknown, ``not`` of unknown is unknown, and a rule
fires only when its condition is known to be true. The durable_rules engine follows the same
semantics, and a differential test holds the two to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..periods import parse_period
from ..rules.model import AllOf, Compare, Condition, Not, Rule
from .evaluator import Context, Evaluator

_CMP = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}


@dataclass
class Tri:
    """Kleene truth values for many subjects: ``true`` where known true, ``known`` where not unknown."""

    true: np.ndarray
    known: np.ndarray

    def __and__(self, other: Tri) -> Tri:
        false_a, false_b = self.known & ~self.true, other.known & ~other.true
        return Tri(self.true & other.true, (self.known & other.known) | false_a | false_b)

    def __or__(self, other: Tri) -> Tri:
        return Tri(self.true | other.true, (self.known & other.known) | self.true | other.true)

    def __invert__(self) -> Tri:
        return Tri(self.known & ~self.true, self.known.copy())


@dataclass
class Trace:
    """What one comparison saw at one lag, for --explain."""

    node: Compare
    lag: int
    value: np.ndarray
    reference: np.ndarray
    result: Tri


def evaluate(ctx: Context, node: Condition, lag: int = 0, traces: list[Trace] | None = None) -> Tri:
    result = _once(ctx, node, lag, traces)
    for extra in range(1, node.for_periods):
        result = result & _once(ctx, node, lag + extra, traces)
    return result


def _once(ctx: Context, node: Condition, lag: int, traces: list[Trace] | None) -> Tri:
    if isinstance(node, Compare):
        values = ctx.measure(node.indicator, node.change, lag)
        refs = ctx.reference(node, lag)
        known = ~np.isnan(values) & ~np.isnan(refs)
        with np.errstate(invalid="ignore"):
            true = _CMP[node.op](values, refs) & known
        tri = Tri(true, known)
        if traces is not None:
            traces.append(Trace(node, lag, values, refs, tri))
        return tri
    if isinstance(node, Not):
        return ~evaluate(ctx, node.item, lag, traces)
    parts = [evaluate(ctx, item, lag, traces) for item in node.items]
    result = parts[0]
    for part in parts[1:]:
        result = (result & part) if isinstance(node, AllOf) else (result | part)
    return result


class VectorizedMatcher:
    """Matches all rules over whole arrays of subjects."""

    name = "vectorized"

    def fired(self, rules: list[Rule], ctx: Context) -> dict[str, np.ndarray]:
        return {rule.id: evaluate(ctx, rule.when).true for rule in rules}


def explain(evaluator: Evaluator, subject: str, subject_id: str,
            period: str) -> list[tuple[Rule, bool | None, list[Trace], int]]:
    """For one subject: each rule, whether it fired (None: unknown), the comparisons it saw and its row."""
    pidx = parse_period(period)
    ctx = evaluator.context(subject, pidx)
    if subject_id not in ctx.ids:
        raise KeyError(subject_id)
    pos = ctx.ids.get_loc(subject_id)
    applicable = {r.id for r in evaluator.applicable(subject, pidx)}
    out = []
    for rule in evaluator.ruleset.for_subject(subject):
        traces: list[Trace] = []
        if rule.id not in applicable:
            out.append((rule, False, traces, pos))
            continue
        tri = evaluate(ctx, rule.when, 0, traces)
        out.append((rule, bool(tri.true[pos]) if tri.known[pos] else None, traces, pos))
    return out
