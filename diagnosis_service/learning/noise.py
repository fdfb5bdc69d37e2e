"""How much each list's measured outcome can say: the spread of a rule's outcomes where nothing was done.

An outcome is measured on the weakness's indicator, and indicators differ in how noisy they are as
measures of a remedy: a rate over many members barely moves with a remedy, a monthly count moves a lot
by chance. The lists not adopted by branches that answer (declined, or left unanswered where the branch
answers others) show a rule's noise alone (no remedy, the same measurement; a branch that never answers
is left out: its lists may have been adopted); in a fit that pools a resource's record over its rules and topics, a list of a noisy
rule should count for less than one of a quiet rule (weighted least squares: weight 1 / variance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NOISE_STRENGTH = 20.0  # pseudo-lists pulling a rule's variance toward the pooled one
WEIGHT_RANGE = (0.2, 5.0)  # no rule counts for more than 5x, or less than a fifth of, an average list


def noise_variances(rules: pd.Series, y: np.ndarray, quiet: np.ndarray,
                    strength: float = NOISE_STRENGTH) -> tuple[float, dict[str, float]]:
    """(pooled variance, each rule's variance shrunk toward it) of the outcomes ``y`` of the lists
    ``quiet`` marks (known not adopted), each rule's around its own mean."""
    ok = quiet & np.isfinite(y)
    frame = pd.DataFrame({"rule": rules.to_numpy()[ok], "y": y[ok]})
    if len(frame) < 2:
        return float("nan"), {}
    grouped = frame.groupby("rule", sort=True)["y"]
    n, var = grouped.size(), grouped.var(ddof=1).fillna(0.0)
    pooled = float(((n - 1) * var).sum() / max(int((n - 1).sum()), 1))
    if not pooled > 0:
        return pooled, {}
    shrunk = ((n - 1) * var + strength * pooled) / (n - 1 + strength)
    return pooled, {str(rule): float(v) for rule, v in shrunk.items()}


def rule_weights(rules: pd.Series, y: np.ndarray, quiet: np.ndarray,
                 strength: float = NOISE_STRENGTH) -> tuple[np.ndarray, dict[str, float]]:
    """(each list's weight, each rule's weight): pooled variance / the rule's (``noise_variances``),
    within ``WEIGHT_RANGE``; 1 for a rule with no quiet list and for every list when the quiet lists say
    nothing (fewer than two, no spread)."""
    pooled, variances = noise_variances(rules, y, quiet, strength)
    by_rule = {rule: float(np.clip(pooled / v, *WEIGHT_RANGE)) if v > 0 else WEIGHT_RANGE[1]
               for rule, v in variances.items()}
    return rules.map(by_rule).fillna(1.0).to_numpy(dtype=float), by_rule


__all__ = ["NOISE_STRENGTH", "WEIGHT_RANGE", "noise_variances", "rule_weights"]
