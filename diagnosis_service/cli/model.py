"""Command line of the effectiveness model and the closed-loop simulation (thin, as cli.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from ..config import MODEL_FILE, Settings
from ..errors import DiagnosisError


def _die(exc: DiagnosisError) -> None:
    for problem in exc.problems[:50]:
        click.echo(str(problem), err=True)
    sys.exit(exc.exit_code)


def _setup(rules_dir: Path | None, catalog_dir: Path | None):
    from ..remedies.catalog import load_catalog
    from ..rules import load_ruleset

    settings = Settings.from_env()
    ruleset = load_ruleset(rules_dir or settings.rules_dir)
    return settings, ruleset, load_catalog(catalog_dir or settings.catalog_dir, ruleset.registry)


common = [
    click.option("--rules", "rules_dir", type=click.Path(path_type=Path), default=None, help="Rules directory."),
    click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), default=None,
                 help="Catalog directory."),
]


def with_common(func):
    for option in reversed(common):
        func = option(func)
    return func


# ------------------------------------------------------------------------------------------- simulate loop

@click.command("loop")
@click.option("--policy", type=click.Choice(["learned", "prior", "random", "popularity", "oracle"]),
              default="learned", show_default=True, help="How prescriptions are ranked.")
@click.option("--months", type=click.IntRange(1, 60), default=12, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--branches", type=click.IntRange(1), default=2654, show_default=True)
@click.option("--members", type=click.IntRange(1), default=47411, show_default=True)
@click.option("--epsilon", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Share of uniform exploration of the learned policy.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: policy, seed, months, true_improvement, "
                                                      "weaknesses_resolved (and more).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Also write the served log and the metrics here (for model train/evaluate --from).")
@with_common
def loop(policy: str, months: int, seed: int, branches: int, members: int, epsilon: float, as_json: bool,
         out_dir: Path | None, rules_dir: Path | None, catalog_dir: Path | None) -> None:
    """Closed loop: diagnose, prescribe, simulated adoption and outcomes, feedback, retrain; month after month.

    Remedies have true effects known only to the simulator (and the oracle policy). Prints the weaknesses
    resolved and the total true improvement (in shares of the gap to the norm closed).
    """
    from ..simulation.loop import LoopSpec, run_loop

    try:
        _, ruleset, catalog = _setup(rules_dir, catalog_dir)
    except DiagnosisError as exc:
        _die(exc)
    spec = LoopSpec(policy=policy, months=months, seed=seed, branches=branches, members=members, epsilon=epsilon)
    if members < branches:
        raise click.UsageError("--members must be at least --branches")
    start = time.perf_counter()

    def progress(month: dict) -> None:
        if not as_json:
            click.echo(f"{month['period']}: {month['weaknesses']:6d} weaknesses prescribed, {month['adopted']:6d} "
                       f"adopted, true improvement {month['true_improvement']:9.2f}, "
                       f"{month['weaknesses_resolved']:6d} resolved")

    result = run_loop(spec, ruleset, catalog, on_month=progress)
    summary = result.summary()
    if out_dir is not None:
        _write_loop(out_dir, result, summary)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    click.echo(f"policy {policy}, seed {seed}, {months} months: true improvement {summary['true_improvement']:.2f}, "
               f"{summary['weaknesses_resolved']} weaknesses resolved ({time.perf_counter() - start:.0f} s)")


def _write_loop(out_dir: Path, result, summary: dict) -> None:
    import os
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    hidden = [c for c in result.log.columns if c.startswith("truth_")]  # the simulator's, not the service's
    for name, frame in (("log.csv", result.log.drop(columns=hidden)), ("truth.csv", result.log[hidden]),
                        ("branch_metrics.csv", result.branch_metrics)):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)
        os.replace(tmp, out_dir / name)
    (out_dir / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------- model

@click.group()
def model() -> None:
    """The effectiveness model: train, evaluate offline, inspect."""


def _decisions(source: Path | None, ruleset):
    """(log, branch metrics) from a `simulate loop --out` directory, or from the store."""
    import pandas as pd

    from ..engine.derive import derive_own

    if source is not None:
        if not (source / "log.csv").exists():
            raise click.BadParameter(f"{source} has no log.csv (write one with simulate loop --out)",
                                     param_hint="--from")
        log = pd.read_csv(source / "log.csv", keep_default_na=True)
        metrics = pd.read_csv(source / "branch_metrics.csv")
        return log, derive_own(metrics, "branch", ruleset)
    from ..store import make_engine
    from ..store import served as served_store

    engine = make_engine(Settings.from_env().db_url())
    with engine.connect() as conn:
        return served_store.decisions(conn, ruleset)


@model.command("train")
@click.option("--from", "source", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A `simulate loop --out` directory (default: the store's served log and metrics).")
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help=f"Model file (default: $DIAGNOSIS_MODELS/{MODEL_FILE}).")
@with_common
def train(source: Path | None, out_file: Path | None, rules_dir: Path | None, catalog_dir: Path | None) -> None:
    """Compute outcomes of the served prescriptions and fit the model; writes it with its model card."""
    import numpy as np

    from ..learning.estimator import EffectivenessModel, model_card, save, training_frame
    from ..learning.outcomes import compute
    from ..simulation.loop import HORIZON

    try:
        settings, ruleset, catalog = _setup(rules_dir, catalog_dir)
    except DiagnosisError as exc:
        _die(exc)
    start = time.perf_counter()
    log, metrics = _decisions(source, ruleset)
    outcomes = compute(log, metrics, ruleset, HORIZON)
    measurable = outcomes[np.isfinite(outcomes["improvement"])]
    if measurable.empty:
        click.echo("no served prescription has a measurable outcome yet (a month after it is needed)", err=True)
        sys.exit(2)
    X, y = training_frame(measurable, catalog)
    holdout = _holdout(measurable, X, y)
    fitted = EffectivenessModel().fit(X, y)
    seconds = time.perf_counter() - start
    card = model_card(X, y, measurable, fitted, str(source) if source else "store", holdout)
    card["training_seconds"] = round(seconds, 2)
    path = save(fitted, out_file or settings.models_dir / MODEL_FILE, card)
    click.echo(f"trained on {len(X)} lists ({fitted.n_effect_obs_} adopted with outcomes, "
               f"{card['data_window']['from']} to {card['data_window']['to']}) in {seconds:.1f} s -> {path}")
    click.echo(f"holdout (last fifth of the months): {json.dumps(holdout)}")


def _holdout(measurable, X, y) -> dict:
    """Fit on the earlier months, score on the latest fifth: correlation of predicted and measured."""
    import numpy as np

    from ..learning.estimator import EffectivenessModel

    periods = sorted(set(measurable["period"]))
    if len(periods) < 3:
        return {"note": "too few months for a holdout"}
    cut = periods[int(len(periods) * 0.8)]
    train = (measurable["period"] < cut).to_numpy()
    m = EffectivenessModel().fit(X[train], y[train])
    pred = m.predict(X[~train])
    test = y[~train]
    ok = np.isfinite(test)
    corr = float(np.corrcoef(pred[ok], test[ok])[0, 1]) if ok.sum() > 2 else float("nan")
    return {"from": cut, "rows": int((~train).sum()), "correlation": round(corr, 4),
            "r2": round(float(m.score(X[~train][ok], test[ok])), 4) if ok.sum() > 2 else None}


@model.command("evaluate")
@click.option("--from", "source", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="A `simulate loop --out` directory (default: the store).")
@click.option("--policy", "policies", multiple=True, type=click.Choice(["prior", "learned", "greedy", "random"]),
              default=("prior", "learned", "greedy", "random"), show_default=True)
@click.option("--fit", "fit_mode", type=click.Choice(["cross", "file"]), default="cross", show_default=True,
              help="learned and greedy policies: 'cross' fits a model on each half of the months and evaluates "
                   "it on the other half (what a model trained like `model train` is worth on decisions it has "
                   "not seen); 'file' evaluates the trained model file as it is (flattering where the log "
                   "overlaps the months it was trained on).")
@click.option("--model", "model_file", type=click.Path(path_type=Path), default=None,
              help="With --fit file: the model (default: the trained one).")
@click.option("--json", "as_json", is_flag=True)
@with_common
def evaluate(source: Path | None, policies: tuple[str, ...], fit_mode: str, model_file: Path | None, as_json: bool,
             rules_dir: Path | None, catalog_dir: Path | None) -> None:
    """Off-policy estimates (IPS, SNIPS, 95% bootstrap intervals) of policies' value from the served log."""
    import numpy as np

    from ..learning.estimator import EffectivenessModel, LearnedRanker, ModelError, load, training_frame
    from ..learning.ope import cross_fitted_probabilities, estimate, rewards, target_probabilities
    from ..learning.outcomes import compute
    from ..remedies.ranking import PriorRanker
    from ..simulation.loop import HORIZON, RandomRanker

    try:
        settings, ruleset, catalog = _setup(rules_dir, catalog_dir)
    except DiagnosisError as exc:
        _die(exc)
    log, metrics = _decisions(source, ruleset)
    outcomes = compute(log, metrics, ruleset, HORIZON)
    outcomes = outcomes[np.isfinite(outcomes["improvement"])].reset_index(drop=True)
    if outcomes.empty:
        click.echo("no served prescription has a measurable outcome yet (a month after it is needed)", err=True)
        sys.exit(2)
    reward = rewards(outcomes)
    modelled = {"learned": lambda m: LearnedRanker(m), "greedy": lambda m: LearnedRanker(m, epsilon=0.0, thompson=False)}
    fitted = None
    if fit_mode == "file" and set(modelled) & set(policies):
        try:
            fitted, card = load(model_file or settings.models_dir / MODEL_FILE)
        except ModelError as exc:
            _die(exc)
        window = card.get("data_window", {})
        if window.get("from", "9999") <= outcomes["period"].max() and window.get("to", "") >= outcomes["period"].min():
            click.echo(f"warning: the model was trained on {window['from']}..{window['to']}, which overlaps the "
                       "evaluated months: its estimates are flattering (--fit cross avoids this)", err=True)
    if fit_mode == "cross" and set(modelled) & set(policies) and outcomes["period"].nunique() < 2:
        click.echo("--fit cross needs outcomes in at least two months; use --fit file with a model trained "
                   "on earlier months", err=True)
        sys.exit(2)
    fits: dict[tuple, EffectivenessModel] = {}

    def fit(rows):  # learned and greedy share the model of each half: fitted once
        key = tuple(sorted(set(rows["period"])))
        if key not in fits:
            fits[key] = EffectivenessModel().fit(*training_frame(rows, catalog))
        return fits[key]

    results = []
    for name in policies:
        if name in modelled and fit_mode == "cross":
            target = cross_fitted_probabilities(outcomes, modelled[name], fit, lambda _p: catalog, ruleset)
        else:
            ranker = modelled[name](fitted) if name in modelled else {"prior": PriorRanker(), "random": RandomRanker()}[name]
            target = target_probabilities(outcomes, ranker, lambda _p: catalog, ruleset)
        results.append({**estimate(name, reward, outcomes["propensity"].to_numpy(dtype=float), target).as_dict(),
                        "fit": fit_mode if name in modelled else None})
    logged = {"policy": "logged", "value": round(float(np.mean(reward)), 5), "decisions": len(reward)}
    if as_json:
        click.echo(json.dumps({"logged": logged, "estimates": results}, ensure_ascii=False))
        return
    click.echo(f"{len(reward)} logged decisions with outcomes; value of the logging policy {logged['value']:.4f}")
    for r in results:
        click.echo(f"  {r['policy']:8s} IPS {r['ips']:8.4f} [{r['ips_ci95'][0]:.4f}, {r['ips_ci95'][1]:.4f}]   "
                   f"SNIPS {r['snips']:8.4f} [{r['snips_ci95'][0]:.4f}, {r['snips_ci95'][1]:.4f}]   "
                   f"effective sample {r['effective_sample_size']:.0f}" + (f"   (model: {r['fit']})" if r["fit"] else ""))


@model.command("info")
@click.option("--model", "model_file", type=click.Path(path_type=Path), default=None)
def info(model_file: Path | None) -> None:
    """The model card of the trained model, and whether this version can load it."""
    from ..learning.estimator import ModelError, load

    path = model_file or Settings.from_env().models_dir / MODEL_FILE
    try:
        _, card = load(path)
    except ModelError as exc:
        click.echo(f"{path}: not usable; the service ranks with the documented prior", err=True)
        _die(exc)
    click.echo(json.dumps(card, ensure_ascii=False, indent=2))
