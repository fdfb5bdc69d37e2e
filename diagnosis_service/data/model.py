"""The in-memory shape of a district's data: four tables, one row per subject or subject-period."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..periods import period_str

BRANCH_COLUMNS = ("branch_id", "name", "type", "street")
MEMBER_COLUMNS = ("member_id", "branch_id", "name")
KEYS = {"branch": "branch_id", "member": "member_id"}


@dataclass
class Dataset:
    """Validated data. Metric frames have columns pidx (month index), period, the key and indicators.

    ``branches`` is indexed by branch_id (name, type, street); ``members`` by member_id
    (branch_id, name). Indicator columns are float64 with NaN for a missing value.
    """

    branches: pd.DataFrame
    members: pd.DataFrame
    branch_metrics: pd.DataFrame
    member_metrics: pd.DataFrame
    source: str = ""
    # Month index from which every indicator was read; before it, only those the rules look back at
    # (``Source.load(lookback=...)``: the others are missing). None: every month is complete.
    complete_from: int | None = None
    # Derived indicators (subject -> ids) a source gave as columns of month ``complete_from``, as a diagnosis
    # of that month computes them (``Source.load(carry=...)``); their earlier rows are missing.
    carried: dict[str, frozenset[str]] = field(default_factory=dict)

    def metrics(self, subject: str) -> pd.DataFrame:
        return self.branch_metrics if subject == "branch" else self.member_metrics

    def periods(self) -> list[str]:
        idx = np.union1d(self.branch_metrics["pidx"].to_numpy(), self.member_metrics["pidx"].to_numpy())
        return [period_str(int(i)) for i in idx]
