"""Partial pooling (empirical Bayes) of group means: the adoption rates of the effectiveness model."""

from __future__ import annotations

import numpy as np
import pandas as pd


def shrunk_means(frame: pd.DataFrame, keys: list[str], target: str, parent: dict, global_mean: float, k: float,
                 parent_keys: tuple[str, ...]) -> dict[str, float]:
    """Group means shrunk toward the parent level's estimate: (n x mean + k x parent) / (n + k).

    A group's parent is read from its first values (each parent column's first non-null value in the group,
    as groupby's ``first``), rendered as text as a row of those values renders it.
    """
    out: dict[str, float] = {}
    if frame.empty:
        return out
    groups = frame.groupby(keys, sort=True)
    grouped = groups.agg(n=(target, "size"), mean=(target, "mean"))
    # Label lookups row by row were half of a model's fit; the same groups in the same order, as columns.
    ids = [idx if isinstance(idx, tuple) else (idx,) for idx in grouped.index]
    looked_up = [p for p in parent_keys if p not in keys]
    columns = {}
    if looked_up:
        # One array of the columns' common type: its rows are what a label lookup of a group's row gave (an
        # int column among float ones reads 3.0, not 3), so a parent key's text is the same.
        first = groups.first()
        table = first.to_numpy()
        columns = {p: table[:, first.columns.get_loc(p)] for p in looked_up}
    bases = np.full(len(ids), global_mean, dtype=float)
    if parent_keys:
        for i, idx in enumerate(ids):
            pkey = "|".join(str(columns[p][i] if p not in keys else idx[keys.index(p)]) for p in parent_keys)
            bases[i] = parent.get(pkey, global_mean)
    n = grouped["n"].to_numpy(dtype=float)
    values = (n * grouped["mean"].to_numpy(dtype=float) + k * bases) / (n + k)
    for idx, value in zip(ids, values.tolist(), strict=True):
        out["|".join(str(i) for i in idx)] = value
    return out


__all__ = ["shrunk_means"]
