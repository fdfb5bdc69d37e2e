"""Partial pooling (empirical Bayes) of group means: the adoption rates of the effectiveness model."""

from __future__ import annotations

import pandas as pd


def shrunk_means(frame: pd.DataFrame, keys: list[str], target: str, parent: dict, global_mean: float, k: float,
          parent_keys: tuple[str, ...]) -> dict[str, float]:
    """Group means shrunk toward the parent level's estimate: (n x mean + k x parent) / (n + k)."""
    out: dict[str, float] = {}
    if frame.empty:
        return out
    grouped = frame.groupby(keys, sort=True).agg(n=(target, "size"), mean=(target, "mean"))
    first = frame.groupby(keys, sort=True).first()
    for idx, row in grouped.iterrows():
        idx = idx if isinstance(idx, tuple) else (idx,)
        if parent_keys:
            pkey = "|".join(str(first.loc[idx][p] if p not in keys else idx[keys.index(p)]) for p in parent_keys)
            base = parent.get(pkey, global_mean)
        else:
            base = global_mean
        out["|".join(str(i) for i in idx)] = float((row["n"] * row["mean"] + k * base) / (row["n"] + k))
    return out


__all__ = ["shrunk_means"]
