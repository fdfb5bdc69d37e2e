"""`model promote`: the candidate against the active ranking (also `model evaluate --candidate`), then
activated, put on trial or refused (``learning.rollout``)."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import click

from ..config import CANDIDATE_FILE, CHALLENGER_FILE, MODEL_FILE
from .common import catalog_option, handle_errors, lang_option, rules_option, settings
from .model import (
    _outcomes,
    _setup,
    active_option,
    candidate_option,
    confidence_option,
    cross_fit_option,
    model,
    source_option,
)


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
    ("verdict", ("keep the active ranking", "promote"), ("保持当前排序", "启用")),
    ("said", "{verdict}: {reason}", "{verdict}：{reason}"),
)
COMPARISON_WORDS = {lang: {key: texts[i] for key, *texts in _COMPARISON_TEXTS} for i, lang in enumerate(("en", "zh"))}


def _print_comparison(result, as_json: bool, trial: bool | None = None, lang: str = "zh") -> None:
    if as_json:
        click.echo(json.dumps({**result.as_dict(), **({} if trial is None else {"trial": trial})}, ensure_ascii=False))
        return
    w = COMPARISON_WORDS[lang]

    def fig(value: float) -> str:
        return _figure(value, lang)

    def listed(values: dict, digits: int) -> str:
        return w["list"].join(f"{w['roles'].get(name, name)} {value:.{digits}f}" for name, value in values.items())

    months = w["to"].join((result.months[0], result.months[-1])) if result.months else fig(math.nan)
    folds = w["folds"].format(a=result.cross_fitted[0], b=result.cross_fitted[-1]) if result.cross_fitted else ""
    click.echo(w["head"].format(kind=w["kind"][bool(folds)], months=months, folds=folds, n=result.decisions))
    if result.decisions:
        click.echo(w["candidate"].format(name=result.candidate, value=fig(result.candidate_value)))
        click.echo(w["active"].format(name=result.active, value=fig(result.active_value)))
        click.echo(w["difference"].format(d=fig(result.difference), lo=fig(result.ci95[0]), hi=fig(result.ci95[1]),
                                          samples=listed(result.effective_sample, 0),
                                          weights=listed(result.supported, 2)))
        click.echo(w["bounds"].format(what=w["what"][bool(result.refresh)], level=f"{round(result.confidence * 100, 1):g}",
                                      lo=fig(result.bounds[0]), hi=fig(result.bounds[1])))
    reason = (result.reason_zh or result.reason) if lang == "zh" else result.reason
    click.echo(w["said"].format(verdict=w["verdict"][bool(result.promote)], reason=reason))


@model.command("promote")
@source_option
@candidate_option
@active_option
@click.option("--force", is_flag=True, help="Activate the candidate even if it is not better (recorded as forced).")
@click.option("--refit", is_flag=True,
              help="Once the candidate passes, activate its recipe fitted on every month.")
@click.option("--no-trial", is_flag=True,
              help="Never put a candidate on trial (and end a trial under way): the prior explores uniformly.")
@cross_fit_option
@click.option("--json", "as_json", is_flag=True, help="The comparison as one JSON object on standard output (the "
                                                      "verdict's notes stay on standard error).")
@click.option("--by", "by", default=None, metavar="TEXT",
              help="Who or what asks, recorded with the verdict in promotions.jsonl (default: the user running "
                   "the command; a service's monthly routine names itself and the month).")
@confidence_option
@rules_option
@catalog_option
@lang_option
@handle_errors
def promote(source: Path | None, candidate_file: Path | None, active_file: Path | None, force: bool, refit: bool,
            no_trial: bool, cross_fit: bool, as_json: bool, by: str | None, confidence: float, rules_dir: Path | None,
            catalog_dir: Path | None, lang: str) -> None:
    """Activate the candidate model only if it is better than the active ranking, with confidence, on the
    months it was not trained on; else keep the active one and say why (exit code 1). A retrain of the
    model in service (its recipe on later months) is activated unless it is worse.

    A candidate estimated better than the prior, not yet with confidence, goes on trial instead
    (challenger.json beside the active file, exit code 1): a service still ranking with the prior lets it
    make half the choices it gives to exploration, so that the next comparison has evidence of such a
    model. A promotion ends the trial, and so does a retrain of its recipe estimated no better on enough
    evidence.

    With --cross-fit, a first candidate (against the prior) is judged on every month with outcomes: its
    held-out months ranked by the candidate, each earlier block by its recipe fitted on the other months;
    once promoted, that recipe fitted on every month is activated (as --refit).

    Running services pick the new model up within seconds (they check the file every 5 s); the previous
    one is kept under history/ and every verdict (promoted, on trial, refused) is recorded in promotions.jsonl.
    One `model promote` at a time judges in a models directory (a service's monthly routine runs one too):
    another waits for it, up to 10 minutes."""
    import getpass

    from ..learning.persist import promotion_lock

    def waiting(models_dir: Path) -> None:
        click.echo(_t(lang, f"等待 {models_dir} 中另一个 `model promote` 结束（服务的月度例行任务或管理员的；最多 10 分钟）",
                      f"waiting for another `model promote` in {models_dir} to end (a service's monthly routine, or "
                      f"an administrator's; at most 10 minutes)"), err=True)

    try:
        asker = by or f"{getpass.getuser()} (command line)"
    except (KeyError, OSError):  # no name for this user id (a container)
        asker = "command line"
    with promotion_lock((active_file or settings().models_dir / MODEL_FILE).parent, on_wait=waiting):
        _promote(source, candidate_file, active_file, force, refit, no_trial, cross_fit, as_json, confidence,
                 rules_dir, catalog_dir, asker, lang)


def _promote(source: Path | None, candidate_file: Path | None, active_file: Path | None, force: bool, refit: bool,
             no_trial: bool, cross_fit: bool, as_json: bool, confidence: float, rules_dir: Path | None,
             catalog_dir: Path | None, by: str, lang: str) -> None:
    from datetime import UTC, datetime

    from ..learning.persist import end_trial, on_trial_now, put_on_trial, record_refusal
    from ..learning.persist import promote as activate
    from ..learning.rollout import ends_trial, on_trial

    candidate_path = candidate_file or settings().models_dir / CANDIDATE_FILE
    compared = candidate_path.read_bytes() if candidate_path.is_file() else None
    result, candidate_path, active_path, card, everything, catalog = _comparison(
        source, candidate_file, active_file, rules_dir, catalog_dir, confidence, cross_fit, lang)
    changed = (candidate_path.read_bytes() if candidate_path.is_file() else None) != compared
    exploring = settings().prior_exploration > 0  # a service without exploration has no share to give
    trial = not (changed or result.promote or force or no_trial) and exploring and on_trial(
        result, result.active == "prior")
    _print_comparison(result, as_json, trial, lang)
    if changed:
        click.echo(_t(lang, f"未启用：比较期间 {candidate_path} 已改变（新的 `model train`？）；请再次运行 `model promote`",
                      f"not promoted: {candidate_path} changed during the comparison (a new `model train`?); "
                      f"run `model promote` again"), err=True)
        sys.exit(1)
    record = {"at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "by": by, "comparison": result.as_dict()}
    challenger = active_path.with_name(CHALLENGER_FILE)
    before = on_trial_now(challenger)
    if not (result.promote or force):
        said = ""
        if trial:
            replaced = {"trial_ended": before[0]} if before and before[0] != result.candidate else {}
            put_on_trial(compared, challenger, {**record, "trial": result.candidate, **replaced})
            said = _t(lang, f"，{result.candidate} 进入试用：先验的探索选择由它做出一半"
                            f"{f'（替代 {before[0]}）' if replaced else ''}",
                      f", with {result.candidate} on trial: it makes half the prior's exploring choices"
                      f"{f' (in place of {before[0]})' if replaced else ''}")
        elif before and (no_trial or ends_trial(result, card, before[1])):
            # trials refused, or the challenger's recipe retrained is no better
            end_trial(challenger, {**record, "refused": result.candidate})
            said = _t(lang, f"；{before[0]} 的试用结束", f"; the trial of {before[0]} is over")
        else:
            record_refusal(active_path.parent, {**record, "refused": result.candidate})
            if before:
                said = (_t(lang, f"；{before[0]} 继续试用", f"; {before[0]} stays on trial") if exploring else
                        _t(lang, f"；{before[0]} 继续试用，但服务不会采用：先验不探索（DIAGNOSIS_PRIOR_EXPLORATION=0）",
                           f"; {before[0]} stays on trial, but a service ignores it: the prior does not explore "
                           f"(DIAGNOSIS_PRIOR_EXPLORATION=0)"))
        click.echo(_t(lang, f"未启用：{result.reason_zh or result.reason}；继续使用 {result.active}{said}",
                      f"not promoted: {result.reason}; {result.active} stays active{said}"), err=True)
        sys.exit(1)
    promoted, name = candidate_path, result.candidate
    refit = refit or bool(result.promote and result.cross_fitted)  # what was judged is the recipe: fit it on all
    if refit:
        promoted, name = _refit(everything, catalog, source, candidate_path, card if result.promote else {},
                                card.get("params"))
    ended = before[0] if before else None  # a model serves now: the prior's exploration is no more
    record = activate(promoted, active_path, {
        **record, "promoted": name, "validated": result.candidate if result.promote else None,
        "replaced": result.active, "forced": bool(force and not result.promote),
        **({"trial_ended": ended} if ended else {})}, model_bytes=None if refit else compared)
    end_trial(challenger, None)
    click.echo(_t(lang, f"已启用 {name}（此前为 {result.active}）{'，由 --force 强制' if record['forced'] else ''}"
                        f"{f'，为 {result.candidate} 的重新拟合' if refit else ''}：{active_path}"
                        f"{f'；{ended} 的试用结束' if ended else ''}",
                  f"promoted {name} (was {result.active}){' by --force' if record['forced'] else ''}"
                  f"{f', the refit of {result.candidate}' if refit else ''}: {active_path}"
                  f"{f'; the trial of {ended} is over' if ended else ''}"), err=True)


def _refit(outcomes, catalog, source: Path | None, candidate_path: Path, card: dict,
           params: dict | None) -> tuple[Path, str]:
    """The candidate's recipe (``params``: its card's parameters) fitted on every month's ``outcomes``,
    beside it: (its path, its ranker name)."""
    from ..learning import train as training
    from ..learning.params import recipe_model
    from ..learning.persist import model_card, ranker_name, refit_card, save

    fitted = training.fit(outcomes, catalog, recipe_model(params))
    new = refit_card(model_card(fitted.X, fitted.y, outcomes, fitted.model, str(source or "store"), {}), card)
    return save(fitted.model, candidate_path.with_name(f"{candidate_path.stem}.refit.json"), new), ranker_name(new)
