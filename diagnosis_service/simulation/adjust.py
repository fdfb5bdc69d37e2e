"""The district's branch metrics with the true effects of adopted remedies added (the closed loop)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..learning.outcomes import HORIZON, gap_scale


class Adjuster:
    """The district's branch metrics with the true effects of adopted remedies added."""

    def __init__(self, frame: pd.DataFrame, registry, fade: tuple[float, ...] = (1.0,) * HORIZON):
        self.frame = frame
        self.registry = registry
        self.fade = fade  # the share of the effect in each month after the adoption
        self.row = {(b, p): i for i, (b, p) in enumerate(zip(frame["branch_id"], frame["pidx"], strict=True))}

    def _target(self, indicator: str):
        ind = self.registry.get("branch", indicator)
        if ind is None:
            return None, None
        if ind.derived is not None:
            kind, arg = next(iter(ind.derived.items()))
            if kind != "sum":
                return None, None
            target = arg[2] if len(arg) > 2 else arg[0]  # raise one of the summed parts
            return target, self.registry.get("branch", target)
        return indicator, ind

    def _steps(self, branch_id: str, indicator: str, pidx: int, effect: float, reference: float | None,
               value: float | None) -> list[tuple[int, int, float, float]]:
        """(row, column, old, expected new) for the months the effect reaches (ranges applied)."""
        target, ind = self._target(indicator)
        if target is None or effect == 0.0:
            return []
        gap = gap_scale(self.registry.get("branch", indicator).unit, reference, value)
        col = self.frame.columns.get_loc(target)
        out = []
        for h in range(1, HORIZON + 1):
            i = self.row.get((branch_id, pidx + h))
            if i is None:
                continue
            old = self.frame.iat[i, col]
            if old != old:
                continue
            new = old + effect * self.fade[h - 1] * gap  # closes ``effect`` of the gap to the norm, fading
            if ind.max is not None:
                new = min(new, ind.max)
            out.append((i, col, old, max(new, ind.min)))
        return out

    def realized(self, branch_id: str, indicator: str, pidx: int, effect: float, reference: float | None,
                 value: float | None) -> float:
        """What the effect would actually change, in shares of the gap (a rate at its ceiling gains
        little): the truth the improvement totals and the oracle count."""
        steps = self._steps(branch_id, indicator, pidx, effect, reference, value)
        if not steps:
            return 0.0
        gap = gap_scale(self.registry.get("branch", indicator).unit, reference, value)
        return float(sum(new - old for _, _, old, new in steps) / len(steps) / gap)

    def apply(self, branch_id: str, indicator: str, pidx: int, effect: float, reference: float | None,
              value: float | None, rng: np.random.Generator) -> float:
        """Add the effect to the following months; returns the realized share of the gap."""
        realized = self.realized(branch_id, indicator, pidx, effect, reference, value)
        _, ind = self._target(indicator)
        for i, col, _old, new in self._steps(branch_id, indicator, pidx, effect, reference, value):
            if ind.integer:  # counts: rounded at random, the expected value kept
                new = math.floor(new) + (rng.random() < new - math.floor(new))
            self.frame.iat[i, col] = new
        return realized


__all__ = ["Adjuster"]
