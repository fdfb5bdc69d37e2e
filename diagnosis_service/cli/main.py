"""The command line: thin wrappers over the library, no logic of its own.

Exit codes: 0 fine; 1 rule problems or failed rule tests; 2 bad input data or usage.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import click

from .. import __version__
from ..config import Settings
from ..errors import DiagnosisError

MAX_PRINTED_PROBLEMS = 200


def _settings() -> Settings:
    return Settings.from_env()


def handle_errors(func):
    """Turn DiagnosisError into a listing on stderr and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DiagnosisError as exc:
            for problem in exc.problems[:MAX_PRINTED_PROBLEMS]:
                click.echo(str(problem), err=True)
            if len(exc.problems) > MAX_PRINTED_PROBLEMS:
                click.echo(f"... and {len(exc.problems) - MAX_PRINTED_PROBLEMS} more", err=True)
            label = "input" if exc.exit_code == 2 else "rule"
            click.echo(f"error: {len(exc.problems)} {label} problem(s); nothing was written", err=True)
            sys.exit(exc.exit_code)

    return wrapper


rules_option = click.option("--rules", "rules_dir", type=click.Path(path_type=Path), default=None,
                            help="Rules directory (default: $DIAGNOSIS_RULES or the bundled rules/).")
lang_option = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                           help="Language of human-readable output.")


def _rules_dir(rules_dir: Path | None) -> Path:
    return rules_dir or _settings().rules_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="diagnosis-service")
def main() -> None:
    """Diagnosis and prescriptions for grassroots party branches (党建诊疗).

    Typical use: `simulate` a district, `diagnose` a month, read a branch `report`;
    administrators `rules check` and `rules test` their rule files.
    """


# ------------------------------------------------------------------------------------------- simulate

@main.group(invoke_without_command=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory to write (required unless a subcommand is given).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True, help="Months of history.")
@click.option("--end", default="2025-12", show_default=True, help="Last period, YYYY-MM.")
@click.option("--branches", type=click.IntRange(1), default=2654, show_default=True, help="Number of organisations.")
@click.option("--members", type=click.IntRange(1), default=47411, show_default=True, help="Number of members.")
@rules_option
@handle_errors
@click.pass_context
def simulate(ctx: click.Context, out_dir: Path | None, seed: int, months: int, end: str, branches: int, members: int,
             rules_dir: Path | None) -> None:
    """Generate a synthetic district as a CSV data directory (deterministic for a seed).

    `simulate loop` runs the closed-loop simulation of remedies instead (see `simulate loop --help`).
    """
    if ctx.invoked_subcommand is not None:
        return
    if out_dir is None:
        raise click.UsageError("Missing option '--out'.")
    from ..data.csvdir import write_dir
    from ..rules import load_ruleset
    from ..simulation.district import SimulationSpec
    from ..simulation.district import simulate as run

    ruleset = load_ruleset(_rules_dir(rules_dir))
    spec = SimulationSpec(branches=branches, members=members, months=months, end=end, seed=seed)
    try:
        spec.validate()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    start = time.perf_counter()
    dataset = run(spec, ruleset.registry)
    write_dir(dataset, out_dir, ruleset.registry)
    periods = dataset.periods()
    click.echo(f"wrote {out_dir}: {len(dataset.branches)} branches, {len(dataset.members)} members, "
               f"{len(periods)} months ({periods[0]} to {periods[-1]}) in {time.perf_counter() - start:.1f} s")


# ------------------------------------------------------------------------------------------- diagnose

catalog_option = click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), default=None,
                              help="Remedy catalog directory (default: $DIAGNOSIS_CATALOG or the bundled "
                                   "resources_catalog/).")


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
@click.option("--history", "history_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Earlier `diagnose --out` files: resources prescribed there in the 3 months before "
                   "--period are not prescribed again for the same weakness. Repeatable.")
@lang_option
@handle_errors
def diagnose(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None, out_file: Path | None,
             explain_id: str | None, engine: str, per_weakness: int, history_files: tuple[Path, ...],
             lang: str) -> None:
    """Diagnose one period: lamps, findings, weaknesses, vanguard points and prescriptions."""
    from ..pipeline.month import diagnose_dir, write_lines
    from ..reports.summary import render_explain, render_prescriptions_explain, summary

    start = time.perf_counter()
    history = _history(history_files)
    diag = diagnose_dir(data_dir, _rules_dir(rules_dir), period, engine, catalog_dir or _settings().catalog_dir,
                        per_weakness, history)
    if explain_id:
        subject = "member" if any(m.id == explain_id for m in diag.members) else "branch"
        if subject == "branch" and not any(b.id == explain_id for b in diag.branches):
            raise click.BadParameter(f"no branch or member '{explain_id}' with data in {period}",
                                     param_hint="--explain")
        click.echo(render_explain(diag, subject, explain_id, lang))
        if subject == "branch" and per_weakness:
            click.echo("")
            click.echo(render_prescriptions_explain(diag, explain_id, lang))
        return
    if out_file:
        write_lines(diag.lines(), out_file)
        click.echo(f"wrote {len(diag.branches)} branches and {len(diag.members)} members to {out_file} "
                   f"in {time.perf_counter() - start:.2f} s", err=True)
    else:
        click.echo(summary(diag, lang))


def _history(files: tuple[Path, ...]):
    from ..remedies.prescribe import History

    history = History()
    for path in files:
        with open(path, encoding="utf-8") as fh:
            history.update(History.from_lines(fh, str(path)))
    return history


# ------------------------------------------------------------------------------------------- report

@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True, help="Data directory.")
@click.option("--period", required=True, help="Month, YYYY-MM.")
@click.option("--branch", "branch_id", required=True, help="Branch id, e.g. B00017.")
@rules_option
@catalog_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html"]), default="text", show_default=True,
              help="Output format (html: a complete page).")
@click.option("--history", "history_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Earlier `diagnose --out` files (see diagnose --help).")
@lang_option
@handle_errors
def report(data_dir: Path, period: str, branch_id: str, rules_dir: Path | None, catalog_dir: Path | None, fmt: str,
           history_files: tuple[Path, ...], lang: str) -> None:
    """A branch's diagnosis report with its prescriptions, as its secretary reads it."""
    from ..pipeline.month import diagnose_dir
    from ..reports.branch import render_branch

    diag = diagnose_dir(data_dir, _rules_dir(rules_dir), period, catalog_dir=catalog_dir or _settings().catalog_dir,
                        history=_history(history_files))
    if not any(b.id == branch_id for b in diag.branches):
        raise click.BadParameter(f"no branch '{branch_id}' with data in {period}", param_hint="--branch")
    click.echo(render_branch(diag, branch_id, lang, fmt))


# ------------------------------------------------------------------------------------------- catalog

@main.group()
def catalog() -> None:
    """Check and list the remedy catalog (锋领汇)."""


@catalog.command("check")
@catalog_option
@rules_option
@handle_errors
def catalog_check(catalog_dir: Path | None, rules_dir: Path | None) -> None:
    """Validate the catalog: schema, duplicate ids, unknown topics, types and streets, coverage."""
    from collections import Counter

    from ..remedies.catalog import check_catalog, load_catalog
    from ..rules import load_ruleset

    directory = catalog_dir or _settings().catalog_dir
    registry = load_ruleset(_rules_dir(rules_dir)).registry
    problems = check_catalog(directory, registry)
    if problems:
        for problem in problems[:MAX_PRINTED_PROBLEMS]:
            click.echo(str(problem), err=True)
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
    import json

    from ..errors import did_you_mean
    from ..remedies.catalog import load_catalog
    from ..reports.summary import catalog_table
    from ..rules import load_ruleset

    registry = load_ruleset(_rules_dir(rules_dir)).registry
    if topic is not None and topic not in registry.topics:
        hint = did_you_mean(topic, registry.topics) or "topics: " + ", ".join(registry.topics)
        raise click.BadParameter(f"unknown topic '{topic}' ({hint})", param_hint="--topic")
    cat = load_catalog(catalog_dir or _settings().catalog_dir, registry)
    items = cat.select(kind, topic)
    if as_json:
        for r in items:
            click.echo(json.dumps(r.as_dict(), ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(catalog_table(items, registry, lang))


# ------------------------------------------------------------------------------------------- rules

@main.group()
def rules() -> None:
    """Check and test rule files."""


@rules.command("check")
@rules_option
def rules_check(rules_dir: Path | None) -> None:
    """Validate the rule files against the indicator registry and the rule schema."""
    from ..rules import check_rules, load_ruleset

    directory = _rules_dir(rules_dir)
    problems = check_rules(directory)
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    ruleset = load_ruleset(directory)
    from ..engine.durable import compile_problems

    problems = compile_problems(ruleset)  # every accepted rule must also run on durable_rules
    if problems:
        for problem in problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        sys.exit(1)
    counts = {s: len(ruleset.for_subject(s)) for s in ("branch", "member")}
    click.echo(f"ok: {len(ruleset.rules)} rules ({counts['branch']} branch, {counts['member']} member) "
               f"in {len(ruleset.files) - 2} rule files, version {ruleset.version}")


@rules.command("test")
@rules_option
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@handle_errors
def rules_test(rules_dir: Path | None, files: tuple[Path, ...]) -> None:
    """Run rule unit tests (RULES/tests/*.yaml, or the FILES given) and print a diff for each failure."""
    from ..pipeline.rule_tests import format_report, run_tests

    report = run_tests(_rules_dir(rules_dir), list(files) if files else None)
    click.echo(format_report(report))
    if not report.results and not report.problems:
        click.echo("no rule tests found", err=True)
        sys.exit(1)
    sys.exit(0 if report.ok else 1)


# ------------------------------------------------------------------------------------------- store and service

def _engine():
    from ..store import make_engine

    return make_engine(_settings().db_url())


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def db() -> None:
    """The store (DATABASE_URL; default an SQLite file under var/)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest revision (safe to run again)."""
    from ..store.migrate import current, head, upgrade

    engine = _engine()
    before = current(engine)
    upgrade(engine)
    after = current(engine)
    click.echo(f"database {_safe_url(str(engine.url))}: revision {before or 'none'} -> {after} (head {head()})")


@main.command("import")
@click.argument("data_dir", type=click.Path(path_type=Path))
@rules_option
@handle_errors
def import_cmd(data_dir: Path, rules_dir: Path | None) -> None:
    """Import a CSV data directory into the store: validated whole first, all or nothing, idempotent."""
    from ..pipeline import import_dir
    from ..rules import load_ruleset

    registry = load_ruleset(_rules_dir(rules_dir)).registry
    start = time.perf_counter()
    changes = import_dir(_engine(), registry, data_dir, actor="cli:import")
    for table, c in changes.items():
        click.echo(f"{table:15s} inserted {c['inserted']:7d}  updated {c['updated']:7d}  unchanged {c['unchanged']:7d}")
    click.echo(f"imported {data_dir} in {time.perf_counter() - start:.1f} s")


@main.group()
def tokens() -> None:
    """API tokens (stored hashed; a token is shown once, when created)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["platform", "admin", "secretary"]), required=True)
@click.option("--branch", "branch_id", default=None, help="The branch of a secretary's token.")
@click.option("--name", required=True, help="Who or what holds the token (unique), e.g. platform-prod.")
@handle_errors
def tokens_create(role: str, branch_id: str | None, name: str) -> None:
    """Create a token and print it once."""
    from ..store import tokens as tokens_store

    with _engine().begin() as conn:
        token = tokens_store.create(conn, name, role, branch_id)
    click.echo(token)
    click.echo(f"token '{name}' ({role}{' of ' + branch_id if branch_id else ''}) created; it is not shown again",
               err=True)


@tokens.command("revoke")
@click.option("--name", required=True)
def tokens_revoke(name: str) -> None:
    """Revoke a token by name (at once, in every process)."""
    from ..store import tokens as tokens_store

    with _engine().begin() as conn:
        done = tokens_store.revoke(conn, name)
    if not done:
        click.echo(f"no active token named '{name}'", err=True)
        sys.exit(2)
    click.echo(f"token '{name}' revoked")


@tokens.command("list")
def tokens_list() -> None:
    """Token names, roles and dates (never the tokens)."""
    from ..store import tokens as tokens_store

    with _engine().connect() as conn:
        for t in tokens_store.listing(conn):
            state = f"revoked {t['revoked_at']:%Y-%m-%d}" if t["revoked_at"] else "active"
            click.echo(f"{t['name']:30s} {t['role']:10s} {t['branch_id'] or '-':10s} "
                       f"created {t['created_at']:%Y-%m-%d}  {state}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the HTTP API with waitress (a production WSGI server)."""
    import waitress

    from ..service import create_app

    app = create_app()
    click.echo(f"serving on http://{host}:{port} ({threads} threads), database "
               f"{_safe_url(app.config['DATABASE_URL'])}", err=True)
    waitress.serve(app, host=host, port=port, threads=threads, ident="diagnosis-service")


from .model import loop, model  # noqa: E402 -- registered after the group they join is defined

simulate.add_command(loop)
main.add_command(model)

if __name__ == "__main__":  # pragma: no cover
    main()
