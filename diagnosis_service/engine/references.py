"""What a diagnosed period leaves for later: the references its rules compared with, and district means.

A period's references (district and peer aggregates) are computed once from the whole district; the
single-subject path (events) compares one subject with them later, so they are kept with the stored
diagnosis as JSON (``to_json``/``from_json``). The district means of every branch indicator and the
members' average points are what a branch report sets a branch's figures against; the command line
and the service take them from here, so a report shows the same numbers whichever face built it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from ..periods import parse_period
from ..rules.model import Ref
from .evaluator import Evaluator, aggregate, slots
from .findings import clean_number


@dataclass(frozen=True)
class PeriodReferences:
    """The aggregates a period's rules compare with: (subject, indicator, change, lag, ref) -> value,
    or a mapping branch type -> value for peer references."""

    period: str
    values: Mapping[tuple, float | dict[str, float]]

    def to_json(self) -> list[dict]:
        out = [{"subject": subject, "indicator": indicator, "change": change, "lag": lag, "ref": asdict(ref),
                "value": value} for (subject, indicator, change, lag, ref), value in self.values.items()]
        return sorted(out, key=lambda e: json.dumps(e, sort_keys=True))

    @classmethod
    def from_json(cls, period: str, items: list[dict]) -> PeriodReferences:
        return cls(period, {(e["subject"], e["indicator"], e["change"], e["lag"], Ref(**e["ref"])): e["value"]
                            for e in items})


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


def district_summary(evaluator: Evaluator, period: str) -> dict:
    """The period's references, the district mean of every branch indicator and the members' mean
    points, JSON-ready (numbers as ``clean_number`` writes them)."""
    pidx = parse_period(period)
    means: dict[str, float | int | None] = {}
    for ind in evaluator.ruleset.registry.indicators["branch"].values():
        column = evaluator.column("branch", ind.id, pidx)
        means[ind.id] = None if column is None else clean_number(aggregate(column.dropna().to_numpy(), Ref("mean")))
    members = evaluator.frame("member", pidx)
    points = (clean_number(float(members["vanguard_points"].mean()))
              if "vanguard_points" in members and len(members) else None)
    return {"references": period_references(evaluator, period).to_json(), "branch_means": means,
            "member_points_mean": points}


__all__ = ["PeriodReferences", "district_summary", "period_references"]
