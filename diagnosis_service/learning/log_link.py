"""The multiplicative (log-link) half of the effect estimate: its GLM, a fit that reports why it failed
instead of raising, and its penalty chosen by cross-validation grouped by branch
(``EffectivenessModel(log_ridge_alpha="cv")``)."""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import TweedieRegressor

from .effects import MAX_MULTIPLICATIVE_LOG

# The multiplicative fit needs a positive mean to take the log of; below this the additive one stands alone.
MIN_MULTIPLICATIVE_MEAN = 1e-3
# log_ridge_alpha="cv": the log-link fit's penalty chosen from this grid, heaviest first (each fold's fits
# warm-start from the one before: a lighter penalty starts where the heavier one ended), by CV_FOLDS-fold
# cross-validation grouped by branch (a branch's lists all in one fold), weighted squared error of the
# log-link estimate on the held-out folds.
LOG_PENALTY_GRID = (16.0, 8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125)
CV_FOLDS = 3
MIN_CV_BRANCHES = 15  # fewer branches with an adopted, measured list: the ridge's penalty (ridge_alpha)
# More adopted, measured lists than this: the CV runs on every k-th branch (sorted ids), the fewest k that
# brings them under it. A subsample leans to a heavier penalty than the whole would choose (the default
# district's year, 75k lists: 2 on 6k of them, 1 on 12k, 0.25-0.5 on all), so the cap is far above the
# district's year; every fit there took about a second on one thread.
CV_MAX_ROWS = 100_000


def choose_log_penalty(matrix, target: np.ndarray, w1: np.ndarray, groups: np.ndarray | None,
                       fallback: float) -> tuple[float, dict[str, float]]:
    """(the log-link fit's penalty, each grid penalty's held-out error) for ``log_ridge_alpha="cv"``
    (``fallback``: the ridge's penalty):
    CV_FOLDS folds of branches (``groups``: each list's branch; the sorted ids dealt out in turn, so
    the same lists give the same folds), on every k-th branch beyond CV_MAX_ROWS lists. In each
    fold the grid's penalties are fitted heaviest first, each warm-started from the one before (on
    many lists a step of the penalty can move the gradient less than the solver's tolerance: the fit
    then stays where the heavier one ended, the two errors are equal and the heavier wins); a fit
    that fails (or a fold whose mean is not positive) ends its fold's path, and only penalties
    fitted in every fold are compared. The weighted squared error of exp(linear predictor), capped
    as the estimate is (``effects.MAX_MULTIPLICATIVE_LOG``), over the held-out lists; the least
    wins, the heavier on a tie. Without ``branch_id`` in X, with fewer than MIN_CV_BRANCHES
    branches or nothing fitted in every fold: the ridge's penalty, and no errors."""
    fallback_choice = (float(fallback), {})
    if groups is None:
        return fallback_choice
    keys = np.array([str(g) for g in groups], dtype=object)
    branches, code = np.unique(keys, return_inverse=True)  # sorted ids
    if len(branches) < MIN_CV_BRANCHES:
        return fallback_choice
    step = max(1, math.ceil(len(keys) / CV_MAX_ROWS))
    if step > 1:  # every step-th branch, its lists all
        kept = code % step == 0
        matrix, target, w1, code = matrix[kept], target[kept], w1[kept], code[kept] // step
    fold = code % CV_FOLDS
    sse = np.zeros(len(LOG_PENALTY_GRID))
    fitted = np.zeros(len(LOG_PENALTY_GRID), dtype=int)
    for k in range(CV_FOLDS):
        train, test = fold != k, fold == k
        if not (train.sum() >= 10 and test.any()
                and np.average(target[train], weights=w1[train]) > MIN_MULTIPLICATIVE_MEAN):
            continue
        glm = log_link_glm(LOG_PENALTY_GRID[0], w1[train], warm_start=True)
        X_train, X_test = matrix[train], matrix[test]
        for j, penalty in enumerate(LOG_PENALTY_GRID):
            glm.set_params(alpha=penalty / float(w1[train].sum()))
            if fit_glm(glm, X_train, target[train], w1[train]):
                break
            z = np.minimum(X_test @ glm.coef_ + glm.intercept_, MAX_MULTIPLICATIVE_LOG)
            sse[j] += float(np.sum(w1[test] * (target[test] - np.exp(z)) ** 2))
            fitted[j] += 1
    whole = fitted == CV_FOLDS
    if not whole.any():
        return fallback_choice
    error = sse / float(w1.sum())
    best = min(np.flatnonzero(whole), key=lambda j: error[j])  # the first (heaviest) of equals
    return LOG_PENALTY_GRID[best], {f"{p:g}": round(float(error[j]), 8)
                                    for j, p in enumerate(LOG_PENALTY_GRID) if whole[j]}


def log_link_glm(penalty: float, w1: np.ndarray, warm_start: bool = False) -> TweedieRegressor:
    """The multiplicative fit's GLM for ``penalty`` on lists weighing ``w1``. sklearn's GLM weighs its
    penalty against the mean deviance, the ridge against the sum of squares: hence the division.
    L-BFGS: Newton's method meets a Hessian that is not positive with a log link and normal errors."""
    return TweedieRegressor(power=0.0, link="log", alpha=float(penalty) / float(w1.sum()), solver="lbfgs",
                            max_iter=500, warm_start=warm_start)


def fit_glm(glm: TweedieRegressor, matrix, target: np.ndarray, w1: np.ndarray) -> str | None:
    """Fit ``glm``; None when it converged to finite coefficients, else why not (an exception's class
    name, or "not finite")."""
    try:  # models are fitted by the command line, not in the service's threads: the filters are ours
        with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
            warnings.simplefilter("error", ConvergenceWarning)
            warnings.simplefilter("error", RuntimeWarning)
            glm.fit(matrix, target, sample_weight=w1)
    except (ConvergenceWarning, RuntimeWarning, FloatingPointError, ValueError, np.linalg.LinAlgError) as exc:
        return exc.__class__.__name__
    if not (np.all(np.isfinite(glm.coef_)) and math.isfinite(glm.intercept_)):
        return "not finite"
    return None


__all__ = ["CV_FOLDS", "CV_MAX_ROWS", "LOG_PENALTY_GRID", "MIN_CV_BRANCHES", "MIN_MULTIPLICATIVE_MEAN",
           "choose_log_penalty", "fit_glm", "log_link_glm"]
