"""What happened after a prescription: the outcome the effectiveness model learns from.

For each served list (one weakness of one branch in period P; its first item is the recommendation
acted on) the weakness's indicator (the rule's primary indicator) is followed for up to ``horizon``
months after P (docs/effectiveness.md):

    after          = sum over h of c_h x value at P+h (h = 1 .. horizon, months with data; see below);
                     baseline = mean(value at P-2 .. P)
    others_*       = the part of each mean due to the branch's other adopted remedies on the same
                     indicator (earlier or later than P) whose months fall in that window
    change         = (after - others_after) - w_rule x C x (baseline - others_baseline), C = the sum of
                     the c_h (1 when every month weighs alike): a branch's level cancels
    control_change = mean change of comparable branches whose secretary did not adopt (declined or
                     ignored): same period, same weakness (the same rule, so the same indicator), same
                     branch type; shrunk toward the same period and rule across types, and that toward
                     the rule in every period (CONTROL_SHRINK pseudo-observations each)
    improvement    = direction x (change - control_change) / max(|reference - value at P|, floor)

``direction`` is +1 when higher is better for the rule (a "below the norm" rule: lt, le, eq) and -1
otherwise (gt, ge). Comparing with non-adopters removes what happens anyway (a branch far below the
district average tends to move back toward it); dividing by the gap to the norm puts indicators of
different units on one scale: 0.3 means "closed 30% of the gap" (for a rule that compares with 0,
such as "none held", the gap counts as 1; for rates and scores the floor is 5 points). The baseline
is the mean of three months, not the month of the diagnosis alone: month-to-month noise is as large
as many remedies' effects, and a single-month baseline doubles its weight in the outcome. The
baseline weight ``w_rule`` is the slope of the after-mean on the baseline among comparable lists (a
regression adjustment): where months are mostly noise, subtracting the whole baseline adds its noise.

Effect duration: an effect need not last the whole horizon alike (a lesson's may fade after a
month). The months after P are weighed by the effect's profile, measured from the data: the mean
improvement of the adopted lists month by month (each month against its own control), relative to
its mean (``window_profile``; all ones when effects last, or with fewer than MIN_PROFILE_ROWS adopted
lists followed for the whole horizon). With profile m, c_h = m_h / sum of m_k^2 over the months k
with data: the least-squares estimate of the effect's size (its mean over the horizon) from the
months observed, which is the plain mean when m is flat. Weighing months by how much effect they
carry is what keeps a fading effect from drowning in the months it has left (in a world where effects
halve each month it raised the correlation of measured and true effects by a quarter).

Other remedies: a secretary who did not adopt this month is likely to be prescribed for the same
weakness next month and to adopt then, so the non-adopters' later months carry more remedies than the
adopters'; an earlier remedy lifts the baseline months. Left in, they made every effect look 10-30%
smaller (measured in the closed loop). A remedy is taken to act for ``horizon`` months from the month
after its decision, by its expected improvement (its resource's measured mean for the rule, shrunk
toward the rule's mean), re-estimated from the corrected outcomes until the estimates settle.
Adopted, declined and ignored stay apart in ``status``; the model learns effects from adopted lists
and adoption rates from all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..rules.model import RuleSet
from .outcome_groups import Groups, as_keys, sum_count

HORIZON = 3  # months after a decision its outcome is followed for
ADOPTED = ("adopted", "completed")
STATUSES = ("adopted", "completed", "declined", "ignored")
LOG_COLUMNS = ("branch_id", "period", "pidx", "topic", "rule", "indicator", "resource_id", "kind", "propensity",
               "status", "branch_type", "street", "members", "value", "reference")


def _mean(stacked: np.ndarray) -> np.ndarray:
    """Column means over the non-missing values; NaN where a column has none."""
    counts = (~np.isnan(stacked)).sum(axis=0)
    return np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)


GAP_FLOOR = {"percent": 5.0, "score": 5.0}  # other units: 1
CLIP = 2.0  # measured improvements are clipped to [-CLIP, CLIP] for training and effect estimates
BASELINE = 3  # months in the baseline: P-2 .. P
EFFECT_SHRINK = 5.0  # pseudo-observations pulling a resource's effect toward its rule's mean
ROUNDS = 10  # at most this many re-estimations of the other remedies' effects ...
SETTLED = 1e-3  # ... stopping when no resource's estimate moves more than this (shares of the gap)
CONTROL_SHRINK = 5.0  # pseudo-observations pulling a control group's mean toward the wider group's
MIN_PROFILE_ROWS = 200  # adopted lists followed for the whole horizon before the effect's profile is used
MIN_SLOPE_ROWS = 50  # a rule's baseline weight is estimated from at least this many lists (else 1)
SLOPE_BOUND = 2.0  # and kept within [0, 2] (a guard against degenerate data)


def gap_scale(unit: str | None, reference: float | None, value: float | None) -> float:
    """The gap to the norm an outcome is measured in, never below the unit's floor: a rate a point
    below 100% moves by several points a month on its own, and dividing that noise by one point would
    let it swamp every effect."""
    gap = abs((reference or 0.0) - (value or 0.0))
    return max(gap, GAP_FLOOR.get(unit or "", 1.0))


def direction(ruleset: RuleSet, rule_id: str) -> float:
    rule = ruleset.rule(rule_id)
    if rule is None:
        return 1.0
    return -1.0 if rule.primary.op in ("gt", "ge") else 1.0


def compute(log: pd.DataFrame, branch_metrics: pd.DataFrame, ruleset: RuleSet, horizon: int = HORIZON,
            rounds: int = ROUNDS, profile: bool = True) -> pd.DataFrame:
    """``log``: one row per served list (LOG_COLUMNS). ``branch_metrics``: pidx, branch_id and indicator
    columns (derived ones included where rules use them). Returns the log (index reset) with
    own_change (after - baseline, the baseline weighed as the months after are), other_remedies,
    baseline_weight, control_change, improvement (NaN when no later month with data carries any of the
    effect's profile: none has data yet, or only months where effects were found to show none) and
    adopted. ``rounds=0``: no correction for other remedies and a baseline weight of 1 (the plain
    difference in differences). ``profile=False``: every month after P weighs alike, however the
    effects are spread (``window_profile`` is then all ones)."""
    out = log.copy().reset_index(drop=True)
    if out.empty:
        for col in ("own_change", "other_remedies", "baseline_weight", "control_change", "improvement"):
            out[col] = pd.Series(dtype=float)
        out["adopted"] = pd.Series(dtype=bool)
        return out
    later, baseline, base_has = _windows(out, branch_metrics, horizon)
    out["adopted"] = out["status"].isin(ADOPTED)
    groups = Groups.of(out)
    dirs = out["rule"].map(lambda r: direction(ruleset, r)).to_numpy(dtype=float)
    units = out["indicator"].map(lambda i: getattr(ruleset.registry.get("branch", i), "unit", None))
    scale = np.array([gap_scale(u, r, v) for u, r, v in zip(units, out["reference"].fillna(0.0),
                                                               out["value"].fillna(0.0), strict=True)])
    has = ~np.isnan(later)
    shape = np.ones(horizon)
    coef = _window_coefficients(has, shape)
    after = _weighted(coef, later)
    base_coef = base_has / np.maximum(base_has.sum(axis=1, keepdims=True), 1)
    other_after, other_base = np.zeros(len(out)), np.zeros(len(out))
    theta = np.ones(len(out))
    control, improvement = _against_control(groups, after - baseline, dirs, scale)
    # The other remedies' effects, the effect's profile over the months and the baseline weight are
    # estimated from the outcomes being corrected: iterate to a fixed point (each round removes part of
    # the bias the last one left).
    effect = np.zeros(len(out))
    for done in range(rounds):
        previous, effect = effect, _effect_estimates(groups, improvement)
        if done and np.max(np.abs(effect - previous), initial=0.0) < SETTLED:
            break
        shifted = _shifted_lifts(groups, np.where(groups.adopted, effect * scale * dirs, 0.0), horizon)
        other_base = (base_coef * _month_lifts(shifted, range(1 - BASELINE, 1), shape)).sum(axis=1)
        later_lifts = _month_lifts(shifted, range(1, horizon + 1), shape)
        if profile:
            shape = window_profile(groups, later - later_lifts, theta * (baseline - other_base), dirs, scale)
            coef = _window_coefficients(has, shape)
        # The weights sum to 1 only for a flat profile: the baseline is weighed by their sum, and each
        # month is compared with its own control, so that what is weighed are changes and a branch's
        # level cancels whichever months it has.
        after, other_after, weight = _weighted(coef, later), (coef * later_lifts).sum(axis=1), coef.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # the slope of a weighted mean of the months
            theta = _baseline_weights(groups, (after - other_after) / weight, baseline - other_base)
        control, improvement = _by_month(groups, later - later_lifts, theta * (baseline - other_base), coef, dirs,
                                         scale)
    out.attrs["window_profile"] = [round(float(m), 4) for m in shape]
    weight = coef.sum(axis=1)
    out["own_change"] = after - weight * baseline
    out["other_remedies"] = other_after - theta * weight * other_base
    out["baseline_weight"] = theta
    out["control_change"] = control
    out["improvement"] = improvement
    return out


def _windows(out: pd.DataFrame, branch_metrics: pd.DataFrame,
             horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each list's values in the months after P (rows x horizon, NaN without data), its baseline mean,
    and which baseline months have data (rows x BASELINE months P-2 .. P)."""
    values = branch_metrics.set_index(["branch_id", "pidx"])
    later, baseline = np.full((len(out), horizon), np.nan), np.full(len(out), np.nan)
    base_has = np.zeros((len(out), BASELINE), dtype=bool)
    for indicator, rows in out.groupby("indicator").groups.items():
        if indicator not in values.columns:
            continue
        series = values[indicator]
        sub = out.loc[rows]
        at = out.index.get_indexer(rows)

        def months(offsets, sub=sub, series=series) -> np.ndarray:
            return np.vstack([series.reindex(pd.MultiIndex.from_arrays(
                [sub["branch_id"].to_numpy(), sub["pidx"].to_numpy() + h])).to_numpy(dtype=float) for h in offsets])

        later[at] = months(range(1, horizon + 1)).T
        # The month of the diagnosis from the log (what the rule saw), the two before from the metrics.
        earlier = np.vstack([months(range(1 - BASELINE, 0)), sub["value"].to_numpy(dtype=float)])
        with np.errstate(all="ignore"):
            baseline[at] = _mean(earlier)
        base_has[at] = ~np.isnan(earlier.T)
    return later, baseline, base_has


def window_profile(groups: Groups, later: np.ndarray, baseline: np.ndarray, dirs: np.ndarray,
                   scale: np.ndarray) -> np.ndarray:
    """How an adopted remedy's effect is spread over the months after its decision, relative to its
    mean (all ones: alike in every month). Measured on the adopted lists followed for the whole
    horizon, each month's change against that month's control (``later`` and ``baseline`` as given: the
    caller takes the other remedies out); all ones with fewer than MIN_PROFILE_ROWS such lists or no
    positive mean effect. Months with a negative mean count as carrying none."""
    horizon = later.shape[1]
    full = groups.adopted & ~np.isnan(later).any(axis=1) & np.isfinite(baseline)
    if full.sum() < MIN_PROFILE_ROWS:
        return np.ones(horizon)
    means = np.array([np.clip(_against_control(groups, later[:, h] - baseline, dirs, scale)[1][full], -CLIP, CLIP).mean()
                      for h in range(horizon)])
    means = np.clip(means, 0.0, None)
    return means / means.mean() if means.mean() > 0 else np.ones(horizon)


def _by_month(groups: Groups, later: np.ndarray, baseline: np.ndarray, coef: np.ndarray, dirs: np.ndarray,
              scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(control_change, improvement) of the months after P weighed by ``coef``: each month's change from
    ``baseline`` against that month's control. NaN where no month with weight has data."""
    control, improvement = np.zeros(len(baseline)), np.zeros(len(baseline))
    for h in range(later.shape[1]):
        month_control, month_improvement = _against_control(groups, later[:, h] - baseline, dirs, scale)
        w = coef[:, h]
        control += w * month_control
        improvement += np.where(w > 0, w * np.nan_to_num(month_improvement), 0.0)
    measured = (coef.sum(axis=1) > 0) & np.isfinite(baseline)
    return control, np.where(measured, improvement, np.nan)


def _window_coefficients(has: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Per list, the weight of each month after P in its after-mean (rows x horizon): the least-squares
    estimate of an effect shaped like ``profile`` from the months with data (the plain mean of those
    months when the profile is flat; zeros where no month with data carries any effect)."""
    shaped = has * profile
    norm = (shaped * profile).sum(axis=1, keepdims=True)
    return np.divide(shaped, norm, out=np.zeros_like(shaped, dtype=float), where=norm > 0)


def _baseline_weights(groups: Groups, after: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Per rule, how much of the baseline to subtract: the slope of the after-mean on the baseline
    within comparable lists (same period, rule and branch type; adoption held apart), the regression
    adjustment of a randomised comparison. Subtracting all of it (weight 1) is right only when a
    branch's months are strongly correlated; where they are mostly noise it adds the baseline's noise
    to every outcome. Weight 1 for rules with fewer than MIN_SLOPE_ROWS measurable lists."""
    ok = np.isfinite(after) & np.isfinite(baseline)
    cols = np.column_stack([after, baseline, groups.adopted.astype(float)])[ok]
    comparable = groups.comparable[ok]
    rule = groups.rule[ok]
    slope = np.ones(int(groups.rule.max(initial=-1)) + 2)  # the last slot: a row without a rule
    order = np.argsort(rule, kind="stable")  # each rule's rows in the log's order
    bounds = np.flatnonzero(np.diff(rule[order])) + 1
    for rows in np.split(order, bounds) if len(order) else []:
        if len(rows) < MIN_SLOPE_ROWS or rule[rows[0]] < 0:
            continue
        mine = cols[rows]  # centred within the rule's comparable lists, rule by rule: the same sums to the bit
        centred = mine - pd.DataFrame(mine).groupby(comparable[rows]).transform("mean").to_numpy()
        design = centred[:, 1:]
        if np.linalg.matrix_rank(design) < 2:
            continue
        fitted = np.linalg.lstsq(design, centred[:, 0], rcond=None)[0][0]
        slope[rule[rows[0]]] = float(np.clip(fitted, 0.0, SLOPE_BOUND))
    return slope[groups.rule]


def _against_control(groups: Groups, own: np.ndarray, dirs: np.ndarray,
                     scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(control_change, improvement) for the given own changes."""
    rest = ~groups.adopted
    # Indicators of one topic drift differently (regression to the mean is stronger for some): the
    # comparison is with the same rule, not merely the same topic. A period's few non-adopters of one
    # type make a noisy mean, and its noise lands on every adopter compared with it: each level is
    # shrunk toward the wider one (measured in the closed loop: a tenth less noise in the outcomes).
    control = np.zeros(len(own))  # a rule without non-adopters: no change expected
    for level, codes in enumerate(groups.control):
        total, n = sum_count(codes, own, rest)
        k = CONTROL_SHRINK if level else 0.0
        total = total + k * control
        control = np.divide(total, n + k, out=control, where=n + k > 0)
    return control, dirs * (own - control) / scale


def _effect_estimates(groups: Groups, improvement: np.ndarray) -> np.ndarray:
    """Each adopted list's expected improvement in shares of its gap: its resource's mean for the rule,
    shrunk toward the rule's mean (EFFECT_SHRINK pseudo-observations)."""
    y = np.clip(improvement, -CLIP, CLIP)
    ok = groups.adopted & np.isfinite(improvement)
    if not ok.any():
        return np.zeros(len(y))
    rule_sum, rule_n = sum_count(groups.rule, y, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        rule_mean = rule_sum / rule_n  # NaN for a rule without a measured adopted list
        per_sum, per_n = sum_count(groups.resource, y, ok)
        shrunk = (per_sum + EFFECT_SHRINK * rule_mean) / (per_n + EFFECT_SHRINK)
    return np.nan_to_num(np.where(per_n > 0, shrunk, rule_mean))


def _shifted_lifts(groups: Groups, lift: np.ndarray, horizon: int) -> dict[int, np.ndarray]:
    """For each offset d (months from this list's decision; d < 0: before), what the other adopted
    remedies on the same branch and indicator decided at P+d add per month at full strength (``lift``:
    in the indicator's units), for every offset that can reach this list's baseline or after months."""
    reach = BASELINE + horizon
    first = int(groups.pidx.min()) - reach
    width = int(groups.pidx.max()) - first + reach + 1  # every month an offset can reach, per series
    at = groups.series * width + (groups.pidx - first)
    known = groups.series >= 0  # a list without a branch or an indicator has no others
    by_month = pd.Series(lift).groupby(as_keys(np.where(known, at, -1))).sum()
    by_month.index = by_month.index.astype(np.int64)
    shifted = {}
    for d in range(-(BASELINE + horizon - 1), horizon):
        others = np.where(known, by_month.reindex(at + d, fill_value=0.0).to_numpy(dtype=float), 0.0)
        shifted[d] = others - (lift if d == 0 else 0.0)  # not its own
    return shifted


def _month_lifts(shifted: dict[int, np.ndarray], months: range, profile: np.ndarray) -> np.ndarray:
    """The other remedies' lift in each of ``months`` (offsets from P; rows x months): a remedy decided
    at offset d acts in the month d + k (k = 1 .. horizon) with ``profile[k - 1]`` of its strength."""
    horizon = len(profile)
    out = np.zeros((len(next(iter(shifted.values()))), len(months)))
    for col, month in enumerate(months):
        for d, lifts in shifted.items():
            if 1 <= month - d <= horizon:
                out[:, col] += profile[month - d - 1] * lifts
    return out


def _weighted(coef: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Rows' weighted sums over the months with data; NaN where no month has any weight."""
    with np.errstate(invalid="ignore"):
        return np.where(coef.sum(axis=1) > 0, np.nansum(coef * values, axis=1), np.nan)


__all__ = ["ADOPTED", "CLIP", "LOG_COLUMNS", "STATUSES", "compute", "direction", "window_profile"]
