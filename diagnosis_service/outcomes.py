"""What happened after a prescription: the outcome the effectiveness model learns from.

For each served list (one weakness of one branch in period P; its first item is the recommendation
acted on) the weakness's indicator (the rule's primary indicator) is followed for up to ``horizon``
months after P (docs/effectiveness.md):

    own_change     = mean(value at P+1 .. P+h) - mean(value at P-2 .. P)   (the months with data)
    control_change = mean own_change of comparable branches: same period, same weakness (the same rule,
                     so the same indicator), same branch type, whose secretary did not adopt
                     (declined or ignored); the same period and rule across types when that is empty
    improvement    = direction x (own_change - control_change) / max(|reference - value at P|, floor)

``direction`` is +1 when higher is better for the rule (a "below the norm" rule: lt, le, eq) and -1
otherwise (gt, ge). Comparing with non-adopters removes what happens anyway (a branch far below the
district average tends to move back toward it); dividing by the gap to the norm puts indicators of
different units on one scale: 0.3 means "closed 30% of the gap" (for a rule that compares with 0,
such as "none held", the gap counts as 1; for rates and scores the floor is 5 points). The baseline is the mean of three months, not the month of
the diagnosis alone: month-to-month noise is as large as many remedies' effects, and a single-month
baseline doubles its weight in the outcome. Adopted, declined and ignored stay apart in
``status``; the model learns effects from adopted lists and adoption rates from all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .rules.model import RuleSet

ADOPTED = ("adopted", "completed")
STATUSES = ("adopted", "completed", "declined", "ignored")
LOG_COLUMNS = ("branch_id", "period", "pidx", "topic", "rule", "indicator", "resource_id", "kind", "propensity",
               "status", "branch_type", "street", "members", "value", "reference")


def _mean(stacked: np.ndarray) -> np.ndarray:
    """Column means over the non-missing values; NaN where a column has none."""
    counts = (~np.isnan(stacked)).sum(axis=0)
    return np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)


GAP_FLOOR = {"percent": 5.0, "score": 5.0}  # other units: 1


def gap_scale(unit: str | None, reference: float | None, value: float | None) -> float:
    """The gap to the norm an outcome is measured in, never below the unit's floor: a rate a point
    below 100% moves by several points a month on its own, and dividing that noise by one point would
    let it swamp every effect."""
    gap = abs((reference or 0.0) - (value or 0.0))
    return max(gap, GAP_FLOOR.get(unit or "", 1.0))


def direction(ruleset: RuleSet, rule_id: str) -> float:
    rule = ruleset.rule(rule_id)
    if rule is None:
        return 1.0
    return -1.0 if rule.primary.op in ("gt", "ge") else 1.0


def compute(log: pd.DataFrame, branch_metrics: pd.DataFrame, ruleset: RuleSet, horizon: int = 3) -> pd.DataFrame:
    """``log``: one row per served list (LOG_COLUMNS). ``branch_metrics``: pidx, branch_id and indicator
    columns (derived ones included where rules use them). Returns the log with own_change,
    control_change, improvement (NaN when no later month has data) and adopted."""
    out = log.copy()
    if out.empty:
        for col in ("own_change", "control_change", "improvement"):
            out[col] = pd.Series(dtype=float)
        out["adopted"] = pd.Series(dtype=bool)
        return out
    values = branch_metrics.set_index(["branch_id", "pidx"])
    own = np.full(len(out), np.nan)
    for indicator, rows in out.groupby("indicator").groups.items():
        if indicator not in values.columns:
            continue
        series = values[indicator]
        sub = out.loc[rows]
        later = []
        for h in range(1, horizon + 1):
            keys = pd.MultiIndex.from_arrays([sub["branch_id"].to_numpy(), sub["pidx"].to_numpy() + h])
            later.append(series.reindex(keys).to_numpy(dtype=float))
        earlier = [series.reindex(pd.MultiIndex.from_arrays([sub["branch_id"].to_numpy(),
                                                             sub["pidx"].to_numpy() - h])).to_numpy(dtype=float)
                   for h in (1, 2)]
        with np.errstate(all="ignore"):
            future = _mean(np.vstack(later))
            # The month of the diagnosis from the log (what the rule saw), the two before from the metrics.
            before = _mean(np.vstack([sub["value"].to_numpy(dtype=float), *earlier]))
        own[out.index.get_indexer(rows)] = future - before
    out["own_change"] = own
    out["adopted"] = out["status"].isin(ADOPTED)
    # Indicators of one topic drift differently (regression to the mean is stronger for some): the
    # comparison is with the same rule, not merely the same topic.
    control = (out[~out["adopted"]].groupby(["pidx", "rule", "branch_type"])["own_change"].mean()
               .rename("control_change"))
    out = out.join(control, on=["pidx", "rule", "branch_type"])
    fallback = out[~out["adopted"]].groupby(["pidx", "rule"])["own_change"].mean().rename("_fallback")
    out = out.join(fallback, on=["pidx", "rule"])
    out["control_change"] = out["control_change"].fillna(out["_fallback"]).fillna(0.0)
    dirs = out["rule"].map(lambda r: direction(ruleset, r))
    units = out["indicator"].map(lambda i: getattr(ruleset.registry.get("branch", i), "unit", None))
    scale = np.array([gap_scale(u, r, v) for u, r, v in zip(units, out["reference"].fillna(0.0),
                                                               out["value"].fillna(0.0), strict=True)])
    out["improvement"] = dirs.to_numpy() * (out["own_change"] - out["control_change"]).to_numpy() / scale
    return out.drop(columns=["_fallback"])


__all__ = ["ADOPTED", "LOG_COLUMNS", "STATUSES", "compute", "direction"]
