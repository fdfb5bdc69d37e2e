"""`model promote`: the candidate against the active ranking (cli/comparison.py, also `model evaluate
--candidate`), then activated, put on trial or refused (``learning.rollout``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import CANDIDATE_FILE, CHALLENGER_FILE, MODEL_FILE
from .common import catalog_option, handle_errors, lang_option, rules_option, settings
from .comparison import _comparison, _print_comparison, _t
from .model import (
    active_option,
    candidate_option,
    confidence_option,
    cross_fit_option,
    model,
    source_option,
)


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
