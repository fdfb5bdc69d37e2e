"""The in-memory shape of a district's data: four tables, one row per subject or subject-period."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

PERIOD_RE = re.compile(r"^((?:19|20)\d\d)-(0[1-9]|1[0-2])$")  # 1900-01 to 2099-12

BRANCH_COLUMNS = ("branch_id", "name", "type", "street")
MEMBER_COLUMNS = ("member_id", "branch_id", "name")
KEYS = {"branch": "branch_id", "member": "member_id"}


def parse_period(text: str) -> int:
    """'YYYY-MM' -> a month index (year * 12 + month - 1), so that periods can be subtracted."""
    match = PERIOD_RE.match(text or "")
    if not match:
        raise ValueError(f"bad period {text!r}: expected YYYY-MM, e.g. 2025-03")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def period_str(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_month(index: int) -> int:
    return index % 12 + 1


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

    def metrics(self, subject: str) -> pd.DataFrame:
        return self.branch_metrics if subject == "branch" else self.member_metrics

    def periods(self) -> list[str]:
        idx = np.union1d(self.branch_metrics["pidx"].to_numpy(), self.member_metrics["pidx"].to_numpy())
        return [period_str(int(i)) for i in idx]
