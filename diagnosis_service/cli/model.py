"""`model train|evaluate|info` (the effectiveness model; `model promote` is in promote.py, `simulate loop` in loop.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from ..config import CANDIDATE_FILE, MODEL_FILE
from . import main
from .common import (
    OutputFile,
    catalog_option,
    handle_errors,
    lang_option,
    refuse_input_overwrite,
    resolve_catalog,
    resolve_rules,
    rules_option,
    settings,
)

# `model train --param`'s help: each parameter and what it takes (learning.params, without importing
# scikit-learn for --help: kept in step by tests/learning/test_model_params.py).
PARAM_HELP = (("adoption_offsets", "true or false, default true"),
              ("adoption_strength", "a number ≥ 0, default 20"),
              ("blend", "a number ≥ 0 and ≤ 1, default 0.5"),
              ("log_ridge_alpha", "cv/none or a number > 0, default cv"),
              ("noise_weights", "true or false, default true"),
              ("prior_strength", "a number > 0, default 5"),
              ("ridge_alpha", "a number > 0, default 4"),
              ("weakness_flags", "true or false, default false"))


def _setup(rules_dir: Path | None, catalog_dir: Path | None):
    from ..pipeline.snapshot import Snapshot

    snapshot = Snapshot.from_dirs(resolve_rules(rules_dir), resolve_catalog(catalog_dir))
    return snapshot.ruleset, snapshot.catalog


# ------------------------------------------------------------------------------------------- model

@main.group()
def model() -> None:
    """The effectiveness model: train, inspect, evaluate offline, promote (champion and challenger)."""


source_option = click.option("--from", "source", type=click.Path(path_type=Path, file_okay=False), default=None,
                             help="A `simulate loop --out` directory (default: the store's served log and metrics).")


candidate_option = click.option(
    "--candidate", "candidate_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help=f"The candidate model (default: $DIAGNOSIS_MODELS/{CANDIDATE_FILE}, what `model train` writes).")
active_option = click.option(
    "--active", "active_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help=f"The active model (default: $DIAGNOSIS_MODELS/{MODEL_FILE}; the prior when there is none). `model "
         f"promote` keeps history/, promotions.jsonl and a challenger on trial beside it: a service reads "
         f"$DIAGNOSIS_MODELS.")

confidence_option = click.option(
    "--confidence", type=click.FloatRange(0.5, 0.999), default=0.9, show_default=True,
    help="One-sided: a new candidate is promoted when better with this probability; a retrain of the model in "
         "service, unless worse with it.")

cross_fit_option = click.option(
    "--cross-fit", is_flag=True,
    help="Against the prior: judge the candidate on every month with outcomes, each of its training months "
         "ranked by its recipe fitted on the other months (about three times the evidence after six months); "
         "needs a candidate this version's recipe reproduces. `model promote` then activates that recipe fitted on "
         "every month; `model evaluate` only reports.")


def _outcomes(source: Path | None, ruleset, with_served: bool = False, lang: str = "zh"):
    """Measurable outcomes of the logged decisions, from a directory or the store; with ``with_served``,
    (outcomes, everything served in the log's months, the stored catalog versions the lists came from)
    for off-policy estimates."""
    from ..learning.train import measurable
    from ..pipeline import training
    from ..store import make_engine

    engine = None
    if source is not None:
        log, metrics = training.from_dir(source)
    else:
        engine = make_engine(settings().db_url())
        log, metrics = training.from_store(engine, ruleset)
    outcomes = measurable(log, metrics, ruleset)
    if outcomes.empty:
        click.echo("还没有可测量结果的已推送药方（需要推送后一个月的数据）" if lang == "zh" else
                   "no served prescription has a measurable outcome yet (a month after it is needed)", err=True)
        sys.exit(2)
    if not with_served:
        return outcomes
    catalogs, warnings = training.catalogs_served(outcomes, engine, ruleset.registry)
    for warning in warnings:
        click.echo(f"{'警告' if lang == 'zh' else 'warning'}: {warning}", err=True)
    return outcomes, training.served_of(log, engine), catalogs


def _no_month_to_judge(card: dict, lang: str) -> None:
    """Say at once when the model in service ($DIAGNOSIS_MODELS) learned from the candidate's held-out
    months (a refit learns from every month): `model promote` would find no month to judge on and keep it."""
    from ..errors import ModelError
    from ..learning.persist import load, ranker_name
    from ..periods import parse_period, period_str

    held = card.get("held_out") or {}
    active = settings().models_dir / MODEL_FILE
    if not held.get("to") or not active.is_file():
        return
    try:
        _, active_card = load(active)
    except ModelError:
        return  # `model promote` says what is wrong with it
    learned_to = (active_card.get("data_window") or {}).get("to")
    if not learned_to or learned_to < held["to"]:
        return
    after = period_str(parse_period(learned_to) + 1)
    name = ranker_name(active_card)
    click.echo(f"注意：在用模型 {name} 已学习截至 {learned_to} 的每个月，包括这些留出月份；在 {after} 有结果之前，"
               f"`model promote` 没有可供比较的月份，会保持在用模型" if lang == "zh" else
               f"note: the model in service ({name}) learned from every month to {learned_to}, these held-out months "
               f"among them; until {after} has outcomes, `model promote` has no month to judge on and keeps it",
               err=True)


@model.command("train")
@source_option
@click.option("--out", "out_file", type=OutputFile(makes_dirs=True), default=None,
              help=f"Candidate model file (default: $DIAGNOSIS_MODELS/{CANDIDATE_FILE}; `model promote` makes it "
                   f"the active {MODEL_FILE}).")
@click.option("--holdout-months", type=click.IntRange(0, 24), default=2, show_default=True,
              help="The latest months kept out of the fit, for `model evaluate --candidate` and `model promote` "
                   "to compare the candidate with the active ranking on (0: fit on every month; then nothing "
                   "can be compared until later months have outcomes).")
@click.option("--param", "param_texts", multiple=True, metavar="NAME=VALUE",
              help="A model parameter other than its default (repeatable): " + "; ".join(
                  f"{name} ({default_text})" for name, default_text in PARAM_HELP) + ". Other parameters make "
                   "another recipe: `model promote` activates it only if it is better than the model in service.")
@rules_option
@catalog_option
@lang_option
@handle_errors
def train(source: Path | None, out_file: Path | None, holdout_months: int, param_texts: tuple[str, ...],
          rules_dir: Path | None, catalog_dir: Path | None, lang: str) -> None:
    """Compute outcomes of the served prescriptions and fit a candidate model; writes it with its model card.

    The service keeps ranking with the active model (or the prior) until `model promote` activates the
    candidate after comparing them on the held-out months."""
    from ..learning import train as training
    from ..learning.params import changed, parse_params, recipe_model, shown
    from ..learning.persist import model_card, save

    params = parse_params(param_texts)  # before anything is read: a typo is told at once
    refuse_input_overwrite([out_file], [source, resolve_rules(rules_dir), resolve_catalog(catalog_dir)])
    ruleset, catalog = _setup(rules_dir, catalog_dir)
    start = time.perf_counter()
    outcomes = _outcomes(source, ruleset, lang=lang)
    months = sorted(set(outcomes["period"]))
    zh = lang == "zh"
    if holdout_months and len(months) <= holdout_months:
        click.echo(f"警告：只有 {len(months)} 个月有结果：全部用于拟合，不留出（启用需要更晚月份的结果）" if zh else
                   f"warning: outcomes in {len(months)} month(s) only: fitting on all of them, none held out "
                   f"(a promotion needs later months' outcomes)", err=True)
        holdout_months = 0
    fit_on = outcomes[outcomes["period"] <= months[len(months) - holdout_months - 1]].reset_index(drop=True)
    recipe = recipe_model(params, from_card=False)
    holdout = training.holdout(fit_on, catalog, recipe)  # fits a copy of it
    fitted = training.fit(fit_on, catalog, recipe)
    seconds = time.perf_counter() - start
    card = model_card(fitted.X, fitted.y, fit_on, fitted.model, str(source) if source else "store", holdout)
    card["held_out"] = ({"from": months[-holdout_months], "to": months[-1]} if holdout_months else None)
    card["training_seconds"] = round(seconds, 2)
    path = save(fitted.model, out_file or settings().models_dir / CANDIDATE_FILE, card)
    _no_month_to_judge(card, lang)
    window = card["data_window"]
    other = changed(fitted.model.get_params())
    blend, how = fitted.model.blend, card["multiplicative_fit"]
    if zh:
        click.echo(f"已训练：{len(fitted.X)} 个清单（其中 {fitted.model.n_effect_obs_} 个采纳且有结果，{window['from']} 至 "
                   f"{window['to']}），用时 {seconds:.1f} 秒 -> {path}")
        click.echo(f"参数：{shown(other)}（其余为默认值）" if other else "参数：默认值")
        checked = (f"{holdout['from']} 起 {holdout['rows']} 行，相关系数 {holdout['correlation']:.3f}，R² "
                   f"{holdout['r2']:.3f}" if {"from", "rows", "correlation", "r2"} <= set(holdout) else
                   "月份太少，未做" if "note" in holdout else json.dumps(holdout, ensure_ascii=False))
        click.echo(f"拟合检查（配方在较早月份上拟合，在其学习月份的最后五分之一上评分：预测与实测结果的吻合程度；不是比较所用的月份）："
                   f"{checked}")
        click.echo(f"采纳后的效果：加法与乘法拟合混合（{1 - blend:g} / {blend:g}）" if how == "fitted" else
                   f"采纳后的效果：仅加法拟合（乘法拟合：{how}）")
        if card["held_out"]:
            click.echo(f"留出用于比较：{card['held_out']['from']} 至 {card['held_out']['to']}；只有在这些月份上更好，"
                       f"`model promote` 才会启用候选模型")
        return
    click.echo(f"trained on {len(fitted.X)} lists ({fitted.model.n_effect_obs_} adopted with outcomes, "
               f"{window['from']} to {window['to']}) in {seconds:.1f} s -> {path}")
    click.echo(f"parameters: {shown(other)} (the others the defaults)" if other else "parameters: the defaults")
    click.echo(f"fit check, the recipe fitted on the earlier months and scored on the last fifth of the months it "
               f"learns from (how well predictions follow measured outcomes; not the comparison's months): "
               f"{json.dumps(holdout)}")
    click.echo(f"effect if adopted: the additive and multiplicative fits blended ({1 - blend:g} / {blend:g})"
               if how == "fitted" else f"effect if adopted: the additive fit alone (multiplicative fit {how})")
    if card["held_out"]:
        click.echo(f"held out for the comparison: {card['held_out']['from']} to {card['held_out']['to']}; "
                   f"`model promote` activates the candidate only if it is better there")


@model.command("evaluate")
@source_option
@click.option("--policy", "policies", multiple=True, type=click.Choice(["prior", "learned", "greedy", "random"]),
              default=("prior", "learned", "greedy", "random"), show_default=True)
@click.option("--fit", "fit_mode", type=click.Choice(["cross", "file"]), default="cross", show_default=True,
              help="learned and greedy policies: 'cross' fits a model on each half of the months and evaluates "
                   "it on the other half (what a model trained like `model train` is worth on decisions it has "
                   "not seen); 'file' evaluates the trained model file as it is (flattering where the log "
                   "overlaps the months it was trained on).")
@click.option("--model", "model_file", type=click.Path(path_type=Path), default=None,
              help=f"With --fit file: the model (default: the active one, $DIAGNOSIS_MODELS/{MODEL_FILE}).")
@click.option("--param", "param_texts", multiple=True, metavar="NAME=VALUE",
              help="With --fit cross: a model parameter other than its default, as `model train --param` takes it "
                   "(repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the table (with --candidate: the "
                                                      "comparison, as `model promote --json` prints it).")
@click.option("--candidate", "candidate_file", type=click.Path(dir_okay=False), default=None, is_flag=False,
              flag_value="",
              help=f"Compare a candidate model (alone: $DIAGNOSIS_MODELS/{CANDIDATE_FILE}) with the active ranking "
                   "on the months it was not trained on, as `model promote` does, without promoting it.")
@active_option
@confidence_option
@cross_fit_option
@rules_option
@catalog_option
@lang_option
@handle_errors
def evaluate(source: Path | None, policies: tuple[str, ...], fit_mode: str, model_file: Path | None,
             param_texts: tuple[str, ...], as_json: bool, candidate_file: str | None, active_file: Path | None,
             confidence: float, cross_fit: bool, rules_dir: Path | None, catalog_dir: Path | None, lang: str) -> None:
    """Off-policy estimates (IPS, SNIPS, 95% bootstrap intervals) of policies' value from the served log;
    with --candidate, the candidate model against the active ranking.

    Each logged choice is replayed as the service made it: among the resources of the stored catalog
    version its list came from (--catalog for lists without one), less what the branch had been served
    before it, with the remedy kinds its ranker preferred."""
    from ..learning.evaluate import MODELLED, evaluate_policies, overlap
    from ..learning.params import parse_params
    from ..learning.persist import load

    params = parse_params(param_texts)
    if params and (candidate_file is not None or fit_mode != "cross"):
        click.echo("警告：--param 只用于 --fit cross；模型文件按其训练时的参数评判" if lang == "zh" else
                   "warning: --param applies to --fit cross; a model file is judged with the parameters it was "
                   "trained with", err=True)
    if candidate_file is not None:
        from .comparison import _comparison, _print_comparison

        result, *_ = _comparison(source, Path(candidate_file) if candidate_file else None,  # "": the default
                                 active_file, rules_dir, catalog_dir, confidence, cross_fit, lang)
        _print_comparison(result, as_json, lang=lang)
        return
    if cross_fit:
        click.echo("警告：--cross-fit 只用于 --candidate；各策略由 --fit cross 交叉拟合" if lang == "zh" else
                   "warning: --cross-fit applies to --candidate; policies are cross-fitted by --fit cross", err=True)
    ruleset, catalog = _setup(rules_dir, catalog_dir)
    outcomes, served, catalogs = _outcomes(source, ruleset, with_served=True, lang=lang)
    fitted = None
    if fit_mode == "file" and set(MODELLED) & set(policies):
        fitted, card = load(model_file or settings().models_dir / MODEL_FILE)
        warning = overlap(card, outcomes)
        if warning:
            click.echo(f"warning: {warning}", err=True)
    out = evaluate_policies(outcomes, policies, catalog, ruleset, fit_mode, fitted, served, catalogs,
                            epsilon=settings().learned_exploration, params=params)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    logged, zh = out["logged"], lang == "zh"
    click.echo(f"日志中有结果的决策 {logged['decisions']} 个；日志策略的价值 {logged['value']:.4f}" if zh else
               f"{logged['decisions']} logged decisions with outcomes; value of the logging policy "
               f"{logged['value']:.4f}")
    for r in out["estimates"]:
        fit = (f"   （{ {'cross': '交叉拟合', 'file': '模型文件'}.get(r['fit'], r['fit'])}）" if zh else
               f"   (model: {r['fit']})") if r["fit"] else ""
        click.echo(f"  {r['policy']:8s} IPS {r['ips']:8.4f} [{r['ips_ci95'][0]:.4f}, {r['ips_ci95'][1]:.4f}]   "
                   f"SNIPS {r['snips']:8.4f} [{r['snips_ci95'][0]:.4f}, {r['snips_ci95'][1]:.4f}]   "
                   f"{'有效样本' if zh else 'effective sample'} {r['effective_sample_size']:.0f}{fit}")


@model.command("info")
@click.option("--model", "model_file", type=click.Path(path_type=Path), default=None,
              help=f"The model file to describe (default: the active one, $DIAGNOSIS_MODELS/{MODEL_FILE}).")
@lang_option
@handle_errors
def info(model_file: Path | None, lang: str) -> None:
    """The model card of the trained model, and whether this version can load it."""
    from ..errors import ModelError
    from ..learning.persist import load

    path = model_file or settings().models_dir / MODEL_FILE
    try:
        _, card = load(path)
    except ModelError:
        if model_file is None:  # the file the service reads: say what it does without it
            click.echo(f"{path}：不可用；服务按文档所述的先验排序" if lang == "zh" else
                       f"{path}: not usable; the service ranks with the documented prior", err=True)
        raise
    click.echo(json.dumps(card, ensure_ascii=False, indent=2))
    # For a person, on standard error (standard output stays the card, JSON for a script).
    window, refit = card.get("data_window") or {}, card.get("refit_of")
    name = f"learned:{card.get('fingerprint', 'unknown')}"
    click.echo(f"模型 {name}{f'（learned:{refit} 的重新拟合）' if refit else ''}，数据 {window.get('from')} 至 "
               f"{window.get('to')}，{card.get('rows')} 个清单（{card.get('adopted_measured')} 个采纳且有结果）；"
               f"本版本可以加载" if lang == "zh" else
               f"model {name}{f' (the refit of learned:{refit})' if refit else ''}, data {window.get('from')} to "
               f"{window.get('to')}, {card.get('rows')} lists ({card.get('adopted_measured')} adopted with "
               f"outcomes); this version loads it", err=True)
