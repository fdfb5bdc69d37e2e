"""`catalog check` and `catalog list`: the remedy catalog (锋领汇)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from . import main
from .common import (
    OutputFile,
    catalog_option,
    echo_problems,
    handle_errors,
    lang_option,
    refuse_input_overwrite,
    resolve_catalog,
    resolve_rules,
    rules_option,
    settings,
)


@main.group()
def catalog() -> None:
    """The remedy catalog (锋领汇): check, list, export to and import from a spreadsheet."""


@catalog.command("check")
@catalog_option
@rules_option
@lang_option
@handle_errors
def catalog_check(catalog_dir: Path | None, rules_dir: Path | None, lang: str) -> None:
    """Validate the catalog: schema, duplicate ids, unknown topics, types and streets, coverage."""
    from ..remedies.catalog import KIND_NAMES
    from ..remedies.catalog_files import check_catalog, load_catalog
    from ..rules import load_ruleset

    directory = resolve_catalog(catalog_dir)
    registry = load_ruleset(resolve_rules(rules_dir)).registry
    problems = check_catalog(directory, registry)
    if problems:
        echo_problems(problems)
        click.echo(f"{directory}：{len(problems)} 个问题" if lang == "zh" else
                   f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    cat = load_catalog(directory, registry)
    kinds = Counter(r.kind for r in cat.resources)
    active = sum(r.active for r in cat.resources)
    if lang == "zh":
        counted = "、".join(f"{KIND_NAMES[k][0] if k in KIND_NAMES else k} {n}" for k, n in sorted(kinds.items()))
        click.echo(f"通过：{len(cat.resources)} 个资源（{counted}；启用 {active} 个），覆盖 {len(registry.topics)} 个"
                   f"主题，版本 {cat.version}")
        return
    click.echo(f"ok: {len(cat.resources)} resources ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}; "
               f"{active} active) covering {len(registry.topics)} topics, version {cat.version}")


@catalog.command("list")
@catalog_option
@rules_option
@click.option("--kind", type=click.Choice(["lecturer", "lesson", "video", "base", "activity"]), default=None,
              help="Only this kind.")
@click.option("--topic", default=None, help="Only resources tagged with this topic (e.g. theory_study).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, every field of the schema.")
@lang_option
@handle_errors
def catalog_list(catalog_dir: Path | None, rules_dir: Path | None, kind: str | None, topic: str | None,
                 as_json: bool, lang: str) -> None:
    """List catalog resources: a table, or JSON Lines with --json."""
    from ..errors import did_you_mean
    from ..remedies.catalog_files import load_catalog
    from ..reports.summary import catalog_table
    from ..rules import load_ruleset

    registry = load_ruleset(resolve_rules(rules_dir)).registry
    if topic is not None and topic not in registry.topics:
        # The ids with their names in the output's language: a secretary knows 党费交纳, not dues.
        named = ", ".join(f"{k} ({t.name_zh if lang == 'zh' else t.name_en})" for k, t in registry.topics.items())
        hint = did_you_mean(topic, registry.topics) or "topics: " + named
        raise click.BadParameter(f"unknown topic '{topic}' ({hint})", param_hint="--topic")
    cat = load_catalog(resolve_catalog(catalog_dir), registry)
    items = cat.select(kind, topic)
    if as_json:
        for r in items:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(catalog_table(items, registry, lang))


def _store_catalog(catalog_dir: Path, registry):
    """The store's catalog versions (the deployed directory stored as version 1 when it has none)."""
    from ..service.versions import CatalogVersions
    from ..store import make_engine

    engine = make_engine(settings().db_url())
    versions = CatalogVersions(catalog_dir, engine, registry)
    versions.ensure_initial()
    return engine, versions.active(force=True)


@catalog.command("export")
@catalog_option
@rules_option
@click.option("--format", "fmt", type=click.Choice(["xlsx"]), default="xlsx", show_default=True,
              help="xlsx: one sheet per kind (names, then field ids), the streets, and a 说明 sheet.")
@click.option("--out", type=OutputFile(), required=True,
              help="The workbook to write (whole or not at all).")
@click.option("--from-store", is_flag=True,
              help="Export the store's active catalog version (DATABASE_URL) instead of the directory.")
@handle_errors
def catalog_export(catalog_dir: Path | None, rules_dir: Path | None, fmt: str, out: Path, from_store: bool) -> None:
    """Write the catalog as a spreadsheet to edit and import again (same bytes for the same catalog)."""
    from ..data.files import write_bytes_atomic
    from ..pipeline.catalog_xlsx import export_xlsx
    from ..remedies.catalog_files import load_catalog
    from ..rules import load_ruleset

    directory = resolve_catalog(catalog_dir)
    refuse_input_overwrite([out], [directory, resolve_rules(rules_dir)])
    registry = load_ruleset(resolve_rules(rules_dir)).registry
    version = None
    if from_store:
        _, active = _store_catalog(directory, registry)
        cat, where, version = active.catalog, f"the store's version {active.version}", active.version
    else:
        cat, where = load_catalog(directory, registry), str(directory)
    write_bytes_atomic(out, export_xlsx(cat, registry, version))
    click.echo(f"wrote {out}: {len(cat.resources)} resources from {where}")


@catalog.command("import")
@click.argument("workbook", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@catalog_option
@rules_option
@click.option("--publish", "publish", is_flag=True,
              help="Publish as a new version in the store (DATABASE_URL): running services use it within a "
                   "second. Without it, the catalog directory's files are rewritten.")
@click.option("--comment", default=None, help="Why the catalog changes (required with --publish).")
@click.option("--dry-run", is_flag=True, help="Check the workbook and say what would change; write nothing.")
@handle_errors
def catalog_import(workbook: Path, catalog_dir: Path | None, rules_dir: Path | None, publish: bool,
                   comment: str | None, dry_run: bool) -> None:
    """Read a catalog workbook (.xlsx): every problem with its sheet!cell, and nothing changed when there
    is one; else the files whose resources it changes are replaced (or published with --publish)."""
    from ..data.files import write_atomic
    from ..pipeline import catalog_admin
    from ..pipeline.catalog_xlsx import workbook_changes
    from ..remedies.catalog_files import load_catalog, read_files
    from ..remedies.catalog_sheets import MAX_XLSX_BYTES
    from ..rules import load_ruleset

    registry = load_ruleset(resolve_rules(rules_dir)).registry
    directory = resolve_catalog(catalog_dir)
    if workbook.stat().st_size > MAX_XLSX_BYTES:
        from ..errors import InputError, Problem

        raise InputError(Problem(f"the workbook is {workbook.stat().st_size:,} bytes, over the limit of "
                                 f"{MAX_XLSX_BYTES:,}", file=str(workbook)))
    data = workbook.read_bytes()
    if publish:
        if not comment:
            raise click.UsageError("--publish needs --comment (why the catalog changes)")
        engine, active = _store_catalog(directory, registry)
        cat, files = active.catalog, active.files
        from ..pipeline.catalog_xlsx import exported_over

        exported_over(data, active.version, "catalog export --format xlsx --from-store")
    else:
        cat, files = load_catalog(directory, registry), read_files(directory)[0]
    changes = workbook_changes(data, registry, cat, files, name=workbook.name)
    if not changes:
        click.echo("no change: the workbook holds the catalog as it is")
        return
    merged = {**files, **changes}
    checked, problems = catalog_admin.check(merged, registry)
    if checked is None:  # the files written from a workbook that passed: a bug if this ever fails
        from ..errors import CatalogError

        raise CatalogError(problems)
    before = {r.id: r for r in cat.resources}
    added = [r.id for r in checked.resources if r.id not in before]
    removed = [i for i in before if checked.get(i) is None]
    edited = [r.id for r in checked.resources if r.id in before and r.as_dict() != before[r.id].as_dict()]
    summary = (f"{', '.join(sorted(changes))}: {len(added)} added, {len(edited)} changed, {len(removed)} removed; "
               f"{len(checked.resources)} resources, {sum(r.active for r in checked.resources)} active")
    if dry_run:
        click.echo(f"would change {summary}")
        return
    if publish:
        version, _, _ = catalog_admin.publish(active.version, files, registry, engine, changes, comment,
                                              "cli:catalog-import", base_version=active.version)
        click.echo(f"published catalog version {version} ({summary})")
        return
    for name, text in sorted(changes.items()):
        write_atomic(directory / name, [text])
    click.echo(f"changed {summary} in {directory}")
