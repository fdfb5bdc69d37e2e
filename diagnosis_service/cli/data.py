"""`data convert`: a CSV data directory as a columnar, partitioned dataset (Parquet)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click

from ..data.files import spill_dir
from . import main
from .common import (
    OutputFile,
    handle_errors,
    lang_option,
    replaceable_output,
    resolve_rules,
    rules_option,
    sigterm_as_exit,
)


@main.group()
def data() -> None:
    """Data directories and datasets."""


@data.command("convert")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@rules_option
@lang_option
@handle_errors
def data_convert(data_dir: Path, out: Path, rules_dir: Path | None, lang: str) -> None:
    """Check a CSV data directory whole and write it to OUT as a dataset partitioned by month and street
    (Parquet): `diagnose --data OUT`, `report`, `overview` and `import` read it as typed columns, only
    the months they need. OUT is replaced whole, or not at all. Memory is a month's: the directory is
    checked a chunk at a time, its rows kept meanwhile in a temporary directory ($TMPDIR, about 60% of
    the CSV's size)."""
    from ..data.columnar import write_dataset
    from ..data.locations import is_dataset
    from ..rules import load_ruleset

    out = replaceable_output(out, "a dataset", is_dataset, inputs=(data_dir,))
    ruleset = load_ruleset(resolve_rules(rules_dir))
    registry = ruleset.registry
    start = time.perf_counter()
    with _checked(data_dir, registry) as spilled:
        described = write_dataset(spilled, out, registry)
    periods = described["periods"]
    rows, seconds = described["rows"]["branch"] + described["rows"]["member"], time.perf_counter() - start
    click.echo(f"已写入 {out}：{described['branches']} 个支部、{described['members']} 名党员、{rows:,} 行指标，"
               f"{len(periods)} 个月（{periods[0]} 至 {periods[-1]}），{len(described['streets'])} 个街道，用时 "
               f"{seconds:.1f} 秒" if lang == "zh" else
               f"wrote {out}: {described['branches']} branches, {described['members']} members, {rows:,} metric "
               f"rows, {len(periods)} months ({periods[0]} to {periods[-1]}) in {len(described['streets'])} streets, "
               f"{seconds:.1f} s")
    keep_carried(out, ruleset, lang)


@data.command("append")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@rules_option
@lang_option
@handle_errors
def data_append(data_dir: Path, out: Path, rules_dir: Path | None, lang: str) -> None:
    """Add to the dataset OUT the months of the CSV data directory it does not hold yet: new files only
    (a month's folder, and the organisation files of streets whose branches or members changed). The
    months both hold must agree value for value; a correction, a branch that moved street or an
    organisation gone is refused (convert again). Readers see the old months or the new ones. Memory is
    a month's, as for `data convert`."""
    from ..data.append import append_months
    from ..rules import load_ruleset

    ruleset = load_ruleset(resolve_rules(rules_dir))
    registry = ruleset.registry
    start = time.perf_counter()
    with _checked(data_dir, registry) as spilled:
        done = append_months(spilled, out, registry)
    added, seconds = done["added"], time.perf_counter() - start
    if lang == "zh":
        what = f"新增 {len(added)} 个月（{added[0]} 至 {added[-1]}）" if added else "没有新的月份：未写入任何内容"
        click.echo(f"{out}：{what}；两边都有的 {len(done['checked'])} 个月核对一致；{done['streets_rewritten']} 个街道"
                   f"的组织有新增或变化；用时 {seconds:.1f} 秒")
    else:
        what = f"added {len(added)} month(s) ({added[0]} to {added[-1]})" if added else "no new month: nothing written"
        click.echo(f"{out}: {what}; {len(done['checked'])} month(s) both hold checked equal; "
                   f"{done['streets_rewritten']} street(s) with new or changed organisations; {seconds:.1f} s")
    keep_carried(out, ruleset, lang)


@data.command("carry")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@rules_option
@lang_option
@handle_errors
def data_carry(dataset: Path, rules_dir: Path | None, lang: str) -> None:
    """Keep with each month of DATASET the derived indicators that look back (runs of months, quarter
    windows, year-to-date sums) as a diagnosis of that month computes them under these rules, so that
    `diagnose` reads the month instead of two years of history (the same output). `data convert`, `data
    append`, `import --dataset` and `simulate --scale` do it themselves; run it after changing the rules
    (how such an indicator is derived in rules/indicators.yaml or points.yaml, or lamp rules that look
    back): until then a diagnosis under the changed rules reads the history, with the same result. Months
    that hold them already are left as they are."""
    from ..data.locations import is_dataset
    from ..rules import load_ruleset

    if not is_dataset(dataset):
        raise click.BadParameter(f"{dataset} is not a dataset (`data convert` writes one)", param_hint="DATASET")
    keep_carried(dataset, load_ruleset(resolve_rules(rules_dir)), lang)


@data.command("merge-parts")
@click.argument("parts_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=OutputFile(), required=True,
              help="The JSON Lines file to write (whole or not at all).")
@lang_option
@handle_errors
def data_merge_parts(parts_dir: Path, out_file: Path, lang: str) -> None:
    """Merge the parts `diagnose --engine dask --out-parts PARTS_DIR` wrote into one JSON Lines file: every
    branch in id order, then every member, the bytes `--out FILE` would have written. Each part is checked
    against the manifest (lines, size, SHA-256) first; a part missing, cut short or from another run is
    refused and nothing is written."""
    from ..pipeline.parts_out import merge_parts

    start = time.perf_counter()
    with sigterm_as_exit():  # as Ctrl-C: the merge's temporaries (about twice the output) are removed
        manifest = merge_parts(parts_dir, out_file)
    seconds = time.perf_counter() - start
    click.echo(f"已写入 {out_file}：{manifest.get('period')} 的 {manifest['branches']:,} 个支部和 {manifest['members']:,} "
               f"名党员，来自 {len(manifest['parts'])} 个分片，用时 {seconds:.1f} 秒" if lang == "zh" else
               f"wrote {out_file}: {manifest['branches']:,} branches and {manifest['members']:,} members of "
               f"{manifest.get('period')} from {len(manifest['parts'])} parts, {seconds:.1f} s", err=True)


def keep_carried(out: Path, ruleset, lang: str = "zh") -> None:
    """``pipeline.carry.keep_derived`` with a progress line on a terminal and a summary line."""
    import sys

    from ..pipeline.carry import describe, keep_derived

    start = time.perf_counter()
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            seconds = time.perf_counter() - start
            click.echo(f"\r保存派生指标：街道 {done}/{total}，{seconds:.1f} 秒" if lang == "zh" else
                       f"\rkeeping derived indicators: street {done}/{total}, {seconds:.1f} s", err=True, nl=False)

    with sigterm_as_exit():
        kept = keep_derived(out, ruleset, progress)
    if tty:
        click.echo("", err=True)
    seconds = time.perf_counter() - start
    click.echo(f"{out}：{describe(kept, lang)}，用时 {seconds:.1f} 秒" if lang == "zh" else
               f"{out}: {describe(kept, lang)}, {seconds:.1f} s")


@contextlib.contextmanager
def _checked(data_dir: Path, registry):
    """The CSV directory checked a chunk at a time, its months spilled to a temporary directory that is
    removed afterwards (``data.csvstream``)."""
    from ..data.sources import CsvDir

    with sigterm_as_exit(), spill_dir() as work:
        yield CsvDir(data_dir).stream(registry, work)
