"""A validated source read a month at a time, so that what writes it (a dataset, the store) holds the
organisations and one month, not every month: a CSV directory checked and spilled to disk
(``csvstream.Spilled``), or a dataset in memory (``InMemoryMonths``)."""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from .model import KEYS, Dataset


class Months(Protocol):
    """A validated source, a month at a time."""

    orgs: Dataset  # branches and members (metric tables: empty, or all of them)
    periods: list[str]

    def month(self, period: str) -> list[tuple[str, pd.DataFrame]]: ...

    def columns(self) -> dict[str, list[str]]: ...


class InMemoryMonths:
    """A dataset held in memory, a month at a time."""

    def __init__(self, dataset: Dataset):
        self.orgs = dataset
        self.periods = dataset.periods()
        # Row positions, not copies: a part may be a whole district.
        self._at = {s: dataset.metrics(s).groupby("period", sort=False).indices for s in ("branch", "member")}

    def month(self, period: str) -> list[tuple[str, pd.DataFrame]]:
        return [(s, self.orgs.metrics(s).iloc[self._at[s][period]].reset_index(drop=True))
                for s in ("branch", "member") if period in self._at[s]]

    def columns(self) -> dict[str, list[str]]:
        return metric_columns(self.orgs)


def metric_columns(dataset: Dataset) -> dict[str, list[str]]:
    """The indicator columns of each subject's metric table, in order."""
    return {s: [c for c in dataset.metrics(s).columns if c not in ("pidx", "period", KEYS[s])]
            for s in ("branch", "member")}


__all__ = ["InMemoryMonths", "Months", "metric_columns"]
