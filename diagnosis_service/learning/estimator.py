"""The effectiveness model: which remedies worked, for which branches.

``EffectivenessModel`` follows scikit-learn's estimator contract (parameters in ``__init__``, learned
state in attributes ending in ``_``, ``fit``/``predict``/``score``). It predicts the improvement a
branch's weakness can expect from recommending a remedy first:

    expected improvement = P(adopted) x improvement if adopted

- improvement if adopted: on the adopted lists with a measured outcome, the improvement (above the
  non-adopters' average) on one-hot features (resource, kind, kind x branch type, topic, kind x topic,
  main topic or not, street, street x on site) and numbers (how far below the norm, branch size,
  repeats; with ``weakness_flags``, whether the branch had a list for the same weakness last month or 2
  to 3 months before: off by default, measured no better, docs/effectiveness.md), fitted twice
  and the two estimates blended (``blend``, the multiplicative one's share); with ``noise_weights`` (the
  default) each list weighted inversely to its rule's outcome noise (``noise.rule_weights``):
  - additive: a ridge regression. The L2 penalty (``ridge_alpha``) is the shrinkage: a resource's own
    coefficient stays near 0 until its record says otherwise, so a new or rarely used resource starts
    at the average of its kind and topic (cold start on purpose);
  - multiplicative: the same features with a log link (a normal GLM, exp of the linear predictor) and
    an L2 penalty on the sum of squares as the ridge's (``log_ridge_alpha``: "cv", the default, chooses
    it by cross-validation grouped by branch, ``log_link.choose_log_penalty``, so that it lightens as a district's
    data grow; None: ``ridge_alpha``; the penalty used is ``log_ridge_alpha_``): a resource's quality
    scales with how well its kind suits the branch, rather than adding to it. Which of the two a district follows is not known; their average picked
    better than the additive fit alone on 15 of 18 fixed logs (docs/effectiveness.md). Where the adopted lists' mean improvement is not positive (a log
    link cannot fit it) or the fit fails, the additive estimate is used alone.
- P(adopted): partial pooling (empirical Bayes) over every list it is fitted on (``train.measurable``:
  those with a measured outcome, so not the latest month's): the overall rate, then kind x
  branch type, then resource x branch type, each level shrunk toward the one above with
  ``adoption_strength`` pseudo-observations. With ``adoption_offsets`` (the default) the level above a
  resource x branch type is its kind x type rate plus the resource's own offset, its mean departure
  from those rates over all its lists, whatever the type (``pooling.resource_rates``).
- the uncertainty of a resource's effect (for Thompson sampling): the residual spread divided by
  sqrt(its adopted lists + ``prior_strength``).
- lists of branches that never answer (``silent_branch``): whether each was adopted is estimated from
  the outcome that followed (EM over a two-part mixture), and both parts above are fitted with those
  probabilities as weights; elsewhere a list without an answer counts as not adopted.

The ranker that uses it is ``policy.LearnedRanker``; persistence is ``persist`` (JSON, no pickle).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from .design import ADDED_LATER, feature_frame, one_hot_design
from .effects import effect_list, need_candidates
from .features import FEATURES, WEAKNESS_FLAGS, used_features
from .log_link import LOG_PENALTY_GRID, MIN_MULTIPLICATIVE_MEAN, choose_log_penalty, fit_glm, log_link_glm
from .noise import rule_weights
from .pooling import resource_rates, shrunk_means

SD_FLOOR = 0.01  # the least spread the silent-list EM assumes for an outcome (clipped outcomes repeat)


class EffectivenessModel(BaseEstimator, RegressorMixin):
    """Expected improvement of a weakness when a remedy is recommended first (see module docs)."""

    def __init__(self, prior_strength: float = 5.0, adoption_strength: float = 20.0, ridge_alpha: float = 4.0,
                 blend: float = 0.5, adoption_offsets: bool = True,
                 log_ridge_alpha: float | str | None = "cv", weakness_flags: bool = False,
                 noise_weights: bool = True):
        self.prior_strength = prior_strength
        self.adoption_strength = adoption_strength
        self.ridge_alpha = ridge_alpha
        self.blend = blend
        self.adoption_offsets = adoption_offsets
        self.log_ridge_alpha = log_ridge_alpha
        self.weakness_flags = weakness_flags
        self.noise_weights = noise_weights

    # ---------------------------------------------------------------- fitting

    def fit(self, X: pd.DataFrame, y: Sequence[float]) -> EffectivenessModel:
        """``X``: one row per served list (FEATURES plus ``adopted``); ``y``: the measured improvement
        of the weakness (outcomes.compute), NaN where not measurable yet."""
        X = X.reset_index(drop=True)
        # A frame from before the repeat, on-site and adopted-repeat features: no repeats known, nothing on site.
        X = X.assign(**{c: 0.0 for c in ADDED_LATER if c not in X.columns})
        y = np.asarray(y, dtype=float)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows and y {len(y)}")
        missing = [c for c in (*FEATURES, "adopted") if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks columns {missing}")
        if isinstance(self.log_ridge_alpha, str) and self.log_ridge_alpha != "cv":
            raise ValueError(f"log_ridge_alpha must be a number, None or 'cv', not {self.log_ridge_alpha!r}")
        used = used_features(self.weakness_flags)
        self.feature_names_in_ = np.array(used, dtype=object)
        self.n_features_in_ = len(used)
        adopted = X["adopted"].astype(bool).to_numpy().astype(float)
        silent = (X["silent_branch"].astype(bool).to_numpy() if "silent_branch" in X.columns
                  else np.zeros(len(X), dtype=bool))
        self.silent_adoption_ = None
        # A list counts inversely to its rule's noise, seen in answering branches' lists not adopted.
        self._noise = rule_weights(X["rule"], y, (adopted == 0) & ~silent)[0] \
            if self.noise_weights and "rule" in X.columns else None
        # The additive estimate alone until the multiplicative one is fitted last (the EM below uses it).
        self.log_coef_: dict[str, float] = {}
        self.log_intercept_: float | None = None
        self.multiplicative_ = "not fitted"
        self.log_ridge_alpha_: float | None = None  # the log-link fit's penalty, once it is fitted
        self.log_cv_: dict[str, float] = {}  # log_ridge_alpha="cv": each penalty's held-out error
        weight = adopted.copy()
        if silent.any() and (~silent).any():
            weight[silent] = float(adopted[~silent].mean())  # to start with: as often as those who answer
        design = self._fit_weighted(X, y, weight)
        if silent.any() and self.n_effect_obs_ >= 10:
            # Lists of secretaries who never answer: "no answer" is not "not adopted" there. Whether each
            # was adopted is estimated from the outcome that followed (EM over a two-part mixture: the
            # adopters' outcomes around the zero point plus the predicted effect, the others' around the
            # zero point), and the model refitted with those estimates as weights.
            self.silent_adoption_, weight, design = self._silent_em(X, y, adopted, silent)
        self._fit_multiplicative(X, y, weight, design)
        return self

    def _silent_em(self, X: pd.DataFrame, y: np.ndarray, adopted: np.ndarray, silent: np.ndarray,
                   rounds: int = 20) -> tuple[float, np.ndarray, tuple | None]:
        """Estimate adoption of the silent branches' lists; refit with it. Returns their adoption rate,
        every list's weight and the last fit's design (``_fit_weighted``). Spreads are re-estimated each round and kept above SD_FLOOR (clipped outcomes
        are often exactly equal), likelihoods compared in log space, and the rate kept inside (0, 1)."""
        answered = ~silent
        ok = np.isfinite(y)
        rows = X[silent]
        pi = float(np.clip(np.mean(adopted[answered]) if answered.any() else 0.5, 0.02, 0.98))
        weight = adopted.copy()
        weight[silent] = pi
        ys = y[silent]
        has = np.isfinite(ys)
        for _ in range(rounds):
            w0 = (1.0 - weight)[ok]
            sd0 = max(math.sqrt(float(np.average((y[ok] - self.zero_point_) ** 2, weights=w0))) if w0.sum() > 0
                      else 1.0, SD_FLOOR)
            sd1 = max(self.sigma_, SD_FLOOR)
            mu1 = self.zero_point_ + self._effects(rows)
            log1 = math.log(pi) - 0.5 * ((ys - mu1) / sd1) ** 2 - math.log(sd1)
            log0 = math.log(1 - pi) - 0.5 * ((ys - self.zero_point_) / sd0) ** 2 - math.log(sd0)
            with np.errstate(invalid="ignore", over="ignore"):
                r = np.where(has, 1.0 / (1.0 + np.exp(np.clip(log0 - log1, -700, 700))), pi)
            weight[silent] = r
            new_pi = float(np.clip(np.mean(r), 0.02, 0.98))
            design = self._fit_weighted(X, y, weight)
            if abs(new_pi - pi) < 1e-4:
                pi = new_pi
                break
            pi = new_pi
        return round(pi, 6), weight, design

    def _fit_weighted(self, X: pd.DataFrame, y: np.ndarray, weight: np.ndarray) -> tuple | None:
        """Fit with each list's probability of having been adopted (1 or 0 when its secretary said).
        Returns the ridge's design (vectorizer, matrix) for the multiplicative fit of the same lists,
        None when there were too few to fit one."""
        binary = bool(np.isin(weight, (0.0, 1.0)).all())
        adopted = weight > 0

        # Adoption, from every list.
        a = X.assign(_a=weight)
        self.adoption_global_ = float(a["_a"].mean()) if len(a) else 0.5
        ka = float(self.adoption_strength)
        self.adoption_kind_type_ = shrunk_means(a, ["kind", "branch_type"], "_a", {}, self.adoption_global_, ka, ())
        if self.adoption_offsets:  # a resource's pull over its kind, learned from every branch type
            self.adoption_resource_type_ = resource_rates(a, "_a", self.adoption_kind_type_, self.adoption_global_,
                                                          ka)
        else:
            self.adoption_resource_type_ = shrunk_means(a, ["resource_id", "branch_type"], "_a",
                                                        self.adoption_kind_type_, self.adoption_global_, ka,
                                                        ("kind", "branch_type"))

        # Effect if adopted: the ridge of the module docs, its target measured against the non-adopters'
        # average (the measurement's zero point).
        ok = np.isfinite(y)
        if binary:
            zero = y[ok & ~adopted]
            self.zero_point_ = float(zero.mean()) if len(zero) else 0.0
        else:
            w0 = (1.0 - weight)[ok]
            self.zero_point_ = float(np.average(y[ok], weights=w0)) if w0.sum() > 0 else 0.0
        e = X[ok & adopted].reset_index(drop=True)
        target = y[ok & adopted] - self.zero_point_
        w1 = weight[ok & adopted]
        self.n_effect_obs_ = int(len(e)) if binary else int(round(float(w1.sum())))
        self.effect_global_ = (float(target.mean()) if binary else float(np.average(target, weights=w1))) \
            if len(e) else 0.0
        self.streets_ = sorted({str(s) for s in X["street"].dropna().unique()})
        self.coef_: dict[str, float] = {}
        self.intercept_ = self.effect_global_
        built = None
        if len(e) >= 10:
            # Without weakness_flags the flags are not in the design: the fit is the one made before them.
            names, design = built = one_hot_design(e, () if self.weakness_flags else WEAKNESS_FLAGS)
            ridge = Ridge(alpha=float(self.ridge_alpha)).fit(
                design, target, sample_weight=self._noisy(w1, ok & adopted) if self._noise is not None
                else None if binary else w1)
            self.coef_ = {name: float(c) for name, c in zip(names, ridge.coef_, strict=True)
                          if c != 0.0}
            self.intercept_ = float(ridge.intercept_)
        # Evidence counts the lists known (or judged more likely than not) to have been adopted.
        counted = e[w1 >= 0.5] if len(e) else e
        self.evidence_ = {str(r): int(n) for r, n in counted.groupby("resource_id").size().items()} \
            if len(counted) else {}
        self.counts_ = {f"{r}|{t}": int(n) for (r, t), n in counted.groupby(["resource_id", "topic"]).size().items()}
        resid = target - (self._effects(e) if len(e) else np.array([]))
        if binary:
            self.sigma_ = float(np.std(resid)) if len(resid) > 1 else 1.0
        else:  # lists judged unlikely to have been adopted must not widen the adopters' spread
            self.sigma_ = math.sqrt(float(np.average((resid - np.average(resid, weights=w1)) ** 2, weights=w1))) \
                if len(resid) > 1 and w1.sum() > 0 else 1.0
        return built

    def _fit_multiplicative(self, X: pd.DataFrame, y: np.ndarray, weight: np.ndarray, design: tuple | None) -> None:
        """The log-link fit of the effect if adopted (module docs), on the same lists, weights and
        ``design`` as the additive one (``_fit_weighted`` built it); left out (``log_intercept_`` None, the
        reason in ``multiplicative_``) when it cannot be fitted."""
        ok = np.isfinite(y) & (weight > 0)
        e = X[ok].reset_index(drop=True)
        target, w1 = y[ok] - self.zero_point_, weight[ok]
        w1 = w1 if self._noise is None else self._noisy(w1, ok)
        if self.blend <= 0:
            self.multiplicative_ = "not asked for (blend 0)"
            return
        if len(e) < 10 or design is None:
            self.multiplicative_ = "left out: fewer than 10 adopted lists with an outcome"
            return
        if not np.average(target, weights=w1) > MIN_MULTIPLICATIVE_MEAN:
            self.multiplicative_ = "left out: the adopted lists' mean improvement is not positive"
            return
        names, matrix = design
        # One OpenMP thread: the GLM's loss is computed point by point in parallel and summed by numpy (the
        # same floats either way), and on a busy 2-core host the second thread's waits made a fit 3x (a
        # district's year) to 70x (200 branches, 2,500 lists) slower.
        with threadpool_limits(limits=1, user_api="openmp"):
            if self.log_ridge_alpha == "cv":
                groups = e["branch_id"].to_numpy() if "branch_id" in e.columns else None
                penalty, self.log_cv_ = choose_log_penalty(matrix, target, w1, groups, self.ridge_alpha)
            else:
                penalty = float(self.ridge_alpha if self.log_ridge_alpha is None else self.log_ridge_alpha)
            glm = log_link_glm(penalty, w1)
            failed = fit_glm(glm, matrix, target, w1)
        if failed:
            self.multiplicative_ = f"left out: the fit failed ({failed})"
            return
        self.log_coef_ = {name: float(c) for name, c in zip(names, glm.coef_, strict=True)
                          if c != 0.0}
        self.log_intercept_ = float(glm.intercept_)
        self.log_ridge_alpha_ = penalty
        self.multiplicative_ = "fitted"

    def _noisy(self, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``w`` (the weights of ``rows``) times their rules' noise weights, scaled to the same total."""
        out = w * self._noise[rows]
        return out * (w.sum() / out.sum()) if out.sum() > 0 else w

    # ---------------------------------------------------------------- prediction

    def uncertainty(self, resource_id: str) -> float:
        """Standard deviation of a resource's effect estimate (smaller with more evidence)."""
        return self.sigma_ / math.sqrt(self.evidence_.get(resource_id, 0) + self.prior_strength)

    def _adoption(self, row) -> float:
        key = f"{row.resource_id}|{row.branch_type}"
        if key in self.adoption_resource_type_:
            return self.adoption_resource_type_[key]
        return self.adoption_kind_type_.get(f"{row.kind}|{row.branch_type}", self.adoption_global_)

    def _effect_list(self, rows: Iterable) -> list[float]:
        """The effect of each row (``effects.effect_list``)."""
        return effect_list(self, rows)

    def predict_candidates(self, topic: str, branch_type: str, street: str | None, members: float, shortfall: float,
                           candidates: Sequence[tuple[str, str, bool]], repeat: Sequence[float],
                           repeat_kind: Sequence[float], on_site: Sequence[float] | None = None,
                           repeat_adopted: Sequence[float] | None = None, weakness_months: float = 0.0
                           ) -> list[tuple[float, float, int, float]]:
        """(improvement if adopted, P(adopted), evidence for ``topic``, uncertainty) of each candidate
        (resource id, kind, whether ``topic`` is its main one; ``on_site``: whether each is used on site;
        ``repeat_adopted``: whether the branch said it adopted it lately) for one need
        (``weakness_months``: since the branch's last list for the weakness, 0 for none): the very floats
        ``predict_rows``, ``evidence`` and ``uncertainty`` give for the rows the need makes
        (``effects.need_candidates``)."""
        return need_candidates(self, topic, branch_type, street, members, shortfall, candidates, repeat, repeat_kind,
                               on_site, repeat_adopted, weakness_months)

    def _effects(self, X: pd.DataFrame) -> np.ndarray:
        return np.array(self._effect_list(feature_frame(X).itertuples(index=False)), dtype=float)

    def predict_rows(self, rows: Sequence) -> tuple[list[float], list[float]]:
        """(improvement if adopted, P(adopted)) for rows with the FEATURES as attributes: the fast path
        of ranking one branch (building a DataFrame would cost more than the prediction)."""
        return self._effect_list(rows), [self._adoption(r) for r in rows]

    def predict_effect(self, X: pd.DataFrame) -> np.ndarray:
        """Improvement if adopted."""
        return self._effects(X)

    def predict_adoption(self, X: pd.DataFrame) -> np.ndarray:
        return np.array([self._adoption(r) for r in feature_frame(X).itertuples(index=False)], dtype=float)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Expected improvement when recommended first: P(adopted) x improvement if adopted."""
        return self.predict_adoption(X) * self.predict_effect(X)

    def evidence(self, resource_id: str, topic: str | None = None) -> int:
        """Adopted and measured lists behind a resource's estimate (for one topic, if given)."""
        if topic is None:
            return self.evidence_.get(resource_id, 0)
        return self.counts_.get(f"{resource_id}|{topic}", 0)

    # ---------------------------------------------------------------- persistence

    def state(self) -> dict:
        return {k: getattr(self, k) for k in sorted(vars(self)) if k.endswith("_") and not k.startswith("_")
                and k != "feature_names_in_"}

    @classmethod
    def from_state(cls, params: dict, state: dict) -> EffectivenessModel:
        """A fitted model from ``params`` and ``state()`` (``persist.load`` checks a file's state first)."""
        model = cls(**params)
        # A file from before the multiplicative fit: the additive estimate alone.
        model.log_coef_, model.log_intercept_, model.multiplicative_ = {}, None, "absent (a model from before it)"
        model.log_ridge_alpha_, model.log_cv_ = None, {}  # a file from before they were kept: not known
        model.silent_adoption_ = None
        for k, v in state.items():
            setattr(model, k, v)
        model.feature_names_in_ = np.array(used_features(model.weakness_flags), dtype=object)
        return model


__all__ = ["LOG_PENALTY_GRID", "EffectivenessModel"]
