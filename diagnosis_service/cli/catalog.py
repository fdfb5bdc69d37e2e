"""`catalog check` and `catalog list`: the remedy catalog (锋领汇)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from . import main
from .common import (
    catalog_option,
    echo_problems,
    handle_errors,
    lang_option,
    resolve_catalog,
    resolve_rules,
    rules_option,
)


@main.group()
def catalog() -> None:
    """Check and list the remedy catalog (锋领汇)."""


@catalog.command("check")
@catalog_option
@rules_option
@handle_errors
def catalog_check(catalog_dir: Path | None, rules_dir: Path | None) -> None:
    """Validate the catalog: schema, duplicate ids, unknown topics, types and streets, coverage."""
    from ..remedies.catalog_files import check_catalog, load_catalog
    from ..rules import load_ruleset

    directory = resolve_catalog(catalog_dir)
    registry = load_ruleset(resolve_rules(rules_dir)).registry
    problems = check_catalog(directory, registry)
    if problems:
        echo_problems(problems)
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    cat = load_catalog(directory, registry)
    kinds = Counter(r.kind for r in cat.resources)
    active = sum(r.active for r in cat.resources)
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
        hint = did_you_mean(topic, registry.topics) or "topics: " + ", ".join(registry.topics)
        raise click.BadParameter(f"unknown topic '{topic}' ({hint})", param_hint="--topic")
    cat = load_catalog(resolve_catalog(catalog_dir), registry)
    items = cat.select(kind, topic)
    if as_json:
        for r in items:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(catalog_table(items, registry, lang))
