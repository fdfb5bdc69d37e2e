"""One subject at a time through durable_rules: the event path ("a member just paid dues").

The caller gives the subject's own rows (this month and the months its rules look back on) and the
period's references (district and peer aggregates, computed once per period from the whole
district with ``period_references``). The answer is the same ``SubjectResult`` the whole-period
diagnosis gives for that subject: the differential tests hold the two paths to it.

``SubjectEngine`` is safe to share between the threads of a WSGI server (durable_rules calls are
serialised by one lock in ``durable``) and can switch to a new rule set without a restart:
``replace`` compiles and registers the new version under new names first, then swaps one reference.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.csvdir import validate_metrics
from ..data.model import KEYS, Dataset, parse_period
from ..data.validate import Problems
from ..errors import InputError, Problem
from ..rules.model import RuleSet
from .durable import DurableMatcher, DurableRules
from .evaluator import Evaluator, slots
from .findings import SubjectResult


@dataclass(frozen=True)
class PeriodReferences:
    """The aggregates a period's rules compare with: (subject, indicator, change, lag, ref) -> value,
    or a mapping branch type -> value for peer references."""

    period: str
    values: Mapping[tuple, float | dict[str, float]]


def period_references(evaluator: Evaluator, period: str) -> PeriodReferences:
    """Compute every aggregate the rule set needs for ``period`` from a whole-district evaluator."""
    pidx = parse_period(period)
    values: dict[tuple, float | dict[str, float]] = {}
    for subject in ("member", "branch"):
        ctx = evaluator.context(subject, pidx)
        for rule in evaluator.ruleset.for_subject(subject):
            for node, lag in slots(rule.when):
                if node.ref.kind != "const":
                    values[(subject, node.indicator, node.change, lag, node.ref)] = ctx.aggregate(node, lag)
    return PeriodReferences(period, values)


class SubjectEngine:
    def __init__(self, ruleset: RuleSet):
        self._state = (ruleset, DurableRules(ruleset), _templates(ruleset))
        self._swap = threading.Lock()

    @property
    def ruleset(self) -> RuleSet:
        return self._state[0]

    def replace(self, ruleset: RuleSet) -> None:
        """Serve a new rule set from now on; calls already running finish with the old one."""
        compiled = DurableRules(ruleset)  # slow part first, outside the lock
        templates = _templates(ruleset)
        with self._swap:
            self._state = (ruleset, compiled, templates)

    def evaluate(self, subject: str, subject_id: str, period: str, history: pd.DataFrame | list[dict],
                 references: PeriodReferences, *, branch_type: str | None = None, branch_id: str | None = None,
                 member_values: Mapping[str, Mapping[str, float]] | None = None,
                 validate: bool = True) -> SubjectResult:
        """Lamp, findings (and for a member, points) of one subject in ``period``.

        ``history``: the subject's rows (``period`` plus indicator columns), including ``period``
        itself and the months before it that runs, changes and year-to-date points need.
        ``member_values``: for a branch, values derived from its members by period, e.g.
        ``{"2025-06": {"red_member_share": 12.5}}``.
        """
        ruleset, compiled, empty = self._state  # one read: consistent even during a replace
        if subject not in KEYS:
            raise InputError(Problem(f"subject must be branch or member, got {subject!r}", column="subject"))
        pidx = parse_period(period)
        frame = self._frame(subject, subject_id, history, ruleset, validate)
        if pidx not in set(frame["pidx"].tolist()):
            raise InputError(Problem(f"history has no row for period {period}", column="period"))
        btype = branch_type or "other"
        if subject == "member":
            bid = branch_id or "?"
            branches = pd.DataFrame([(bid, bid, btype, "")], columns=["branch_id", "name", "type", "street"])
            members = pd.DataFrame([(subject_id, bid, subject_id)], columns=["member_id", "branch_id", "name"])
            dataset = Dataset(branches.set_index("branch_id"), members.set_index("member_id"), empty["branch"], frame)
        else:
            branches = pd.DataFrame([(subject_id, subject_id, btype, "")],
                                    columns=["branch_id", "name", "type", "street"])
            members = pd.DataFrame(columns=["member_id", "branch_id", "name"])
            dataset = Dataset(branches.set_index("branch_id"), members.set_index("member_id"), frame,
                              empty["member"])
        columns = {}
        for p, vals in (member_values or {}).items():
            for indicator, value in vals.items():
                columns[(indicator, parse_period(p))] = pd.Series([value], index=[subject_id], dtype=float)
        evaluator = Evaluator(dataset, ruleset, DurableMatcher(ruleset, compiled),
                              references={k: v for k, v in references.values.items()}, columns=columns)
        _, _, results = evaluator.evaluate_subjects(subject, pidx, build=True)
        return results[0]

    @staticmethod
    def _frame(subject: str, subject_id: str, history, ruleset: RuleSet, validate: bool) -> pd.DataFrame:
        key = KEYS[subject]
        reported = [i.id for i in ruleset.registry.reported(subject)]
        if not validate and isinstance(history, list):
            return _fast_frame(history, key, subject_id, reported)
        rows = pd.DataFrame(history)
        if "period" not in rows:
            raise InputError(Problem("history rows need a 'period'", column="period"))
        rows = rows.assign(**{key: subject_id})
        for name in reported:
            if name not in rows:
                rows[name] = np.nan
        if validate:
            problems = Problems()
            frame = validate_metrics(rows[["period", key] + [c for c in rows.columns if c not in ("period", key)]],
                                     subject, ruleset.registry, "history", lambda pos: ("history", pos + 1),
                                     problems, None)
            if problems or frame is None:
                raise InputError(problems.final() or [Problem("bad history", file="history")])
            return frame
        return _fast_frame(rows.to_dict("records"), key, subject_id, reported)


def _fast_frame(records: list[dict], key: str, subject_id: str, reported: list[str]) -> pd.DataFrame:
    """Already-validated rows as a metrics table, built straight from numpy (pandas' column-by-column
    construction would cost more than the evaluation itself)."""
    nan = float("nan")
    matrix = np.array([[nan if (v := row.get(name)) is None else float(v) for name in reported] for row in records],
                      dtype=float).reshape(len(records), len(reported))
    frame = pd.DataFrame(matrix, columns=reported, copy=False)
    periods = [str(row["period"]) for row in records]
    frame.insert(0, key, np.array([subject_id] * len(records), dtype=object))
    frame.insert(0, "period", np.array(periods, dtype=object))
    frame.insert(0, "pidx", np.array([parse_period(p) for p in periods], dtype=np.int64))
    return frame.sort_values("pidx").reset_index(drop=True)


def _templates(ruleset: RuleSet) -> dict[str, pd.DataFrame]:
    """Empty metric tables, built once per rule set (building them costs more than an evaluation)."""
    return {s: _empty_metrics(ruleset, s) for s in ("branch", "member")}


def _empty_metrics(ruleset: RuleSet, subject: str) -> pd.DataFrame:
    columns = ["pidx", "period", KEYS[subject]] + [i.id for i in ruleset.registry.reported(subject)]
    frame = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    frame["pidx"] = frame["pidx"].astype(np.int64)
    frame["period"] = frame["period"].astype(object)
    frame[KEYS[subject]] = frame[KEYS[subject]].astype(object)
    return frame
