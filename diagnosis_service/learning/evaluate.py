"""Off-policy evaluation of ranking policies on measured outcomes: which policy, estimated how.

Policies: ``prior`` (the documented prior), ``random``, ``learned`` (the model's exploring ranker) and
``greedy`` (the model's best estimate, no exploration). Model policies are cross-fitted by default
(``fit="cross"``: a model fitted on each half of the months ranks the other half), or ranked by a
given model (``fit="file"``), which flatters it where it saw the evaluated months.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, Problem
from ..remedies.catalog import Catalog
from ..remedies.ranking import PriorRanker
from ..rules.model import RuleSet
from .estimator import EffectivenessModel
from .features import training_frame
from .ope import contexts, cross_fitted_probabilities, estimate, rewards, target_probabilities
from .policy import LearnedRanker, RandomRanker

POLICIES = ("prior", "learned", "greedy", "random")
MODELLED = ("learned", "greedy")


def _modelled(name: str, epsilon: float):
    """How a fitted model ranks as policy ``name``: ``learned`` as the service serves it (Thompson draws and
    ``epsilon`` of uniform choice, ``Settings.learned_exploration``), ``greedy`` by its estimates alone."""
    if name == "learned":
        return lambda m: LearnedRanker(m, epsilon)
    return lambda m: LearnedRanker(m, epsilon=0.0, thompson=False)
FIT_MODES = ("cross", "file")


def overlap(card: dict, outcomes: pd.DataFrame) -> str | None:
    """A warning when a model's training window overlaps the evaluated months (its estimates flatter it)."""
    window = card.get("data_window", {})
    if window.get("from", "9999") <= outcomes["period"].max() and window.get("to", "") >= outcomes["period"].min():
        return (f"the model was trained on {window['from']}..{window['to']}, which overlaps the evaluated months: "
                "its estimates are flattering (cross-fitting avoids this)")
    return None


def evaluate_policies(outcomes: pd.DataFrame, policies: Sequence[str], catalog: Catalog, ruleset: RuleSet,
                      fit: str = "cross", model: EffectivenessModel | None = None,
                      served: pd.DataFrame | None = None, catalogs: Mapping[int, Catalog] | None = None,
                      epsilon: float = 0.02, params: Mapping[str, object] | None = None) -> dict:
    """IPS and SNIPS (with 95% bootstrap intervals) of each policy, and the logging policy's value.
    ``served`` and ``catalogs``: what each logged choice was made among (``ope.target_probabilities``);
    ``epsilon``: the learned policy's uniform share, as the service explores; ``params``: the model's
    parameters where ``fit`` is "cross" (the defaults when None)."""
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or fit not in FIT_MODES:
        raise InputError(Problem(f"unknown policy or fit {unknown or fit!r}", field=("policy",),
                                 suggestion=f"policies: {', '.join(POLICIES)}; fit: {', '.join(FIT_MODES)}"))
    modelled = [p for p in policies if p in MODELLED]
    if modelled and fit == "cross" and outcomes["period"].nunique() < 2:
        raise InputError(Problem("cross-fitting needs outcomes in at least two months", field=("fit",),
                                 suggestion="evaluate a model trained on earlier months as it is (fit 'file')"))
    if modelled and fit == "file" and model is None:
        raise InputError(Problem("a model is needed to evaluate the model's policies as they are", field=("model",)))
    reward = rewards(outcomes)
    fits: dict[tuple, EffectivenessModel] = {}

    def fitted(rows: pd.DataFrame) -> EffectivenessModel:  # learned and greedy share each half's model
        key = tuple(sorted(set(rows["period"])))
        if key not in fits:
            fits[key] = EffectivenessModel(**dict(params or {})).fit(*training_frame(rows, catalog))
        return fits[key]

    replayed = list(contexts(outcomes, ruleset, served))  # once, for every policy and fold
    estimates = []
    for name in policies:
        if name in MODELLED and fit == "cross":
            target = cross_fitted_probabilities(outcomes, _modelled(name, epsilon), fitted, lambda _p: catalog, ruleset, served,
                                                catalogs, replayed)
        else:
            ranker = _modelled(name, epsilon)(model) if name in MODELLED else {"prior": PriorRanker(),
                                                                     "random": RandomRanker()}[name]
            target = target_probabilities(outcomes, ranker, lambda _p: catalog, ruleset, served, replayed,
                                          catalogs=catalogs)
        estimates.append({**estimate(name, reward, outcomes["propensity"].to_numpy(dtype=float), target).as_dict(),
                          "fit": fit if name in MODELLED else None})
    logged = {"policy": "logged", "value": round(float(np.mean(reward)), 5), "decisions": len(reward)}
    return {"logged": logged, "estimates": estimates}


__all__ = ["FIT_MODES", "POLICIES", "evaluate_policies", "overlap"]
