"""A comparison's verdict (``learning.rollout``): whether a candidate is promoted, and why, in English
and in Chinese. The rules are the rollout module's docstring's; here only the figures' thresholds and
what is said of them."""

from __future__ import annotations

import numpy as np

MIN_DECISIONS = 100  # held-out decisions with outcomes below which no challenger is promoted
# A refresh needs fewer (``verdict_said``): below this, two months' bootstrap bounds say nothing at all.
MIN_REFRESH_DECISIONS = 20
# A challenger's mean importance weight below which the log cannot judge it: 1 in expectation where every
# choice it makes could have been logged; where the logged lists were chosen without exploration it is
# the share of decisions on which the candidate agrees with them, and its estimate only the value of those
# (a deliberately bad model that kept the prior's easy choices was promoted on 2% of them).
MIN_SUPPORT = 0.5
CONFIDENCE = 0.9  # one-sided: a challenger is better, or a refresh worse, with this probability


def verdict(decisions: int, difference: float, bounds: tuple[float, float], ess: dict[str, float],
            min_decisions: int = MIN_DECISIONS, refresh: bool = False,
            confidence: float = CONFIDENCE, supported: float = 1.0) -> tuple[bool, str]:
    """(promote?, why) from a comparison's figures: ``bounds``, the difference's one-sided lower and upper
    bounds at ``confidence``; ``refresh``: see the module's docstring; ``supported``: the candidate's mean
    importance weight (``MIN_SUPPORT``). ``verdict_said`` gives the why in Chinese too."""
    promote, why, _ = verdict_said(decisions, difference, bounds, ess, min_decisions, refresh, confidence, supported)
    return promote, why


def verdict_said(decisions: int, difference: float, bounds: tuple[float, float], ess: dict[str, float],
                 min_decisions: int = MIN_DECISIONS, refresh: bool = False,
                 confidence: float = CONFIDENCE, supported: float = 1.0) -> tuple[bool, str, str]:
    """``verdict``'s (promote?, why in English, why in Chinese): the record and ``--json`` keep the English,
    a person reads the Chinese (``model promote``, ``--lang en`` for the English)."""
    if decisions < min_decisions and not (refresh and decisions >= min(MIN_REFRESH_DECISIONS, min_decisions)):
        return (False, f"too few held-out decisions with outcomes ({decisions} < {min_decisions})",
                f"有结果的留出决策太少（{decisions} < {min_decisions}）")
    if not refresh and not supported >= MIN_SUPPORT:  # first: where it never agrees with the log, no estimate
        return False, (f"the log could have made only {supported:.0%} of the candidate's choices (at least "
                       f"{MIN_SUPPORT:.0%} needed): its estimate is the value of the choices it shares with the "
                       f"logged ones, not of its own; the held-out lists were chosen with little exploration "
                       f"(DIAGNOSIS_PRIOR_EXPLORATION, DIAGNOSIS_LEARNED_EXPLORATION), --cross-fit judges a first "
                       f"candidate on earlier months too"), (
                       f"日志只可能做出候选模型 {supported:.0%} 的选择（至少需要 {MIN_SUPPORT:.0%}）：其估计只是它与"
                       f"日志相同的那些选择的价值，而非它自己的；留出月份的清单几乎未经探索（DIAGNOSIS_PRIOR_EXPLORATION、"
                       f"DIAGNOSIS_LEARNED_EXPLORATION），--cross-fit 还会在更早的月份上评判首个候选模型")
    if not (np.isfinite(bounds[0]) and np.isfinite(bounds[1])):
        return False, "no estimate of the difference", "无法估计差值"
    level, least = f"{round(confidence * 100, 1):g}%", min(ess.values(), default=0.0)
    said = (f"difference {difference:+.4f}, bounds at {level} [{bounds[0]:+.4f}, {bounds[1]:+.4f}], "
            f"effective samples {sample_said(least)}+")
    said_zh = (f"差值 {difference:+.4f}，{level} 置信界 [{bounds[0]:+.4f}, {bounds[1]:+.4f}]，"
               f"有效样本至少 {sample_said(least)}")
    if refresh:
        if bounds[1] < 0:
            return (False, f"the retrained model is worse than the model in service: {said}",
                    f"重新训练的模型比在用模型差：{said_zh}")
        # A log that says little (few decisions: a small district's two months; or a small effective
        # sample): not on a loss. Asking a refresh for MIN_DECISIONS kept a 200-branch district's service on
        # a model a month older every other month, and a smaller one's for good.
        few = (f"; {decisions} held-out decisions with outcomes (< {min_decisions})" if decisions < min_decisions
               else "", f"；有结果的留出决策 {decisions} 个（< {min_decisions}）" if decisions < min_decisions else "")
        if (least < 10 or few[0]) and difference < 0:
            return (False, f"the retrained model is estimated worse, on a log that says little: {said}{few[0]}",
                    f"重新训练的模型估计更差，而日志所含信息很少：{said_zh}{few[1]}")
        # "not worse with confidence", not "not worse": the estimate itself may be below zero (a platform
        # read "promoted ... not worse: difference -0.06" as a contradiction).
        return (True, f"a retrain of the model in service on later months, not worse with confidence: {said}{few[0]}",
                f"在用模型在更晚月份上的重新训练，没有把握说它更差：{said_zh}{few[1]}")
    if least < 10:
        return False, (f"the logged decisions say too little about one of the policies (effective sample "
                       f"{sample_said(least)} < 10)"), f"记录的决策对其中一个策略所知太少（有效样本 {sample_said(least)} < 10）"
    if not bounds[0] > 0:
        worse = "worse than" if bounds[1] < 0 else "not better with confidence than"
        worse_zh = "比当前排序差" if bounds[1] < 0 else "并未有把握地优于当前排序"
        return False, f"the candidate is {worse} the active ranking: {said}", f"候选模型{worse_zh}：{said_zh}"
    return True, f"better with confidence: {said}", f"有把握地更好：{said_zh}"


def sample_said(value: float) -> str:
    """An effective sample as said: whole above 10, with a decimal below (9.6 rounded read "10 < 10")."""
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


__all__ = ["CONFIDENCE", "MIN_DECISIONS", "MIN_REFRESH_DECISIONS", "MIN_SUPPORT", "sample_said", "verdict", "verdict_said"]
