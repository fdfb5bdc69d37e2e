"""What both engines share: a period's values and references, derived columns, lamps and results.

An engine is a *matcher*: given the rules of a subject kind and a ``Context`` (the values and
references of every subject of one period), it says which rules fired for which subjects. Everything
before (derivations, aggregates, history) and after (findings, lamps, output) is done here, once, so
the vectorized and the durable_rules engines cannot disagree on anything but matching itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Protocol

import numpy as np
import pandas as pd

from ..data.model import Dataset
from ..periods import parse_period, period_month, period_str
from ..rules.model import Compare, Condition, Not, Ref, Rule, RuleSet
from .derive import derive_own
from .findings import Hit, SubjectResult, finalize


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

    def __init__(self, dataset: Dataset, ruleset: RuleSet, matcher: Matcher,
                 references: dict[tuple, float | dict[str, float]] | None = None,
                 columns: dict[tuple[str, int], pd.Series] | None = None,
                 references_at: dict[int, dict[tuple, float | dict[str, float]]] | None = None):
        """``references``, ``references_at`` and ``columns`` let a caller supply what a part of the
        district cannot know: the district aggregates (keyed ``(subject, indicator, change, lag, ref)``
        like ``Context.aggregate``; ``references`` for whatever period is evaluated, ``references_at``
        per month index) and member-based branch values."""
        self.dataset = dataset
        self.ruleset = ruleset
        self.matcher = matcher
        self.fixed_references = references or {}
        self.references_at = references_at or {}
        self.tables = {
            "branch": PeriodTable(derive_own(dataset.branch_metrics, "branch", ruleset,
                                             dataset.members.groupby("branch_id").size(),
                                             dataset.carried.get("branch", ())), "branch_id"),
            "member": PeriodTable(derive_own(dataset.member_metrics, "member", ruleset,
                                             carried=dataset.carried.get("member", ())), "member_id"),
        }
        self._member_results: dict[int, tuple[pd.Index, np.ndarray, list[SubjectResult] | None]] = {}
        self._branch_columns: dict[tuple[str, int], pd.Series] = dict(columns or {})

    @cached_property
    def types(self) -> dict[str, pd.Series]:
        """Branch type of each subject, for peer references."""
        branch_type = self.dataset.branches["type"]
        member_type = self.dataset.members["branch_id"].map(branch_type)
        return {"branch": branch_type, "member": member_type}

    @cached_property
    def size_bands(self) -> dict[str, pd.Series]:
        """Size band of each subject's branch (by its members on the roll), for size-band references."""
        registry = self.ruleset.registry
        roll = self.dataset.members.groupby("branch_id").size()
        index = self.dataset.branches.index
        band = pd.Series([registry.size_band(int(roll.get(b, 0))) for b in index], index=index, dtype=object)
        return {"branch": band, "member": self.dataset.members["branch_id"].map(band)}

    def fixed_reference(self, subject: str, pidx: int, key: tuple) -> float | dict[str, float] | None:
        """A district aggregate the caller supplied for ``(subject,) + key`` at ``pidx``; None if none."""
        at = self.references_at.get(pidx)
        if at is not None and (subject,) + key in at:
            return at[(subject,) + key]
        return self.fixed_references.get((subject,) + key)

    def peer_groups(self, subject: str, peers: str) -> pd.Series:
        """The group of each subject for a peer reference: its branch type, or its branch's size band."""
        return (self.size_bands if peers == "size" else self.types)[subject]

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
            cached = self.evaluate_subjects("member", pidx, build=build)
            self._member_results[pidx] = cached
        return cached

    # ---------------------------------------------------------------- evaluation

    def run(self, period: str, members: bool = True) -> tuple[list[SubjectResult], list[SubjectResult]]:
        """Branch results (sorted by id) and member results (sorted by id) for one period; ``members``
        false: no member results (their lamps are still found, as branch rules may count them)."""
        pidx = parse_period(period)
        complete = self.dataset.complete_from
        if complete is not None and pidx < complete:
            # A bug, not bad input: that month was read with only what later months look back at.
            raise ValueError(f"{period} was read in part (the months before {period_str(complete)} hold only "
                             "what the rules look back at): load the data without lookback to diagnose it")
        _, _, member_results = self.members_at(pidx, build=members)
        _, _, branches = self.evaluate_subjects("branch", pidx, build=True)
        return branches or [], (member_results or []) if members else []

    def kept_findings(self, subject: str, pidx: int) -> tuple[pd.Index, dict[str, np.ndarray]]:
        """The subjects' ids, and for each rule that fired for some: which of them keep its finding (it
        fired and no rule superseding it fired), as ``finalize`` keeps them, a column a rule."""
        ctx = self.context(subject, pidx)
        rules = self.applicable(subject, pidx)
        fired = self.matcher.fired(rules, ctx)
        return ctx.ids, {rule.id: column for rule, column in _kept(fired, rules) if fired[rule.id].any()}

    def subject_ids(self, subject: str, pidx: int) -> pd.Index:
        """Ids with data in the period, sorted (period tables usually are already: no re-sort then)."""
        index = self.frame(subject, pidx).index
        return index if index.is_monotonic_increasing else pd.Index(sorted(index.tolist()))

    def context(self, subject: str, pidx: int) -> Context:
        return Context(self, subject, pidx, self.subject_ids(subject, pidx))

    def applicable(self, subject: str, pidx: int) -> list[Rule]:
        """The subject's rules that apply in this calendar month."""
        month = period_month(pidx)
        return [r for r in self.ruleset.for_subject(subject) if not r.months or month in r.months]

    def evaluate_subjects(self, subject: str, pidx: int,
                          build: bool) -> tuple[pd.Index, np.ndarray, list[SubjectResult] | None]:
        """Every subject of one kind in one period: (ids, lamps, results or None when not ``build``)."""
        ctx = self.context(subject, pidx)
        ids = ctx.ids
        # The hits only make result objects: lamps alone (a branch rule counting red members) need none.
        hits: list[list[Hit]] = [[] for _ in range(len(ids))] if build else []
        lamps = np.full(len(ids), "green", dtype=object)
        rules = self.applicable(subject, pidx)
        fired_by_rule = self.matcher.fired(rules, ctx)
        for rule in rules if build else ():
            fired = fired_by_rule[rule.id]
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
        for rule, fired in _kept(fired_by_rule, [r for r in self.ruleset.for_subject(subject) if r.lamp]):
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

class Matcher(Protocol):
    """An engine: which of ``rules`` fired for each subject of ``ctx`` (rule id -> boolean array)."""

    def fired(self, rules: list[Rule], ctx: Context) -> dict[str, np.ndarray]: ...


class Context:
    """Values and references of one subject kind for one period, cached per (indicator, lag)."""

    def __init__(self, ev: Evaluator, subject: str, pidx: int, ids: pd.Index):
        self.ev = ev
        self.subject = subject
        self.pidx = pidx
        self.ids = ids
        self._values: dict[tuple, np.ndarray] = {}
        self._refs: dict[tuple, np.ndarray] = {}

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
            agg = self.aggregate(node, lag)
            if isinstance(agg, dict):
                own = self.ev.peer_groups(self.subject, ref.peers).reindex(self.ids).to_numpy()
                self._refs[key] = np.array([agg.get(t, np.nan) for t in own], dtype=float)
            else:
                self._refs[key] = np.full(len(self.ids), agg, dtype=float)
        return self._refs[key]

    def aggregate(self, node: Compare, lag: int) -> float | dict[str, float]:
        """The district aggregate a reference stands for, or, for peers, one per branch type or size band."""
        key = (node.indicator, node.change, lag, node.ref)
        fixed = self.ev.fixed_reference(self.subject, self.pidx, key)
        if fixed is not None:
            return fixed
        values, groups = self.reference_input(node, lag)
        return reduce_reference(values, groups, node.ref)

    def reference_input(self, node: Compare, lag: int) -> tuple[pd.Series, pd.Series | None]:
        """What a reference aggregates: the population's values (indexed by id, sorted) and, for peers,
        each one's group. Partitions of a district give theirs, and ``reduce_reference`` over them all
        (in id order) is the district's aggregate, to the last bit."""
        pidx = self.pidx - lag
        population = self.ev.subject_ids(self.subject, pidx)
        values = pd.Series(self._measure_for(node.indicator, node.change, pidx, population), index=population)
        if node.ref.peers == "district":
            return values, None
        groups = self.ev.peer_groups(self.subject, node.ref.peers).reindex(population)
        return values, groups


def reduce_reference(values: pd.Series, groups: pd.Series | None, ref: Ref) -> float | dict[str, float]:
    """A reference's aggregate over ``values`` (ids in order; missing values left out): one number, or
    with ``groups`` (aligned to ``values``), one per peer group."""
    values = values.dropna()
    if groups is None:
        return aggregate(values.to_numpy(), ref)
    return {t: aggregate(group.to_numpy(), ref)
            for t, group in values.groupby(groups.reindex(values.index).to_numpy())}


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


def _kept(fired: dict[str, np.ndarray], rules: list[Rule]) -> Iterator[tuple[Rule, np.ndarray]]:
    """Each of ``rules`` that was evaluated, with the subjects that keep its finding: it fired and no rule
    superseding it fired (what ``finalize`` keeps, and what lights a lamp)."""
    for rule in rules:
        if rule.id not in fired:
            continue
        column = fired[rule.id].copy()
        for other in rule.superseded_by:
            if other in fired:
                column &= ~fired[other]
        yield rule, column


def _f(x: float) -> float | None:
    return None if x is None or x != x else float(x)


def _floats(frame: pd.DataFrame, column: str, ids: pd.Index) -> list[float | None]:
    """A column as Python floats aligned to ids, None where missing (lists are much faster to walk)."""
    if column not in frame.columns:
        return [None] * len(ids)
    return [None if v != v else v for v in frame[column].reindex(ids).tolist()]


def slots(cond: Condition, lag: int = 0) -> list[tuple[Compare, int]]:
    """Every (comparison, lag) a condition looks at, in reading order."""
    out: list[tuple[Compare, int]] = []
    for extra in range(cond.for_periods):
        if isinstance(cond, Compare):
            out.append((cond, lag + extra))
        elif isinstance(cond, Not):
            out += slots(cond.item, lag + extra)
        else:
            for item in cond.items:
                out += slots(item, lag + extra)
    return out


__all__ = ["Context", "Evaluator", "Matcher", "aggregate", "reduce_reference", "slots"]
