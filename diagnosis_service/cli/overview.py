"""`overview`: the district's (a street's, a branch type's) months side by side, and the circular's `export`."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from . import main
from .common import OutputFile, handle_errors, lang_option, resolve_rules, rules_option, settings


def _check_scope(street: str | None, branch_type: str | None, streets: set[str], registry) -> None:
    if branch_type is not None and branch_type not in registry.branch_types:
        raise click.BadParameter(f"unknown branch type '{branch_type}' (types: {', '.join(registry.branch_types)})",
                                 param_hint="--type")
    if street is not None and street not in streets:
        raise click.BadParameter(f"no branch in street '{street}' (streets: {'、'.join(sorted(streets))})",
                                 param_hint="--street")


def _english_streets(registry):
    """The catalog's English street names (its district.yaml), or None with a warning when it does not load."""
    from ..errors import DiagnosisError
    from ..remedies.catalog_files import load_catalog
    from .common import resolve_catalog

    try:
        return load_catalog(resolve_catalog(None), registry).street_en
    except DiagnosisError as exc:
        click.echo(f"warning: streets are shown as the data spells them: the catalog does not load "
                   f"({exc.problems[0] if exc.problems else exc})", err=True)
        return None


def _write(out_file: Path | None, text: str | None = None, data: bytes | None = None, lang: str = "zh") -> None:
    from ..data.files import write_atomic, write_bytes_atomic

    if out_file is None:
        click.echo(text, nl=False)
        return
    if data is not None:
        write_bytes_atomic(out_file, data)
    else:
        write_atomic(out_file, [text or ""])
    click.echo(f"已写入 {out_file}" if lang == "zh" else f"wrote {out_file}", err=True)


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Data directory or columnar dataset: diagnose its months here. Without it: the months stored by the service "
                   "(DATABASE_URL), as GET /v1/overview gives them.")
@click.option("--from", "period_from", required=True, help="First month, YYYY-MM.")
@click.option("--to", "period_to", required=True, help="Last month, YYYY-MM (at most 60 months in all).")
@click.option("--street", default=None, help="Only this street (街道/镇), as in branches.csv.")
@click.option("--type", "branch_type", default=None, help="Only this branch type (e.g. village, community).")
@rules_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html", "xlsx", "json"]), default="text",
              show_default=True, help="Output format (html: a page with the trend chart and the heat map; xlsx "
                                      "needs --out).")
@click.option("--out", "out_file", type=OutputFile(stdout_ok=True), default=None,
              help="Write the output to this file (whole or not at all) instead of standard output.")
@lang_option
@handle_errors
def overview(data_dir: Path | None, period_from: str, period_to: str, street: str | None, branch_type: str | None,
             rules_dir: Path | None, fmt: str, out_file: Path | None, lang: str) -> None:
    """Lamps and lamp rates month by month and their change, the top weaknesses and findings, streets side
    by side, and the branches red two months or more in a row."""
    import json

    from ..pipeline import overview as overview_
    from ..pipeline.rankings import Scope
    from ..reports import overview as report
    from ..reports.labels import name_of, with_street_names
    from ..reports.overview_page import render_html
    from ..reports.render import render_markdown, render_text
    from ..rules import load_ruleset

    if fmt == "xlsx" and out_file is None:
        raise click.BadParameter("an xlsx workbook is written to a file: give --out FILE.xlsx", param_hint="--out")
    ruleset = load_ruleset(resolve_rules(rules_dir))
    from ..errors import InputError

    try:
        months = overview_.check_range(period_from, period_to)
    except InputError as exc:  # told as the options that were given, not as the API's query fields
        problem = exc.problems[0]
        hint = f"--{problem.field[-1]}" if problem.field else "--from"
        raise click.BadParameter(f"{problem.message}{f' ({problem.suggestion})' if problem.suggestion else ''}",
                                 param_hint=hint) from None
    scope = Scope(street, branch_type)
    if data_dir is not None:
        from ..data.sources import source_for

        dataset = source_for(data_dir).load(ruleset.registry)
        _check_scope(street, branch_type, set(dataset.branches["street"]), ruleset.registry)
        def said(period: str, k: int, n: int) -> None:  # the months a year before are the comparison's
            earlier = period not in months
            click.echo(f"已诊断 {period}（{k}/{n}{'，用于同比' if earlier else ''}）" if lang == "zh" else
                       f"diagnosed {period} ({k}/{n}{', for the year-on-year comparison' if earlier else ''})",
                       err=True)

        data = overview_.from_dataset(dataset, ruleset, period_from, period_to, scope, progress=said)
    else:
        from ..store import make_engine
        from ..store import metrics as metrics_store

        engine = make_engine(settings().db_url())
        with engine.connect() as conn:
            _check_scope(street, branch_type, set(metrics_store.streets(conn)), ruleset.registry)
            data = overview_.from_store(conn, ruleset, period_from, period_to, scope)
    type_name = functools.partial(name_of, ruleset.registry.branch_types, lang=lang)
    if lang == "en" and fmt != "json":  # JSON keeps the streets as the data spells them: they are ids
        data = with_street_names(data, _english_streets(ruleset.registry))
    if fmt == "xlsx":
        _write(out_file, data=report.workbook(data, lang, type_name), lang=lang)
    elif fmt == "json":
        _write(out_file, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", lang=lang)
    else:
        _write(out_file, render_html(data, lang, type_name) if fmt == "html" else
               (render_markdown if fmt == "markdown" else render_text)(report.document(data, lang, type_name)),
               lang=lang)
