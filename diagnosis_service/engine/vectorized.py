"""The vectorised engine: every rule over every subject of a period at once, with pandas and numpy.

Conditions use three-valued logic (true / false / unknown): a comparison with a missing value, a
missing reference or a month without data is unknown, ``not`` of unknown is unknown, and a rule
fires only when its condition is known to be true. The durable_rules back end follows the same
semantics, so the two always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..data.model import KEYS, Dataset, parse_period, period_month, period_str
from ..rules.model import AllOf, Compare, Condition, Not, Ref, Rule, RuleSet
from .derive import derive_own
from .findings import Hit, SubjectResult, finalize

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


class PeriodTable:
    """A subject's metric rows, looked up by period."""

    def __init__(self, frame: pd.DataFrame, key: str):
        self.frame = frame
        self.key = key
        self._pidx = frame["pidx"].to_numpy()
        self._cache: dict[int, pd.DataFrame] = {}

    def at(self, pidx: int) -> pd.DataFrame:
        if pidx not in self._cache:
            lo, hi = np.searchsorted(self._pidx, [pidx, pidx + 1])
            self._cache[pidx] = self.frame.iloc[lo:hi].set_index(self.key)
        return self._cache[pidx]


class Evaluator:
    """Evaluates a rule set on a dataset. Derived columns are computed once and reused per period."""

    def __init__(self, dataset: Dataset, ruleset: RuleSet):
        self.dataset = dataset
        self.ruleset = ruleset
        self.tables = {
            "branch": PeriodTable(derive_own(dataset.branch_metrics, "branch", ruleset), "branch_id"),
            "member": PeriodTable(derive_own(dataset.member_metrics, "member", ruleset), "member_id"),
        }
        self._member_results: dict[int, tuple[pd.Index, np.ndarray, list[SubjectResult] | None]] = {}
        self._branch_columns: dict[tuple[str, int], pd.Series] = {}

    @cached_property
    def types(self) -> dict[str, pd.Series]:
        """Branch type of each subject, for peer references."""
        branch_type = self.dataset.branches["type"]
        member_type = self.dataset.members["branch_id"].map(branch_type)
        return {"branch": branch_type, "member": member_type}

    # ---------------------------------------------------------------- tables with member-based columns

    def frame(self, subject: str, pidx: int) -> pd.DataFrame:
        """The subject's rows of one period, indexed by id, with the derived columns of its own rows."""
        return self.tables[subject].at(pidx)

    def column(self, subject: str, indicator: str, pidx: int) -> pd.Series | None:
        """One indicator of one period, indexed by id; None for an unknown indicator.

        Indicators derived from a branch's members (red_member_share, avg_vanguard_points) need the
        members evaluated in that period, so they are computed only when a rule or report asks.
        """
        frame = self.frame(subject, pidx)
        if indicator in frame.columns:
            return frame[indicator]
        ind = self.ruleset.registry.get(subject, indicator)
        if subject != "branch" or ind is None or ind.derived is None:
            return None
        kind, arg = next(iter(ind.derived.items()))
        if kind not in ("member_share", "member_mean"):
            return None
        key = (indicator, pidx)
        if key not in self._branch_columns:
            ids, lamps, _ = self.members_at(pidx, build=False)
            branch_of = self.dataset.members["branch_id"].reindex(ids).to_numpy()
            if kind == "member_share":
                values = pd.Series((lamps == arg["lamp"]).astype(float) * 100.0)
            else:
                values = pd.Series(self.frame("member", pidx)[arg].reindex(ids).to_numpy())
            per_branch = values.groupby(branch_of).mean() if len(ids) else pd.Series(dtype=float)
            self._branch_columns[key] = per_branch.reindex(frame.index)
        return self._branch_columns[key]

    def members_at(self, pidx: int, build: bool = True) -> tuple[pd.Index, np.ndarray, list[SubjectResult] | None]:
        cached = self._member_results.get(pidx)
        if cached is None or (build and cached[2] is None):
            cached = self._evaluate("member", pidx, build=build)
            self._member_results[pidx] = cached
        return cached

    # ---------------------------------------------------------------- evaluation

    def run(self, period: str) -> tuple[list[SubjectResult], list[SubjectResult]]:
        """Branch results (sorted by id) and member results (sorted by id) for one period."""
        pidx = parse_period(period)
        _, _, members = self.members_at(pidx)
        _, _, branches = self._evaluate("branch", pidx, build=True)
        return branches or [], members or []

    def subject_ids(self, subject: str, pidx: int) -> pd.Index:
        return pd.Index(sorted(self.frame(subject, pidx).index.tolist()))

    def _evaluate(self, subject: str, pidx: int, build: bool,
                  traces: list[Trace] | None = None) -> tuple[pd.Index, np.ndarray, list[SubjectResult] | None]:
        ids = self.subject_ids(subject, pidx)
        ctx = _Context(self, subject, pidx, ids, traces)
        month = period_month(pidx)
        hits: list[list[Hit]] = [[] for _ in range(len(ids))]
        lamps = np.full(len(ids), "green", dtype=object)
        fired_by_rule: dict[str, np.ndarray] = {}
        for rule in self.ruleset.for_subject(subject):
            if rule.months and month not in rule.months:
                continue
            fired = ctx.eval(rule.when, 0).true
            fired_by_rule[rule.id] = fired
            if not fired.any():
                continue
            primary = rule.primary
            values = ctx.measure(primary.indicator, primary.change, 0)
            refs = ctx.reference(primary, 0)
            periods = _span(rule.when, primary)
            fired_pos = np.flatnonzero(fired)
            for pos, value, ref in zip(fired_pos.tolist(), values[fired_pos].tolist(), refs[fired_pos].tolist(),
                                       strict=True):
                hits[pos].append(Hit(rule, _f(value), _f(ref), periods))
        # Lamps are needed (for red_member_share) even when no result objects are built.
        for rule in self.ruleset.for_subject(subject):
            if rule.id not in fired_by_rule or not rule.lamp:
                continue
            fired = fired_by_rule[rule.id].copy()
            for other in rule.superseded_by:
                if other in fired_by_rule:
                    fired &= ~fired_by_rule[other]
            if rule.severity == "red":
                lamps[fired] = "red"
            else:
                lamps[fired & (lamps == "green")] = "yellow"
        if not build:
            return ids, lamps, None
        return ids, lamps, self._results(subject, pidx, ids, hits)

    def _results(self, subject: str, pidx: int, ids: pd.Index, hits: list[list[Hit]]) -> list[SubjectResult]:
        period = period_str(pidx)
        frame = self.frame(subject, pidx)
        id_list = ids.tolist()
        if subject == "member":
            branch_of = self.dataset.members["branch_id"].reindex(ids).tolist()
            points = _floats(frame, "vanguard_points", ids)
            ytd = _floats(frame, "vanguard_points_ytd", ids)
            results = []
            for pos, subject_id in enumerate(id_list):
                # Most members have no findings: skip the call (it adds up over a district).
                lamp, findings, _ = (finalize(self.ruleset, subject, subject_id, period, hits[pos]) if hits[pos]
                                     else ("green", [], []))
                results.append(SubjectResult("member", subject_id, period, lamp, findings,
                                             branch_id=branch_of[pos], vanguard_points=points[pos],
                                             vanguard_points_ytd=ytd[pos]))
            return results
        types = self.types["branch"].reindex(ids).tolist()
        results = []
        for pos, subject_id in enumerate(id_list):
            lamp, findings, weaknesses = finalize(self.ruleset, subject, subject_id, period, hits[pos])
            results.append(SubjectResult("branch", subject_id, period, lamp, findings,
                                         branch_type=types[pos], weaknesses=weaknesses))
        return results

    def explain(self, subject: str, subject_id: str, period: str) -> list[tuple[Rule, bool | None, list[Trace], int]]:
        """For one subject: each rule, whether it fired (None: unknown), the comparisons it saw and the row."""
        pidx = parse_period(period)
        ids = self.subject_ids(subject, pidx)
        if subject_id not in ids:
            raise KeyError(subject_id)
        pos = ids.get_loc(subject_id)
        out = []
        for rule in self.ruleset.for_subject(subject):
            traces: list[Trace] = []
            if rule.months and period_month(pidx) not in rule.months:
                out.append((rule, False, traces, pos))
                continue
            ctx = _Context(self, subject, pidx, ids, traces)
            tri = ctx.eval(rule.when, 0)
            state = bool(tri.true[pos]) if tri.known[pos] else None
            out.append((rule, state, traces, pos))
        return out


class _Context:
    """Values and references of one subject kind for one period, cached per (indicator, lag)."""

    def __init__(self, ev: Evaluator, subject: str, pidx: int, ids: pd.Index, traces: list[Trace] | None):
        self.ev = ev
        self.subject = subject
        self.pidx = pidx
        self.ids = ids
        self.traces = traces
        self._values: dict[tuple, np.ndarray] = {}
        self._refs: dict[tuple, np.ndarray] = {}

    def eval(self, node: Condition, lag: int) -> Tri:
        result = self._eval_once(node, lag)
        for extra in range(1, node.for_periods):
            result = result & self._eval_once(node, lag + extra)
        return result

    def _eval_once(self, node: Condition, lag: int) -> Tri:
        if isinstance(node, Compare):
            values = self.measure(node.indicator, node.change, lag)
            refs = self.reference(node, lag)
            known = ~np.isnan(values) & ~np.isnan(refs)
            with np.errstate(invalid="ignore"):
                true = _CMP[node.op](values, refs) & known
            tri = Tri(true, known)
            if self.traces is not None:
                self.traces.append(Trace(node, lag, values, refs, tri))
            return tri
        if isinstance(node, Not):
            return ~self.eval(node.item, lag)
        parts = [self.eval(item, lag) for item in node.items]
        result = parts[0]
        for part in parts[1:]:
            result = (result & part) if isinstance(node, AllOf) else (result | part)
        return result

    def _column(self, indicator: str, pidx: int, ids: pd.Index) -> np.ndarray:
        column = self.ev.column(self.subject, indicator, pidx)
        if column is None:
            return np.full(len(ids), np.nan)
        return column.reindex(ids).to_numpy(dtype=float)

    def _measure_for(self, indicator: str, change: str | None, pidx: int, ids: pd.Index) -> np.ndarray:
        now = self._column(indicator, pidx, ids)
        if change is None:
            return now
        before = self._column(indicator, pidx - 1, ids)
        with np.errstate(invalid="ignore", divide="ignore"):
            if change == "delta":
                return now - before
            return np.where(before == 0, np.nan, (now - before) / before * 100.0)

    def measure(self, indicator: str, change: str | None, lag: int) -> np.ndarray:
        key = (indicator, change, lag)
        if key not in self._values:
            self._values[key] = self._measure_for(indicator, change, self.pidx - lag, self.ids)
        return self._values[key]

    def reference(self, node: Compare, lag: int) -> np.ndarray:
        ref = node.ref
        if ref.kind == "const":
            return np.full(len(self.ids), ref.value, dtype=float)
        key = (node.indicator, node.change, lag, ref)
        if key not in self._refs:
            self._refs[key] = self._aggregate(node.indicator, node.change, lag, ref)
        return self._refs[key]

    def _aggregate(self, indicator: str, change: str | None, lag: int, ref: Ref) -> np.ndarray:
        pidx = self.pidx - lag
        population = pd.Index(sorted(self.ev.frame(self.subject, pidx).index))
        values = pd.Series(self._measure_for(indicator, change, pidx, population), index=population)
        values = values.dropna()
        if ref.peers == "district":
            agg = aggregate(values.to_numpy(), ref)
            return np.full(len(self.ids), agg, dtype=float)
        types = self.ev.types[self.subject]
        by_type = {t: aggregate(group.to_numpy(), ref)
                   for t, group in values.groupby(types.reindex(values.index).to_numpy())}
        own = types.reindex(self.ids).to_numpy()
        return np.array([by_type.get(t, np.nan) for t in own], dtype=float)


def aggregate(values: np.ndarray, ref: Ref) -> float:
    """The aggregate a reference stands for, over the non-missing values of a population."""
    if len(values) == 0:
        return float("nan")
    base = float(np.mean(values)) if ref.kind == "mean" else float(np.quantile(values, ref.q))
    return base * ref.scale


def _span(cond: Condition, target: Compare) -> int:
    """Months a finding spans: the for_periods along the path to its comparison."""

    def walk(node: Condition) -> int | None:
        if node is target:
            return node.for_periods
        children = [node.item] if isinstance(node, Not) else list(getattr(node, "items", ()))
        for child in children:
            found = walk(child)
            if found is not None:
                return found + node.for_periods - 1
        return None

    return walk(cond) or 1


def _f(x: float) -> float | None:
    return None if x is None or x != x else float(x)


def _floats(frame: pd.DataFrame, column: str, ids: pd.Index) -> list[float | None]:
    """A column as Python floats aligned to ids, None where missing (lists are much faster to walk)."""
    if column not in frame.columns:
        return [None] * len(ids)
    return [None if v != v else v for v in frame[column].reindex(ids).tolist()]


def evaluate_period(dataset: Dataset, ruleset: RuleSet, period: str) -> tuple[list[SubjectResult], list[SubjectResult]]:
    """Diagnose one period: (branch results, member results), each sorted by id."""
    return Evaluator(dataset, ruleset).run(period)


__all__ = ["KEYS", "Evaluator", "Tri", "aggregate", "evaluate_period"]
