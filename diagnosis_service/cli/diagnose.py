"""`diagnose` a month and read a branch's `report`, from a data directory."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click

from . import main
from .common import (
    DataLocation,
    OutputFile,
    catalog_option,
    collections_paused,
    handle_errors,
    lang_option,
    refuse_input_overwrite,
    replaceable_output,
    resolve_catalog,
    resolve_rules,
    rules_option,
    sigterm_as_exit,
    stops_noted,
)

history_option = click.option(
    "--history", "history_files", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Earlier `diagnose --out` files: resources prescribed there in the 3 months before --period are not "
         "prescribed again for the same weakness (lines of --period or later are passed over). Repeatable.")


def _month(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None, engine: str = "vectorized",
           per_weakness: int = 5, history_files: tuple[Path, ...] = (), earlier_months: bool = False,
           prescribe_now: bool = True):
    """The month diagnosed; ``earlier_months``: read every indicator of the months before it too (a report
    shows them), not only those the rules look back at; ``prescribe_now`` false: ``Month.prescribe`` left
    for the writer."""
    from ..data.sources import source_for
    from ..pipeline.month import diagnose_month, history_from_files
    from ..pipeline.snapshot import Snapshot

    snapshot = Snapshot.from_dirs(resolve_rules(rules_dir), resolve_catalog(catalog_dir) if per_weakness else None)
    dataset = source_for(data_dir).load(snapshot.ruleset.registry, period,
                                        lookback=None if earlier_months else snapshot.lookback(),
                                        carry=None if earlier_months else snapshot.carry())
    return snapshot, diagnose_month(dataset, snapshot, period, engine, per_weakness, history_from_files(history_files, period),
                                    prescribe_now=prescribe_now)


@main.command()
@click.option("--data", "data_dir", type=DataLocation(), required=True,
              help="Data directory (branches.csv, members.csv, branch_metrics.csv, member_metrics.csv), or a "
                   "columnar dataset (`data convert`, `simulate --scale`): a directory or an fsspec URL "
                   "(s3://..., file://...).")
@click.option("--period", required=True, help="Month to diagnose, YYYY-MM (earlier months are its history).")
@rules_option
@catalog_option
@click.option("--out", "out_file", type=OutputFile(), default=None,
              help="Write JSON Lines here (one object per branch, then per member). Without it: a summary.")
@click.option("--out-parts", "out_parts", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR",
              help="With --engine dask, instead of --out: each worker writes the parts it diagnosed into DIR (on "
                   "storage the workers share) and this process writes DIR/manifest.json; no merge here. "
                   "`data merge-parts DIR --out FILE` gives the --out file, byte for byte (docs/scale.md).")
@click.option("--explain", "explain_id", default=None, metavar="ID",
              help="Print why each rule did or did not fire for this branch (or member), and why each "
                   "prescription was chosen.")
@click.option("--engine", type=click.Choice(["vectorized", "durable", "dask"]), default="vectorized",
              show_default=True,
              help="Evaluation engine: vectorized (whole month at once), durable (durable_rules, subject by "
                   "subject) or dask (a columnar dataset street by street on dask.distributed workers; needs "
                   "--out); all give the same output.")
@click.option("--scheduler", default="local", show_default=True, metavar="local[:N]|tcp://HOST:PORT",
              help="With --engine dask: N worker processes on this machine (default: one per core), or a running "
                   "dask scheduler whose workers see --data at the same path (docs/scale.md).")
@click.option("--part-members", type=click.IntRange(1), default=None, metavar="N",
              help="With --engine dask: streets are grouped into parts of about N members, one task each "
                   "(default: four parts per worker, 2,000 to 50,000 members each).")
@click.option("--worker-memory", default=None, metavar="SIZE",
              help="With --engine dask and a local scheduler: memory limit per worker, at least 512MiB, e.g. 4GiB (default: this "
                   "machine's memory shared among the workers).")
@click.option("--jobs", type=click.IntRange(1, 64), default=None, metavar="N",
              help="With --out: processes that share out the prescriptions and the lines once the month is "
                   "evaluated (default: this machine's cores, at most 4); the same bytes with any N.")
@click.option("--prescriptions", "per_weakness", type=click.IntRange(0, 50), default=5, show_default=True,
              help="Prescriptions per weakness on each branch (0: none, and no catalog is read).")
@history_option
@lang_option
@handle_errors
def diagnose(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None, out_file: Path | None,
             out_parts: Path | None, explain_id: str | None, engine: str, scheduler: str, part_members: int | None, worker_memory: str | None,
             jobs: int | None, per_weakness: int, history_files: tuple[Path, ...], lang: str) -> None:
    """Diagnose one period: lamps, findings, weaknesses, vanguard points and prescriptions."""
    start = time.perf_counter()
    if engine != "dask" and (scheduler != "local" or part_members is not None or worker_memory is not None):
        raise click.UsageError("--scheduler, --part-members and --worker-memory apply to --engine dask only")
    if jobs is not None and (engine == "dask" or not out_file or explain_id):
        raise click.UsageError("--jobs applies to --out with the vectorized or durable engine")
    if out_parts is not None and engine != "dask":
        raise click.UsageError("--out-parts applies to --engine dask only (its workers write the parts)")
    if out_parts is not None and out_file:
        raise click.UsageError("give --out or --out-parts, not both (`data merge-parts DIR --out FILE` makes the "
                               "one file from the parts)")
    refuse_input_overwrite([out_file], [data_dir, resolve_rules(rules_dir), *history_files,
                                        resolve_catalog(catalog_dir) if per_weakness else None])
    if engine == "dask":
        if explain_id or not (out_file or out_parts):
            raise click.UsageError("--engine dask writes --out FILE (or --out-parts DIR) and does not --explain; for "
                                   "a summary or an explanation use --engine vectorized")
        if out_parts is not None:
            from ..pipeline.parts_out import is_parts_dir

            out_parts = replaceable_output(out_parts, "a parts directory", is_parts_dir,
                                           inputs=(data_dir,) if isinstance(data_dir, Path) else ())
        with stops_noted() as stopped:  # SIGTERM as Ctrl-C: the cluster is closed and the temporary parts removed
            _diagnose_dask(data_dir, period, rules_dir, catalog_dir, out_file, scheduler, worker_memory, part_members,
                           per_weakness, history_files, lang, out_parts, stopped)
        return
    # The vectorized engine's month is a million objects that live until written, and full collections
    # walked them again for nothing; the durable engine leaves cyclic garbage (about 5 KB a subject) that
    # must be collected as it goes. The month is dropped (on return) before collections resume.
    # SIGTERM as Ctrl-C: the parts of --jobs are stopped and the temporary files removed.
    with sigterm_as_exit(), collections_paused() if engine == "vectorized" else contextlib.nullcontext():
        _diagnose_one(data_dir, period, rules_dir, catalog_dir, out_file, explain_id, engine, per_weakness,
                      history_files, lang, start, jobs)


def _diagnose_one(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None,
                  out_file: Path | None, explain_id: str | None, engine: str, per_weakness: int,
                  history_files: tuple[Path, ...], lang: str, start: float, jobs: int | None) -> None:
    from ..pipeline.forked import available_jobs, write_forked
    from ..reports.summary import render_explain, render_prescriptions_explain, summary

    writing = bool(out_file) and not explain_id
    _, month = _month(data_dir, period, rules_dir, catalog_dir, engine, per_weakness, history_files,
                      prescribe_now=not writing)
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
        write_forked(month, out_file, jobs or available_jobs())
        click.echo(_wrote(lang, len(month.branches), len(month.members), out_file, time.perf_counter() - start),
                   err=True)
    else:
        click.echo(summary(month, lang))


def _diagnose_dask(data_dir: Path, period: str, rules_dir: Path | None, catalog_dir: Path | None,
                   out_file: Path | None, scheduler: str, worker_memory: str | None, part_members: int | None,
                   per_weakness: int, history_files: tuple[Path, ...], lang: str = "zh",
                   out_parts: Path | None = None, stopped=lambda: None) -> None:
    import sys

    from ..pipeline.month import history_from_files
    from ..pipeline.partitioned import diagnose_partitioned
    from ..pipeline.snapshot import Snapshot

    start = time.perf_counter()
    snapshot = Snapshot.from_dirs(resolve_rules(rules_dir), resolve_catalog(catalog_dir) if per_weakness else None)
    tty = sys.stderr.isatty()

    def progress(name: str, done: int, total: int) -> None:
        stopped()  # a Ctrl-C the cluster's code swallowed stops the run here (``stops_noted``)
        if tty or done == total:
            seconds = time.perf_counter() - start
            click.echo(f"\r{PASSES_ZH.get(name, name)}：{done}/{total} 个分片，{seconds:.1f} 秒" if lang == "zh" else
                       f"\r{name}: {done}/{total} parts, {seconds:.1f} s", err=True, nl=done == total)

    run = diagnose_partitioned(data_dir, snapshot, period, out_file, scheduler, per_weakness,
                               history_from_files(history_files, period), worker_memory, part_members, progress, out_parts,
                               before_commit=stopped)
    worker, here = max(run.worker_peaks, default=0) / 2**20, run.client_peak / 2**20
    how = (f"（{run.parts} 个分片，{run.workers} 个工作进程；内存峰值每个工作进程 {worker:,.0f} MiB，本进程 {here:,.0f} MiB；"
           f"{_lamp_counts(run.lamps, 'zh')}）" if lang == "zh" else
           f" ({run.parts} part{'s' if run.parts != 1 else ''} on {run.workers} worker{'s' if run.workers != 1 else ''}, peak memory {worker:,.0f} MiB a worker, {here:,.0f} MiB "
           f"here; lamps: {_lamp_counts(run.lamps, 'en')})")
    click.echo(_wrote(lang, run.branches, run.members, run.out, time.perf_counter() - start) + how, err=True)


PASSES_ZH = {"member references": "党员参照值", "branch references": "支部参照值", "diagnosis": "诊断"}


def _wrote(lang: str, branches: int, members: int, out: Path, seconds: float) -> str:
    if lang == "zh":
        return f"已写入 {out}：{branches} 个支部、{members} 名党员，用时 {seconds:.2f} 秒"
    return f"wrote {branches} branches and {members} members to {out} in {seconds:.2f} s"


def _lamp_counts(lamps: dict, lang: str) -> str:
    """'branches red 3, yellow 5, green 52; members ...' (支部 红 3、黄 5、绿 52；党员 ...)."""
    colours = {"red": "红", "yellow": "黄", "green": "绿"}
    kinds = {"branch": ("支部", "branches"), "member": ("党员", "members")}
    parts = []
    for kind, counts in lamps.items():
        order = [c for c in colours if c in counts] + sorted(c for c in counts if c not in colours)
        if lang == "zh":
            parts.append(f"{kinds.get(kind, (kind,))[0]} " + "、".join(f"{colours.get(c, c)} {counts[c]}" for c in order))
        else:
            parts.append(f"{kinds.get(kind, (kind, kind))[1]} " + ", ".join(f"{c} {counts[c]}" for c in order))
    return ("；" if lang == "zh" else "; ").join(parts)


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), required=True,
              help="Data directory (CSV files) or columnar dataset (`data convert`).")
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

    snapshot, month = _month(data_dir, period, rules_dir, catalog_dir, history_files=history_files,
                             earlier_months=True)
    if month.branch(branch_id) is None:
        raise click.BadParameter(f"no branch '{branch_id}' with data in {period}", param_hint="--branch")
    data = report_data.build(report_data.from_month(month, branch_id), snapshot)
    click.echo(render(document(data, snapshot.ruleset.registry, lang), fmt))
