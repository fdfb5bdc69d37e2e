"""`diagnose` a month and read a branch's `report`, from a data directory."""

from __future__ import annotations

import time
from pathlib import Path

import click

from . import main
from .common import catalog_option, handle_errors, lang_option, resolve_catalog, resolve_rules, rules_option

history_option = click.option(
    "--history", "history_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Earlier `diagnose --out` files: resources prescribed there in the 3 months before --period are not "
         "prescribed again for the same weakness. Repeatable.")


def _month(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None, engine: str = "vectorized",
           per_weakness: int = 5, history_files: tuple[Path, ...] = ()):
    from ..data.sources import source_for
    from ..pipeline.month import diagnose_month, history_from_files
    from ..pipeline.snapshot import Snapshot

    snapshot = Snapshot.from_dirs(resolve_rules(rules_dir), resolve_catalog(catalog_dir) if per_weakness else None)
    dataset = source_for(data_dir).load(snapshot.ruleset.registry, period)
    return snapshot, diagnose_month(dataset, snapshot, period, engine, per_weakness, history_from_files(history_files))


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="Data directory (branches.csv, members.csv, branch_metrics.csv, member_metrics.csv).")
@click.option("--period", required=True, help="Month to diagnose, YYYY-MM (earlier months are its history).")
@rules_option
@catalog_option
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help="Write JSON Lines here (one object per branch, then per member). Without it: a summary.")
@click.option("--explain", "explain_id", default=None, metavar="ID",
              help="Print why each rule did or did not fire for this branch (or member), and why each "
                   "prescription was chosen.")
@click.option("--engine", type=click.Choice(["vectorized", "durable"]), default="vectorized", show_default=True,
              help="Evaluation engine: vectorized (whole month at once) or durable (durable_rules, subject by "
                   "subject); both give the same output.")
@click.option("--prescriptions", "per_weakness", type=click.IntRange(0, 50), default=5, show_default=True,
              help="Prescriptions per weakness on each branch (0: none, and no catalog is read).")
@history_option
@lang_option
@handle_errors
def diagnose(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None, out_file: Path | None,
             explain_id: str | None, engine: str, per_weakness: int, history_files: tuple[Path, ...],
             lang: str) -> None:
    """Diagnose one period: lamps, findings, weaknesses, vanguard points and prescriptions."""
    from ..pipeline.month import JsonLinesSink
    from ..reports.summary import render_explain, render_prescriptions_explain, summary

    start = time.perf_counter()
    _, month = _month(data_dir, period, rules_dir, catalog_dir, engine, per_weakness, history_files)
    if explain_id:
        subject = "member" if any(m.id == explain_id for m in month.members) else "branch"
        if subject == "branch" and month.branch(explain_id) is None:
            raise click.BadParameter(f"no branch or member '{explain_id}' with data in {period}",
                                     param_hint="--explain")
        click.echo(render_explain(month, subject, explain_id, lang))
        if subject == "branch" and per_weakness:
            click.echo("")
            click.echo(render_prescriptions_explain(month, explain_id, lang))
        return
    if out_file:
        JsonLinesSink(out_file).keep(month)
        click.echo(f"wrote {len(month.branches)} branches and {len(month.members)} members to {out_file} "
                   f"in {time.perf_counter() - start:.2f} s", err=True)
    else:
        click.echo(summary(month, lang))


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True, help="Data directory.")
@click.option("--period", required=True, help="Month, YYYY-MM.")
@click.option("--branch", "branch_id", required=True, help="Branch id, e.g. B00017.")
@rules_option
@catalog_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html"]), default="text", show_default=True,
              help="Output format (html: a complete page).")
@history_option
@lang_option
@handle_errors
def report(data_dir: Path, period: str, branch_id: str, rules_dir: Path | None, catalog_dir: Path | None, fmt: str,
           history_files: tuple[Path, ...], lang: str) -> None:
    """A branch's diagnosis report with its prescriptions, as its secretary reads it."""
    from ..pipeline import report_data
    from ..reports.branch import document
    from ..reports.render import render

    snapshot, month = _month(data_dir, period, rules_dir, catalog_dir, history_files=history_files)
    if month.branch(branch_id) is None:
        raise click.BadParameter(f"no branch '{branch_id}' with data in {period}", param_hint="--branch")
    data = report_data.build(report_data.from_month(month, branch_id), snapshot)
    click.echo(render(document(data, snapshot.ruleset.registry, lang), fmt))
