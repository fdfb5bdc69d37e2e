"""Partial pooling (empirical Bayes) of group means: the adoption rates of the effectiveness model."""

from __future__ import annotations

import numpy as np
import pandas as pd


def shrunk_means(frame: pd.DataFrame, keys: list[str], target: str, parent: dict, global_mean: float, k: float,
          parent_keys: tuple[str, ...]) -> dict[str, float]:
    """Group means shrunk toward the parent level's estimate: (n x mean + k x parent) / (n + k).

    A group's parent is read from its first row (each column's first non-null value, as groupby's first).
    """
    out: dict[str, float] = {}
    if frame.empty:
        return out
    groups = frame.groupby(keys, sort=True)
    grouped = groups.agg(n=(target, "size"), mean=(target, "mean"))
    # Label lookups row by row were half of a model's fit; the same groups in the same order, as columns.
    ids = [idx if isinstance(idx, tuple) else (idx,) for idx in grouped.index]
    looked_up = [p for p in parent_keys if p not in keys]
    first = groups[looked_up].first() if looked_up else None
    columns = {p: first[p].tolist() for p in looked_up} if first is not None else {}
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
