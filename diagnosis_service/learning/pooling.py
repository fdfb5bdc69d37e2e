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


def resource_rates(frame: pd.DataFrame, target: str, kind_type: dict[str, float], global_mean: float,
                   k: float) -> dict[str, float]:
    """Rates by resource and branch type ("resource|type"), each group's mean shrunk toward its kind x type
    rate plus the resource's own offset, with ``k`` pseudo-observations at both steps.

    The offset is the resource's mean departure from its lists' kind x type rates over all its lists,
    whatever the branch type, shrunk toward 0: a resource more (or less) taken up than its kind is so
    for every type, so a type with few of its lists borrows what the others show rather than starting at
    the kind's rate. Every type the kind x type level knows gets a rate for every resource seen (the
    parent where the resource has no lists of that type), so a ranker looks one key up. Keys in sorted
    order; rows without a resource or branch type are left out, as the groups leave them.
    """
    if frame.empty:
        return {}
    rows = frame.dropna(subset=["resource_id", "branch_type"])
    if rows.empty:
        return {}
    # A row without a kind (a resource gone from the catalog) departs from the overall rate.
    kinds = [kd if isinstance(kd, str) else None for kd in rows["kind"].tolist()]
    types = rows["branch_type"].astype(str).to_numpy()
    base = np.array([global_mean if kd is None else kind_type.get(f"{kd}|{t}", global_mean)
                     for kd, t in zip(kinds, types, strict=True)], dtype=float)
    departures = pd.DataFrame({"r": rows["resource_id"].astype(str).to_numpy(), "kind": kinds,
                               "d": rows[target].to_numpy(dtype=float) - base})
    # "first": the resource's first kind given, None where it has none
    per = departures.groupby("r", sort=True).agg(total=("d", "sum"), n=("d", "size"), kind=("kind", "first"))
    known_types = sorted({key.split("|", 1)[1] for key in kind_type})
    parent: dict[str, float] = {}
    for rid, total, n, kind in zip(per.index, per["total"].tolist(), per["n"].tolist(), per["kind"], strict=True):
        offset = total / (n + k)
        for t in known_types:
            rate = kind_type.get(f"{kind}|{t}", global_mean) if isinstance(kind, str) else global_mean
            parent[f"{rid}|{t}"] = min(max(rate + offset, 0.0), 1.0)
    own = shrunk_means(rows.assign(resource_id=rows["resource_id"].astype(str), branch_type=types),
                       ["resource_id", "branch_type"], target, parent, global_mean, k, ("resource_id", "branch_type"))
    return {key: own[key] if key in own else parent[key] for key in sorted({*parent, *own})}


__all__ = ["resource_rates", "shrunk_means"]
