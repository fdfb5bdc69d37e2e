"""`model history`: the promotion verdicts recorded in the models directory, newest first
(``learning.verdict_log``; `GET /v1/model` answers the same)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from .common import handle_errors, lang_option, settings
from .comparison import _figure, _t
from .model import model


@model.command("history")
@click.option("--models", "models_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="The models directory (default: $DIAGNOSIS_MODELS, where a service and `model promote` keep "
                   "promotions.jsonl).")
@click.option("--limit", type=click.IntRange(0, 10_000), default=20, show_default=True,
              help="How many of the latest verdicts to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON (as GET /v1/model's `verdicts`).")
@lang_option
@handle_errors
def history(models_dir: Path | None, limit: int, as_json: bool, lang: str) -> None:
    """Every verdict of `model promote` (an administrator's or the service's monthly routine): promoted, on
    trial or refused, against what, on how much evidence, and why; newest first."""
    from ..learning.verdict_log import read_verdicts

    directory = models_dir or settings().models_dir
    verdicts = read_verdicts(directory, limit)
    if as_json:
        click.echo(json.dumps(verdicts.as_dict(), ensure_ascii=False, sort_keys=True))
    else:
        for v in verdicts.items:
            click.echo(_line(v, lang))
    for problem in verdicts.problems:
        click.echo(_t(lang, f"注意：{problem}", f"note: {problem}"), err=True)
    if verdicts.total == 0:
        click.echo(_t(lang, f"{directory} 中尚无裁决：`model promote`（或服务的月度例程）判定的每个候选都会记录在此",
                      f"no verdict in {directory} yet: every candidate `model promote` (or a service's monthly routine) "
                      f"judges is recorded there"), err=True)
    else:
        click.echo(_t(lang, f"共 {verdicts.total} 条裁决{'（记录过大，只读了末尾）' if verdicts.partial else ''}，"
                            f"显示最近 {len(verdicts.items)} 条",
                      f"{verdicts.total} verdict{'s' if verdicts.total != 1 else ''} recorded"
                      f"{' (a large record: its end read)' if verdicts.partial else ''}, the latest {len(verdicts.items)} "
                      f"shown"), err=True)


def _line(v: dict, lang: str) -> str:
    """One verdict on one line: when, what, against what, the estimate, the evidence, why, by whom."""
    from ..learning.verdict_log import VERDICT_NAMES, asker_said
    from ..learning.verdicts import sample_said

    word = VERDICT_NAMES[v["verdict"]][lang != "zh"]
    promoted = v.get("promoted")
    name = v["candidate"] or "?"
    if promoted and promoted != v["candidate"]:
        name = _t(lang, f"{promoted}（{v['candidate']} 的重新拟合）", f"{promoted} (the refit of {v['candidate']})")
    forced = _t(lang, "，由 --force 强制", " by --force") if v.get("forced") else ""
    months = v["months"]
    span = (months[0] if len(months) == 1 else _t(lang, f"{months[0]} 至 {months[-1]}", f"{months[0]} to {months[-1]}")
            ) if months else _t(lang, "无留出月份", "no held-out month")
    difference = v["difference"]
    estimate = _figure(difference if isinstance(difference, int | float) else math.nan, lang)
    bounds = v.get("bounds") or []
    if len(bounds) == 2 and all(isinstance(b, int | float) for b in bounds):
        level = f" {round(v['confidence'] * 100, 1):g}%" if isinstance(v.get("confidence"), int | float) else ""
        estimate += f" [{_figure(bounds[0], lang)}, {_figure(bounds[1], lang)}]{level}"
    sample = (v.get("effective_sample") or {}).get("candidate")
    evidence = _t(lang, f"{span}，{v['decisions'] or 0} 个决策", f"{span}, {v['decisions'] or 0} decisions")
    if isinstance(sample, int | float):
        evidence += _t(lang, f"，有效样本 {sample_said(sample)}", f", effective sample {sample_said(sample)}")
    if v.get("cross_fitted"):
        evidence += _t(lang, f"（{v['cross_fitted']} 个月交叉拟合）", f" ({v['cross_fitted']} months cross-fitted)")
    reason = ((v.get("reason_zh") or v.get("reason")) if lang == "zh" else v.get("reason")) or "?"
    ended = v.get("trial_ended")
    trial = _t(lang, f"；{ended} 的试用结束", f"; the trial of {ended} is over") if ended else ""
    return _t(lang, f"{v['at'] or '?'}  {word}{forced}  {name} 对比 {v['active'] or '?'}：差值 {estimate}；{evidence}；{reason}{trial}；"
                    f"由 {asker_said(v.get('by'), lang)}",
              f"{v['at'] or '?'}  {word}{forced}  {name} against {v['active'] or '?'}: {estimate}; {evidence}; {reason}{trial}; "
              f"by {asker_said(v.get('by'), lang)}")
