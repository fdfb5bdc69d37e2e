"""`rules check` and `rules test`: what rule authors run before they publish."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import main
from .common import echo_problems, handle_errors, lang_option, resolve_rules, rules_option


@main.group()
def rules() -> None:
    """Check and test rule files."""


@rules.command("check")
@rules_option
@lang_option
@handle_errors
def rules_check(rules_dir: Path | None, lang: str) -> None:
    """Validate the rule files against the indicator registry and the rule schema, and compile them
    for durable_rules (every accepted rule must run on both engines)."""
    from ..engine.durable import compile_problems
    from ..rules import check_rules, load_ruleset

    directory = resolve_rules(rules_dir)
    problems = check_rules(directory)
    ruleset = None if problems else load_ruleset(directory)
    if ruleset is not None:
        problems = compile_problems(ruleset)
    if problems:
        echo_problems(problems, limit=10_000)
        click.echo(f"{directory}：{len(problems)} 个问题" if lang == "zh" else
                   f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    counts = {s: len(ruleset.for_subject(s)) for s in ("branch", "member")}
    files = len(ruleset.files) - 2  # the registry and the points files are not rule files
    click.echo(f"通过：{files} 个规则文件共 {len(ruleset.rules)} 条规则（支部 {counts['branch']} 条，党员 "
               f"{counts['member']} 条），版本 {ruleset.version}" if lang == "zh" else
               f"ok: {len(ruleset.rules)} rules ({counts['branch']} branch, {counts['member']} member) "
               f"in {files} rule files, version {ruleset.version}")


@rules.command("test")
@rules_option
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@lang_option
@handle_errors
def rules_test(rules_dir: Path | None, files: tuple[Path, ...], lang: str) -> None:
    """Run rule unit tests (RULES/tests/*.yaml, or the FILES given) and print a diff for each failure."""
    from ..pipeline.rule_tests import format_report, run_tests

    report = run_tests(resolve_rules(rules_dir), list(files) if files else None)
    click.echo(format_report(report, lang))
    if not report.results and not report.problems:
        click.echo("没有找到规则测试（RULES/tests/*.yaml）" if lang == "zh" else "no rule tests found", err=True)
        sys.exit(1)
    sys.exit(0 if report.ok else 1)
