"""The groups outcomes are compared within, as integer codes made once per ``outcomes.compute``.

``compute`` re-estimates its controls, effects and baseline weights up to ten times, each time
grouping the same rows by the same keys (rule, period, branch type, resource, branch and indicator).
Grouping by the log's string columns factorised them again on every call: most of the time of a
``model train`` or ``model promote`` went there. The codes number the groups in the order of their
keys, as grouping by the keys themselves does, and rows without a key stay in place as missing: pandas
then sums each group the same way (it has a faster, differently rounded path for ids in order), so
every sum and mean is the same to the bit as grouping by the keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def _codes(*columns, dropna: bool = True) -> np.ndarray:
    """One code per distinct combination of ``columns``, in the order of the combinations (-1 where any
    of them is missing, unless ``dropna`` is False: missing, None or NaN, is then a value like another)."""
    frame = pd.DataFrame(dict(enumerate(columns)))
    return frame.groupby(list(frame.columns), sort=True, dropna=dropna).ngroup().fillna(-1).to_numpy(dtype=np.int64)


def as_keys(codes: np.ndarray) -> np.ndarray:
    """Codes as group keys for pandas: float, NaN where there is none (-1)."""
    keys = codes.astype(np.float64)
    keys[codes < 0] = np.nan
    return keys


@dataclass(frozen=True)
class Groups:
    adopted: np.ndarray  # bool per row
    rule: np.ndarray  # codes: the rule
    control: tuple[np.ndarray, np.ndarray, np.ndarray]  # rule; period and rule; period, rule and branch type
    comparable: np.ndarray  # period, rule and branch type; lists without a type (None or NaN) together
    resource: np.ndarray  # rule and resource
    series: np.ndarray  # branch and indicator
    pidx: np.ndarray  # the month, as an integer

    @classmethod
    def of(cls, out: pd.DataFrame) -> Groups:
        """``out``: a log (outcomes.LOG_COLUMNS) with its ``adopted`` column."""
        pidx = out["pidx"].to_numpy(dtype=np.int64)
        rule, branch_type = out["rule"].to_numpy(dtype=object), out["branch_type"].to_numpy(dtype=object)
        by_rule = _codes(rule)
        return cls(out["adopted"].to_numpy(dtype=bool), by_rule,
                   (by_rule, _codes(pidx, rule), _codes(pidx, rule, branch_type)),
                   _codes(pidx, rule, branch_type, dropna=False),
                   _codes(rule, out["resource_id"].to_numpy(dtype=object)),
                   _codes(out["branch_id"].to_numpy(dtype=object), out["indicator"].to_numpy(dtype=object)), pidx)


def sum_count(codes: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the sum and count of the non-missing ``values`` of the ``rows`` (a mask) in its group
    (0 and 0 where its group has none, or where it has no group)."""
    stats = pd.Series(values[rows]).groupby(as_keys(codes[rows])).agg(["sum", "count"])
    size = int(codes.max(initial=-1)) + 1
    sums, counts = np.zeros(size + 1), np.zeros(size + 1)  # the last slot answers code -1
    at = stats.index.to_numpy(dtype=np.int64)
    sums[at], counts[at] = stats["sum"].to_numpy(dtype=float), stats["count"].to_numpy(dtype=float)
    return sums[codes], counts[codes]


__all__ = ["Groups", "as_keys", "sum_count"]
