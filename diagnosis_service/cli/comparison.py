"""The comparison of a candidate with the active ranking, as `model evaluate --candidate` and `model promote`
make and print it (``learning.rollout``): the models loaded, the outcomes read, a first candidate cross-fitted."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path

import click

from ..config import CANDIDATE_FILE, MODEL_FILE
from .common import settings
from .model import _outcomes, _setup


def _t(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def _comparison(source: Path | None, candidate_file: Path | None, active_file: Path | None,
                rules_dir: Path | None, catalog_dir: Path | None, confidence: float, cross_fit: bool = False,
                lang: str = "zh"):
    """(comparison, candidate path, active path, candidate card, every month's outcomes, the catalog)."""
    from ..errors import ModelError
    from ..learning.persist import load, ranker_name
    from ..learning.policy import LearnedRanker
    from ..learning.rollout import compare, held_out, is_refresh, judged_after
    from ..remedies.ranking import PriorRanker

    ruleset, catalog = _setup(rules_dir, catalog_dir)
    candidate_path = candidate_file or settings().models_dir / CANDIDATE_FILE
    active_path = active_file or settings().models_dir / MODEL_FILE
    model, card = load(candidate_path)
    epsilon = settings().learned_exploration
    candidate = LearnedRanker(model, epsilon, name=ranker_name(card))
    active_card = None
    try:
        active_model, active_card = load(active_path)
        active = LearnedRanker(active_model, epsilon, name=ranker_name(active_card))
    except ModelError as exc:
        if active_path.exists():
            click.echo(_t(lang, f"警告：在用模型不可用（{exc.problems[0]}）：与先验比较，如服务所排序",
                          f"warning: the active model is not usable ({exc.problems[0]}): comparing with the prior, "
                          f"as the service ranks"), err=True)
        active = PriorRanker()
    everything, served, catalogs = _outcomes(source, ruleset, with_served=True, lang=lang)
    outcomes, folds = held_out(everything, judged_after(card, active_card)), []
    if cross_fit and not isinstance(active, PriorRanker):  # the monthly routine once a model serves: no warning
        click.echo(_t(lang, "说明：未交叉拟合：已有模型在用，分折会在它自己的训练月份上评判它；改在两者都未学习过的月份上比较",
                      "note: not cross-fitted: a model serves, and a fold would judge it on its own training months; "
                      "compared on the months neither learned from"), err=True)
    elif cross_fit:
        folds, why = _cross_fit(everything, catalog, card, epsilon, lang)
        if why:
            click.echo(_t(lang, f"警告：未交叉拟合（{why}）：只在留出月份上比较",
                          f"warning: not cross-fitted ({why}): compared on the held-out months only"), err=True)
        else:
            outcomes = everything  # the held-out months ranked by the candidate, the others by the folds
            click.echo(_t(lang, f"交叉拟合：由候选模型、它的 {len(folds)} 个分折和先验为 {len(outcomes):,} 个决策排序",
                          f"cross-fitting: ranking {len(outcomes):,} decisions by the candidate, its {len(folds)} "
                          f"folds and the prior"), err=True)
    result = compare(outcomes, catalog, ruleset, candidate, active, served=served, catalogs=catalogs,
                     refresh=is_refresh(card, active_card), confidence=confidence, folds=folds)
    seen_to, held = (active_card or {}).get("data_window", {}).get("to"), card.get("held_out") or {}
    if not result.decisions and seen_to and held.get("to") and seen_to >= held["to"]:
        # Not the candidate's fault: the refit in service learned from every month it held out.
        result = dataclasses.replace(result, reason=(
            f"no month is left to judge on: the model in service ({active.name}) learned from every month to "
            f"{seen_to}, the candidate's held-out months {held.get('from')} to {held['to']} among them (a refit "
            f"learns from every month); the next retrain is compared on the month that follows, once it has "
            f"outcomes"), reason_zh=(
            f"没有可供评判的月份：在用模型（{active.name}）已学习截至 {seen_to} 的每个月，其中包括候选模型的留出月份 "
            f"{held.get('from')} 至 {held['to']}（重新拟合会学习每个月）；下一次重新训练将在其后一个月有结果后比较"))
    return result, candidate_path, active_path, card, everything, catalog


def _cross_fit(everything, catalog, card: dict, epsilon: float, lang: str = "zh") -> tuple[list, str | None]:
    """(folds for ``rollout.compare``, None), or ([], why not): the candidate's recipe fitted without each
    block of its training months (``rollout.cross_fit_folds``), once this version's recipe on the
    candidate's own months is shown to give the candidate itself, to the fingerprint."""
    from ..learning import train as training
    from ..learning.params import recipe_model
    from ..learning.persist import fingerprint
    from ..learning.policy import LearnedRanker
    from ..learning.rollout import cross_fit_folds

    to, held = (card.get("data_window") or {}).get("to"), card.get("held_out")
    if not to or not held or not card.get("fingerprint"):
        return [], "the candidate's card does not say its training months, held-out months and fingerprint"
    block = len({p for p in everything["period"] if held["from"] <= p <= held["to"]})
    if not block:  # the candidate itself would judge nothing, and a fold could be fitted on nothing
        return [], f"its held-out months ({held['from']} to {held['to']}) have no outcomes here"
    params = card.get("params")  # the candidate's (`model train --param`): every fit below is its recipe
    try:
        recipe_model(params)
    except (TypeError, ValueError) as exc:
        return [], f"its card's parameters are not this version's ({exc})"
    mine = training.fit(everything[everything["period"] <= to].reset_index(drop=True), catalog, recipe_model(params))
    if mine is None or fingerprint(mine.model) != card["fingerprint"]:
        return [], (f"this version's recipe on the candidate's months ({card['data_window'].get('from')} to {to}) "
                    f"gives {fingerprint(mine.model) if mine else 'no model'}, not the candidate "
                    f"{card['fingerprint']}: another version, or outcomes changed since it "
                    f"was trained")
    months = sorted(p for p in set(everything["period"]) if p <= to)
    total, done = -(-len(months) // block), []

    def fitted(rows):
        done.append(1)
        click.echo(_t(lang, f"交叉拟合：留出第 {len(done)}/{total} 折，拟合候选配方",
                      f"cross-fitting: fitting the candidate's recipe without fold {len(done)} of {total}"), err=True)
        return LearnedRanker(training.fit(rows, catalog, recipe_model(params)).model, epsilon, name=f"fold {len(done)}")

    return cross_fit_folds(everything, to, block, fitted), None


def _figure(value: float, lang: str = "en") -> str:
    """A signed estimate, or "none" where there is none (a policy the log never agreed with)."""
    return f"{value:+.4f}" if math.isfinite(value) else _t(lang, "无", "none")


# What `model evaluate --candidate` and `model promote` print of a comparison: (key, English, Chinese).
_COMPARISON_TEXTS = (
    ("to", " to ", " 至 "),
    ("list", ", ", "、"),
    ("roles", {}, {"candidate": "候选", "active": "当前"}),
    ("kind", ("held-out", "compared on"), ("留出", "比较")),
    ("folds", " ({a} to {b} ranked by the candidate's recipe fitted on the other months)",
     "（{a} 至 {b} 由在其他月份上拟合的候选配方排序）"),
    ("head", "{kind} months {months}{folds}, {n} decisions with outcomes", "{kind}月份 {months}{folds}，{n} 个有结果的决策"),
    ("candidate", "  candidate {name:<22} {value}", "  候选模型 {name:<22} {value}"),
    ("active", "  active    {name:<22} {value}", "  当前排序 {name:<22} {value}"),
    ("difference", "  difference {d}, 95% interval [{lo}, {hi}]; effective samples: {samples}; mean importance weights "
                   "(1 where the log could have made every choice): {weights}",
     "  差值 {d}，95% 置信区间 [{lo}, {hi}]；有效样本：{samples}；平均重要性权重（日志可能做出全部选择时为 1）：{weights}"),
    ("what", ("a new challenger", "a retrain of the model in service"), ("新的候选模型（挑战者）", "在用模型的重新训练")),
    ("bounds", "  {what}; bounds at {level}%: [{lo}, {hi}]", "  {what}；{level}% 置信界：[{lo}, {hi}]"),
    ("verdict", ("keep the active ranking", "promote", "keep the active ranking, the candidate on trial"),
     ("保持当前排序", "启用", "保持当前排序，候选模型进入试用")),
    ("said", "{verdict}: {reason}", "{verdict}：{reason}"),
)
COMPARISON_WORDS = {lang: {key: texts[i] for key, *texts in _COMPARISON_TEXTS} for i, lang in enumerate(("en", "zh"))}


def _print_comparison(result, as_json: bool, trial: bool | None = None, lang: str = "zh") -> None:
    if as_json:
        click.echo(json.dumps({**result.as_dict(), **({} if trial is None else {"trial": trial})}, ensure_ascii=False))
        return
    from ..learning.verdicts import sample_said

    w = COMPARISON_WORDS[lang]

    def fig(value: float) -> str:
        return _figure(value, lang)

    def listed(values: dict, said: Callable[[float], str]) -> str:
        return w["list"].join(f"{w['roles'].get(name, name)} {said(value)}" for name, value in values.items())

    months = w["to"].join((result.months[0], result.months[-1])) if result.months else fig(math.nan)
    folds = w["folds"].format(a=result.cross_fitted[0], b=result.cross_fitted[-1]) if result.cross_fitted else ""
    click.echo(w["head"].format(kind=w["kind"][bool(folds)], months=months, folds=folds, n=result.decisions))
    if result.decisions:
        click.echo(w["candidate"].format(name=result.candidate, value=fig(result.candidate_value)))
        click.echo(w["active"].format(name=result.active, value=fig(result.active_value)))
        click.echo(w["difference"].format(d=fig(result.difference), lo=fig(result.ci95[0]), hi=fig(result.ci95[1]),
                                          samples=listed(result.effective_sample, sample_said),
                                          weights=listed(result.supported, lambda value: f"{value:.2f}")))
        click.echo(w["bounds"].format(what=w["what"][bool(result.refresh)], level=f"{round(result.confidence * 100, 1):g}",
                                      lo=fig(result.bounds[0]), hi=fig(result.bounds[1])))
    reason = (result.reason_zh or result.reason) if lang == "zh" else result.reason
    click.echo(w["said"].format(verdict=w["verdict"][1 if result.promote else 2 if trial else 0], reason=reason))
