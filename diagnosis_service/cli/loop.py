"""`simulate loop`: the closed loop with a hidden truth (diagnosis_service/simulation/), its log written for
`model train|evaluate|promote --from`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .common import catalog_option, handle_errors, lang_option, replaceable_output, rules_option
from .model import _setup
from .simulate import simulate


@simulate.command("loop")
@click.option("--policy", type=click.Choice(["learned", "prior", "random", "popularity", "oracle"]),
              default="learned", show_default=True, help="How prescriptions are ranked.")
@click.option("--months", type=click.IntRange(1, 60), default=12, show_default=True,
              help="Months evaluated, after 12 months of history served by the exploring prior (the same for "
                   "every policy); --out holds the history's months too.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--branches", type=click.IntRange(1), default=2654, show_default=True)
@click.option("--members", type=click.IntRange(1), default=47411, show_default=True)
@click.option("--epsilon", type=click.FloatRange(0, 1), default=0.02, show_default=True,  # LoopSpec.epsilon (tested)
              help="Share of uniform exploration of the learned policy (the service's default, "
                   "DIAGNOSIS_LEARNED_EXPLORATION, is the same).")
@click.option("--prior-exploration", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="With --policy prior: share of uniform exploration of the prior in the months evaluated, "
                   "as a service serves before its first model (DIAGNOSIS_PRIOR_EXPLORATION, 0.5 there); 0: "
                   "the plain prior, the baseline the benchmarks compare with. A log for model promote needs "
                   "it: only choices a log could have made can be judged on it.")
@click.option("--world", default="project", show_default=True,
              type=click.Choice(["project", "silent", "fading", "street", "kindtype", "all"]),
              help="The hidden truth's variant (simulation/worlds.py): silent secretaries, fading effects and "
                   "repeats, street affinity of on-site resources, a kind x type table unlike the prior's, or all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: policy, seed, months, true_improvement, "
                                                      "weaknesses_resolved (and more).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Also write the served log and the metrics here (for model train/evaluate --from).")
@rules_option
@catalog_option
@lang_option
@handle_errors
def loop(policy: str, months: int, seed: int, branches: int, members: int, epsilon: float, prior_exploration: float,
         world: str, as_json: bool, out_dir: Path | None, rules_dir: Path | None, catalog_dir: Path | None,
         lang: str) -> None:
    """Closed loop: diagnose, prescribe, simulated adoption and outcomes, feedback, retrain; month after month.

    Remedies have true effects known only to the simulator (and the oracle policy). Prints the weaknesses
    resolved and the total true improvement (in shares of the gap to the norm closed).
    """
    from ..simulation.loop import LoopSpec, run_loop

    given = click.get_current_context().get_parameter_source("epsilon") is click.core.ParameterSource.COMMANDLINE
    if given and policy != "learned":  # it was silently ignored, and a log taken for an exploring one
        raise click.UsageError(f"--epsilon is the learned policy's exploration; --policy {policy} does not explore"
                               + (" (its exploration is --prior-exploration)" if policy == "prior" else ""))
    if prior_exploration and policy != "prior":
        raise click.UsageError("--prior-exploration applies to --policy prior")
    ruleset, catalog = _setup(rules_dir, catalog_dir)
    spec = LoopSpec(policy=policy, months=months, seed=seed, branches=branches, members=members, epsilon=epsilon,
                    prior_epsilon=prior_exploration, world=world)
    spec.validate()
    if out_dir is not None:
        out_dir = replaceable_output(out_dir, "a loop's log", _loop_directory, own=LOOP_FILES)
    start = time.perf_counter()

    zh = lang == "zh"

    def progress(month: dict) -> None:
        if as_json:
            return
        if zh:
            click.echo(f"{month['period']}：已开方短板 {month['weaknesses']:6d} 个，采纳 {month['adopted']:6d} 个，"
                       f"真实改善 {month['true_improvement']:9.2f}，解决 {month['weaknesses_resolved']:6d} 个")
            return
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
    seconds = time.perf_counter() - start
    click.echo(f"策略 {policy}，种子 {seed}，{months} 个月：真实改善 {summary['true_improvement']:.2f}，解决短板 "
               f"{summary['weaknesses_resolved']} 个（{seconds:.0f} 秒）" if zh else
               f"policy {policy}, seed {seed}, {months} months: true improvement {summary['true_improvement']:.2f}, "
               f"{summary['weaknesses_resolved']} weaknesses resolved ({seconds:.0f} s)")


LOOP_FILES = ("log.csv", "truth.csv", "branch_metrics.csv", "summary.json")


def _loop_directory(path: Path) -> bool:
    """Whether ``path`` holds an earlier `simulate loop --out` and nothing else (a data directory has a
    branch_metrics.csv too: it must not be taken for one)."""
    return {p.name for p in path.iterdir()} <= set(LOOP_FILES) and (path / "summary.json").is_file()


def _write_loop(out_dir: Path, result, summary: dict) -> None:
    from ..data.files import write_atomic

    hidden = [c for c in result.log.columns if c.startswith("truth_")]  # the simulator's, not the service's
    for name, frame in (("log.csv", result.log.drop(columns=hidden)), ("truth.csv", result.log[hidden]),
                        ("branch_metrics.csv", result.branch_metrics)):
        write_atomic(out_dir / name, (frame.to_csv(index=False),))
    write_atomic(out_dir / "summary.json", (json.dumps(summary, ensure_ascii=False, indent=1), "\n"))
