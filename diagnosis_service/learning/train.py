"""Training: from decisions and the metrics that followed them to a fitted model.

One path for every caller: ``model train`` (from the store or a closed loop's files) and the closed
loop's monthly retraining both go through ``measurable`` and ``fit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..engine.derive import derive_own
from ..remedies.catalog import Catalog
from ..rules.model import RuleSet
from .estimator import EffectivenessModel
from .features import repeat_flags, training_frame, weakness_months
from .outcomes import HORIZON, compute

HOLDOUT_SHARE = 0.2  # the latest fifth of the months


@dataclass
class Training:
    model: EffectivenessModel
    outcomes: pd.DataFrame  # the measurable outcomes it learned from
    X: pd.DataFrame
    y: np.ndarray


def measurable(log: pd.DataFrame, branch_metrics: pd.DataFrame, ruleset: RuleSet, derived: bool = False,
               horizon: int = HORIZON) -> pd.DataFrame:
    """Outcomes of the decisions that have one yet (a month after the decision or later), index reset.
    ``branch_metrics``: reported indicators (``derived=True``: derived ones already added)."""
    if log.empty:
        return compute(log, branch_metrics, ruleset, horizon)
    metrics = branch_metrics if derived else derive_own(branch_metrics, "branch", ruleset)
    outcomes = compute(log, metrics, ruleset, horizon)
    # Repeats are judged on the whole log, as the ranker is told them: an earlier first recommendation
    # whose own outcome is not measurable still makes a later one a repeat.
    outcomes["repeat"] = repeat_flags(outcomes)
    outcomes["repeat_kind"] = repeat_flags(outcomes, by="kind")
    outcomes["repeat_adopted"] = repeat_flags(outcomes, adopted=True)
    outcomes["weakness_months"] = weakness_months(outcomes)
    return outcomes[np.isfinite(outcomes["improvement"])].reset_index(drop=True)


def fit(outcomes: pd.DataFrame, catalog: Catalog, model: EffectivenessModel | None = None) -> Training | None:
    """The model fitted on measurable outcomes; None while there are none. ``model``: the one to fit (its
    parameters; fitted in place), a default one when None."""
    if outcomes.empty:
        return None
    X, y = training_frame(outcomes, catalog)
    return Training((model or EffectivenessModel()).fit(X, y), outcomes, X, y)


def holdout(outcomes: pd.DataFrame, catalog: Catalog, model: EffectivenessModel | None = None) -> dict:
    """Fit on the earlier months, score on the latest fifth: correlation of predicted and measured.
    ``model``: the parameters to fit with (unfitted; the defaults when None)."""
    periods = sorted(set(outcomes["period"]))
    if len(periods) < 3:
        return {"note": "too few months for a holdout"}
    cut = periods[int(len(periods) * (1 - HOLDOUT_SHARE))]
    earlier = (outcomes["period"] < cut).to_numpy()
    # Each side framed on its own months: whether a branch ever answers (silent_branch) must not be
    # learned from the held-out months' feedback.
    X, y = training_frame(outcomes[earlier].reset_index(drop=True), catalog)
    X_test, test = training_frame(outcomes[~earlier].reset_index(drop=True), catalog)
    m = (clone(model) if model is not None else EffectivenessModel()).fit(X, y)
    pred = m.predict(X_test)
    ok = np.isfinite(test)
    # No correlation with a constant (a fit that learned nothing, or one measured outcome): NaN, not a warning.
    varied = ok.sum() > 2 and np.ptp(pred[ok]) > 0 and np.ptp(test[ok]) > 0
    corr = float(np.corrcoef(pred[ok], test[ok])[0, 1]) if varied else float("nan")
    return {"from": cut, "rows": int(len(X_test)), "correlation": round(corr, 4),
            "r2": round(float(m.score(X_test[ok], test[ok])), 4) if ok.sum() > 2 else None}


__all__ = ["HOLDOUT_SHARE", "Training", "fit", "holdout", "measurable"]
