"""The groups outcomes are compared within, as integer codes made once per ``outcomes.compute``.

``compute`` re-estimates its controls, effects and baseline weights up to ten times, each time
grouping the same rows by the same keys (rule, period, branch type, resource, branch and indicator).
Grouping by the log's string columns factorised them again on every call: half of the time of a
``model train`` or ``model promote`` went there. Codes give the same groups with the rows in the same
order, so every sum and mean is the same to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def _codes(*columns, dropna: bool = True) -> np.ndarray:
    """One code per distinct combination of ``columns`` (-1 where any of them is missing, unless
    ``dropna`` is False: missing is then a value like another)."""
    frame = pd.DataFrame(dict(enumerate(columns)))
    return frame.groupby(list(frame.columns), sort=False, dropna=dropna).ngroup().fillna(-1).to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class Groups:
    adopted: np.ndarray  # bool per row
    rule: np.ndarray  # codes: the rule
    control: tuple[np.ndarray, np.ndarray, np.ndarray]  # rule; period and rule; period, rule and branch type
    comparable: np.ndarray  # period, rule and branch type, a missing type a type of its own
    resource: np.ndarray  # rule and resource
    series: np.ndarray  # branch and indicator
    pidx: np.ndarray  # the month, as an integer

    @classmethod
    def of(cls, out: pd.DataFrame) -> Groups:
        """``out``: a log (outcomes.LOG_COLUMNS) with its ``adopted`` column."""
        pidx = out["pidx"].to_numpy(dtype=np.int64)
        rule, branch_type = out["rule"].to_numpy(dtype=object), out["branch_type"].to_numpy(dtype=object)
        return cls(out["adopted"].to_numpy(dtype=bool), _codes(rule),
                   (_codes(rule), _codes(pidx, rule), _codes(pidx, rule, branch_type)),
                   _codes(pidx, rule, branch_type, dropna=False),
                   _codes(rule, out["resource_id"].to_numpy(dtype=object)),
                   _codes(out["branch_id"].to_numpy(dtype=object), out["indicator"].to_numpy(dtype=object)), pidx)


def sum_count(codes: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the sum and count of the non-missing ``values`` of the ``rows`` (a mask) in its group
    (0 and 0 where its group has none, or where it has no group)."""
    picked = rows & (codes >= 0)
    stats = pd.Series(values[picked]).groupby(codes[picked]).agg(["sum", "count"])
    size = int(codes.max(initial=-1)) + 1
    sums, counts = np.zeros(size + 1), np.zeros(size + 1)  # the last slot answers code -1
    at = stats.index.to_numpy(dtype=np.int64)
    sums[at], counts[at] = stats["sum"].to_numpy(dtype=float), stats["count"].to_numpy(dtype=float)
    return sums[codes], counts[codes]


__all__ = ["Groups", "sum_count"]
