"""The effectiveness model's features: what is known of a (remedy, branch, weakness) when ranking, and
the training frame built from measured outcomes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..periods import parse_period
from ..remedies.catalog import Resource
from ..remedies.ranking import REPEAT_WINDOW, Need
from .outcomes import ADOPTED, CLIP, HORIZON

ON_SITE = "on_site"  # the catalog's format of resources used on site

FEATURES = ("resource_id", "kind", "topic", "main_topic", "branch_type", "street", "members", "shortfall", "repeat",
            "repeat_kind", "on_site", "repeat_adopted", "weakness_months")


def used_features(weakness_flags: bool) -> tuple[str, ...]:
    """The FEATURES a model uses: without ``weakness_months`` unless its weakness flags are on (a model
    without them is the one made before the feature: the same features, the same fingerprint)."""
    return FEATURES if weakness_flags else tuple(f for f in FEATURES if f != "weakness_months")


def one_hot(row) -> dict[str, float]:
    """The model's features of one (remedy, branch, weakness): categorical ones one-hot, and numbers: how
    far below the norm, branch size, ``repeat`` (the same resource was the branch's first
    recommendation within REPEAT_WINDOW months: its learned coefficient is the repeat penalty) and
    ``repeat_kind`` (one of the same kind was, this one or another: a kind the branch tires of) and
    ``repeat_adopted`` (the branch said it adopted the same resource within the window: doing a thing
    again may do less than being shown it again; a branch that never answers has none), and the time
    since the branch's last list for the same weakness (``weakness_months``, its topic's: None, NaN or 0
    for none in the window), as two flags: ``weakness_last_month`` and ``weakness_lately`` (2 to HORIZON
    months before: an earlier remedy's effect may still be moving the months this one is measured
    over). Between
    the categorical features and the numbers, the street x on-site interaction: ``onsite_street=<street>``
    is 1.0 for a resource used on site (the catalog's format: a base, a lecturer who comes) and 0.0
    otherwise, so that a street where going somewhere works better or worse than elsewhere is learned
    from on-site resources alone."""
    features = dict.fromkeys(categorical_names(row), 1.0)
    features[onsite_name(row.street)] = on_site(row)
    features.update(zip(NUMBERS, numbers(row), strict=True))
    return features


def onsite_name(street) -> str:
    """The street x on-site feature's name for a branch in ``street`` (none: the empty street)."""
    return f"onsite_street={street if isinstance(street, str) else ''}"


def on_site(row) -> float:
    """1.0 if the row's resource is used on site, else 0.0 (not known, NaN: not on site)."""
    return on_site_value(getattr(row, "on_site", 0.0))


def on_site_value(value) -> float:
    """An ``on_site`` value as the feature's: 1.0 or 0.0 (None, NaN, NA: 0.0)."""
    if value is None or value is pd.NA:
        return 0.0
    return 1.0 if value == value and bool(value) else 0.0


# one_hot's numeric features, after its categorical ones, in this order.
WEAKNESS_FLAGS = ("weakness_last_month", "weakness_lately")  # of weakness_months (weakness_values)
NUMBERS = ("shortfall", "log_members", "repeat", "repeat_kind", "repeat_adopted", *WEAKNESS_FLAGS)


def categorical_names(row) -> tuple[str, ...]:
    """The names of the one-hot features ``row`` has (each with value 1.0), in one_hot's order."""
    # A branch without a street is one key whichever way it came (None when served, NaN from a frame).
    street = row.street if isinstance(row.street, str) else ""
    return (f"resource={row.resource_id}", f"kind={row.kind}", f"kind_type={row.kind}|{row.branch_type}",
            f"topic={row.topic}", f"kind_topic={row.kind}|{row.topic}", f"main={bool(row.main_topic)}",
            f"street={street}")


def numbers(row) -> tuple[float, float, float, float, float, float, float]:
    """The values of the NUMBERS features of ``row``."""
    shortfall = 0.0 if row.shortfall != row.shortfall else min(float(row.shortfall), 5.0)
    # A size not known (None, NaN: max() would pass NaN through) counts as none, not as a NaN estimate.
    members = float(row.members) if row.members is not None and math.isfinite(float(row.members)) else 0.0
    members = max(members, 0.0)
    return (shortfall, math.log1p(members) / 5.0, float(row.repeat), float(row.repeat_kind),
            float(getattr(row, "repeat_adopted", 0.0)), *weakness_values(getattr(row, "weakness_months", 0.0)))


def weakness_values(months) -> tuple[float, float]:
    """(``weakness_last_month``, ``weakness_lately``) of a list whose branch last had a list for the same
    weakness ``months`` months before (None, NaN, 0 or less: none known)."""
    if months is None or months is pd.NA or months != months:
        return 0.0, 0.0
    months = float(months)
    return (1.0 if months == 1.0 else 0.0), (1.0 if 2.0 <= months <= HORIZON else 0.0)


@dataclass(frozen=True, slots=True)
class Row:
    resource_id: str
    kind: str
    topic: str
    main_topic: bool
    branch_type: str
    street: str | None
    members: float
    shortfall: float
    repeat: float = 0.0
    repeat_kind: float = 0.0
    on_site: float = 0.0
    repeat_adopted: float = 0.0
    weakness_months: float = 0.0  # since the branch's last list for the same weakness (0: none known)


def repeats(need: Need, resources: Sequence[Resource]) -> list[float]:
    """1.0 for each resource the branch had as a first recommendation within the window, else 0.0."""
    recent = {rid for rid, _ in need.recent_first}
    return [1.0 if r.id in recent else 0.0 for r in resources]


def kind_repeats(need: Need, resources: Sequence[Resource]) -> list[float]:
    """1.0 for each resource of a kind the branch had as a first recommendation within the window."""
    return [1.0 if r.kind in need.recent_kinds else 0.0 for r in resources]


def adopted_repeats(need: Need, resources: Sequence[Resource]) -> list[float]:
    """1.0 for each resource the branch said it adopted within the window, else 0.0."""
    adopted = set(need.recent_adopted)
    return [1.0 if r.id in adopted else 0.0 for r in resources]


def repeat_flags(log: pd.DataFrame, window: int = REPEAT_WINDOW, by: str = "resource_id",
                 adopted: bool = False) -> np.ndarray:
    """For each served list (branch_id, ``by``, period): whether the branch had the same resource (``by``
    "kind": one of the same kind) as a first recommendation in the ``window`` months before (what
    ``repeats`` and ``kind_repeats`` tell at ranking time); ``adopted``: only those it said it adopted
    (``status`` adopted or completed: what ``adopted_repeats`` tells)."""
    if log.empty or "branch_id" not in log.columns or by not in log.columns:
        return np.zeros(len(log))
    if adopted and "status" not in log.columns:
        return np.zeros(len(log))
    pidx = log["pidx"].to_numpy() if "pidx" in log.columns else log["period"].map(parse_period).to_numpy()
    order = np.lexsort((pidx, log[by].to_numpy(), log["branch_id"].to_numpy()))
    keys = list(zip(log["branch_id"].to_numpy()[order], log[by].to_numpy()[order], strict=True))
    months = pidx[order]
    counts = log["status"].isin(ADOPTED).to_numpy()[order] if adopted else np.ones(len(log), dtype=bool)
    out = np.zeros(len(log))
    last_before: int | None = None  # the latest month before this one in which the same pair counted
    this_month: int | None = None  # this month, once a row of the pair in it counted
    for n in range(len(order)):
        if n == 0 or keys[n] != keys[n - 1]:
            last_before = this_month = None
        elif months[n] != months[n - 1] and this_month is not None:
            last_before, this_month = this_month, None
        if last_before is not None and months[n] - last_before <= window:
            out[order[n]] = 1.0
        if counts[n]:
            this_month = months[n]
    return out


def weakness_months(log: pd.DataFrame, window: int = REPEAT_WINDOW) -> np.ndarray:
    """For each served list (branch_id, topic, period): the months since the branch's latest list for the
    same weakness (its topic) in the ``window`` months before, 0.0 for none (what ``History.last_on_topic``
    tells the ranker: every list counts, answered or not, adopted or not)."""
    if log.empty or not {"branch_id", "topic"} <= set(log.columns):
        return np.zeros(len(log))
    pidx = log["pidx"].to_numpy() if "pidx" in log.columns else log["period"].map(parse_period).to_numpy()
    months = pd.DataFrame({"b": log["branch_id"].to_numpy(), "t": log["topic"].to_numpy(),
                           "p": pidx.astype(np.int64)}).drop_duplicates().sort_values(["b", "t", "p"])
    same = (months["b"].eq(months["b"].shift()) & months["t"].eq(months["t"].shift())).to_numpy()
    gap = np.where(same, months["p"].to_numpy() - months["p"].shift().fillna(0).to_numpy(np.int64), 0)
    gap = np.where(gap <= window, gap, 0)
    found = pd.Series(gap.astype(float), index=pd.MultiIndex.from_arrays([months["b"], months["t"], months["p"]]))
    at = pd.MultiIndex.from_arrays([log["branch_id"].to_numpy(), log["topic"].to_numpy(), pidx.astype(np.int64)])
    return found.reindex(at).to_numpy(dtype=float)


def on_site_flags(resources: Sequence[Resource]) -> list[float]:
    """1.0 for each resource used on site (its format), else 0.0."""
    return [1.0 if r.format == ON_SITE else 0.0 for r in resources]


def features_for(need: Need, resources: Sequence[Resource]) -> pd.DataFrame:
    return pd.DataFrame({
        "resource_id": [r.id for r in resources], "kind": [r.kind for r in resources],
        "topic": need.topic, "main_topic": [r.topics[0] == need.topic for r in resources],
        "branch_type": need.branch_type, "street": need.street, "members": float(need.members or 0),
        "shortfall": need.shortfall if need.shortfall is not None else float("nan"),
        "repeat": repeats(need, resources), "repeat_kind": kind_repeats(need, resources),
        "on_site": on_site_flags(resources), "repeat_adopted": adopted_repeats(need, resources),
        "weakness_months": float(need.weakness_months or 0),
    }, columns=list(FEATURES))


SILENT_MIN_LISTS = 2  # a branch with one unanswered list may just have ignored that one


def silent_branches(outcomes: pd.DataFrame) -> np.ndarray:
    """For each list: whether its branch never answered (at least SILENT_MIN_LISTS lists, all without
    feedback): there, no answer says nothing about adoption."""
    if outcomes.empty or "branch_id" not in outcomes.columns:
        return np.zeros(len(outcomes), dtype=bool)
    unanswered = outcomes["status"].eq("ignored")
    per_branch = unanswered.groupby(outcomes["branch_id"]).agg(["all", "size"])
    silent = per_branch.index[per_branch["all"] & (per_branch["size"] >= SILENT_MIN_LISTS)]
    return outcomes["branch_id"].isin(silent).to_numpy()


def training_frame(outcomes: pd.DataFrame, catalog) -> tuple[pd.DataFrame, np.ndarray]:
    """(X, y) from outcomes.compute's result: one row per served list, its first item; X has the
    FEATURES, ``adopted``, ``silent_branch`` and (where the outcomes have them) ``branch_id`` and ``rule``."""
    main = {r.id: r.topics[0] for r in catalog.resources}
    onsite = {r.id for r in catalog.resources if r.format == ON_SITE}
    X = pd.DataFrame({
        "resource_id": outcomes["resource_id"], "kind": outcomes["kind"], "topic": outcomes["topic"],
        "main_topic": [main.get(r) == t for r, t in zip(outcomes["resource_id"], outcomes["topic"], strict=True)],
        "branch_type": outcomes["branch_type"], "street": outcomes["street"],
        "members": outcomes["members"].astype(float),
        "shortfall": (outcomes["value"] - outcomes["reference"]).abs() / np.maximum(outcomes["reference"].abs(), 1.0),
        "repeat": outcomes["repeat"].to_numpy(dtype=float) if "repeat" in outcomes.columns else repeat_flags(outcomes),
        "repeat_kind": (outcomes["repeat_kind"].to_numpy(dtype=float) if "repeat_kind" in outcomes.columns
                        else repeat_flags(outcomes, by="kind")),
        "on_site": outcomes["resource_id"].isin(onsite).to_numpy(dtype=float),
        "repeat_adopted": (outcomes["repeat_adopted"].to_numpy(dtype=float) if "repeat_adopted" in outcomes.columns
                           else repeat_flags(outcomes, adopted=True)),
        "weakness_months": (outcomes["weakness_months"].to_numpy(dtype=float) if "weakness_months" in outcomes.columns
                            else weakness_months(outcomes)),
        "adopted": outcomes["status"].isin(ADOPTED),
        "silent_branch": silent_branches(outcomes),
    })
    if "branch_id" in outcomes.columns:
        # Not a feature (design.feature_frame takes the FEATURES alone): which lists are one branch's, for
        # the folds of a cross-validation grouped by branch (EffectivenessModel, log_ridge_alpha="cv").
        X["branch_id"] = outcomes["branch_id"].to_numpy()
    if "rule" in outcomes.columns:  # not a feature either: whose noise a list's outcome has (noise.rule_weights)
        X["rule"] = outcomes["rule"].to_numpy()
    # Winsorized: an indicator that swings a lot next to a small gap (e.g. project progress in percent)
    # would otherwise dominate every mean.
    y = np.clip(outcomes["improvement"].to_numpy(dtype=float), -CLIP, CLIP)
    return X.reset_index(drop=True), y


__all__ = ["FEATURES", "NUMBERS", "SILENT_MIN_LISTS", "WEAKNESS_FLAGS", "Row", "adopted_repeats", "features_for",
           "kind_repeats", "on_site", "on_site_flags", "on_site_value", "one_hot", "onsite_name", "repeat_flags",
           "repeats", "silent_branches", "training_frame", "used_features", "weakness_months", "weakness_values"]
