"""`overview`: the district's (a street's, a branch type's) months side by side, and the circular's `export`."""

from __future__ import annotations

import functools
from pathlib import Path

import click

from . import main
from .common import (
    OutputFile,
    handle_errors,
    lang_option,
    refuse_input_overwrite,
    resolve_rules,
    rules_option,
    settings,
)

FORMATS = ["text", "markdown", "html", "xlsx", "json"]
SUFFIXES = {".txt": "text", ".md": "markdown", ".html": "html", ".htm": "html", ".xlsx": "xlsx", ".json": "json"}


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
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text",
              show_default=True, help="Output format (html: a page with the trend chart and the heat map; xlsx "
                                      "needs --out). Without it, a file given to --out has the format its name "
                                      "ends with (.txt .md .html .xlsx .json; text otherwise).")
@click.option("--out", "out_files", type=OutputFile(stdout_ok=True), multiple=True,
              help="Write the output to this file (whole or not at all) instead of standard output. Repeatable: "
                   "the overview is computed once and written in each file's format (by its name), e.g. --out "
                   "overview.html --out overview.xlsx.")
@lang_option
@click.pass_context
@handle_errors
def overview(ctx: click.Context, data_dir: Path | None, period_from: str, period_to: str, street: str | None,
             branch_type: str | None, rules_dir: Path | None, fmt: str, out_files: tuple[Path | None, ...],
             lang: str) -> None:
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

    outputs = _outputs(out_files, fmt if ctx.get_parameter_source("fmt") is click.core.ParameterSource.COMMANDLINE
                       else None)
    refuse_input_overwrite([f for f, _ in outputs], [data_dir, resolve_rules(rules_dir)])
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
    named = data
    if lang == "en" and any(f != "json" for _, f in outputs):  # JSON keeps the streets as the data spells them: ids
        named = with_street_names(data, _english_streets(ruleset.registry))
    for out_file, form in outputs:
        if form == "xlsx":
            _write(out_file, data=report.workbook(named, lang, type_name), lang=lang)
        elif form == "json":
            _write(out_file, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", lang=lang)
        else:
            _write(out_file, render_html(named, lang, type_name) if form == "html" else
                   (render_markdown if form == "markdown" else render_text)(report.document(named, lang, type_name)),
                   lang=lang)


def _outputs(out_files: tuple[Path | None, ...], fmt: str | None) -> list[tuple[Path | None, str]]:
    """Each output (None: standard output) with its format: ``fmt`` when --format was given, else the
    file's suffix. Checked before any work: an xlsx to standard output, one file twice, --format with
    several files, standard output twice."""
    if not out_files:
        out_files = (None,)
    if fmt is not None and len(out_files) > 1:
        raise click.BadParameter("--format applies to one --out; with several, each file's format is taken from "
                                 f"its name ({' '.join(SUFFIXES)})", param_hint="--format")
    outputs = [(f, fmt or (SUFFIXES.get(f.suffix.lower(), "text") if f is not None else "text")) for f in out_files]
    seen: set = set()
    for f, form in outputs:
        key = f.resolve() if f is not None else None
        if key in seen:
            raise click.BadParameter(f"{f or '-'} is given twice", param_hint="--out")
        seen.add(key)
        if form == "xlsx" and f is None:
            raise click.BadParameter("an xlsx workbook is written to a file: give --out FILE.xlsx", param_hint="--out")
    return outputs
