"""`simulate`: a synthetic district as a CSV data directory (and `simulate loop`, in ``model``)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from . import main
from .common import handle_errors, lang_option, replaceable_output, resolve_rules, rules_option


# The defaults are DEFAULT_SPEC's (diagnosis_service/simulation/district.py), written out so that the command
# line starts without importing numpy and pandas; tests/simulation/test_platform_effect.py keeps them equal.
@main.group(invoke_without_command=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory to write (required unless a subcommand is given).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--months", type=click.IntRange(1, 120), default=24, show_default=True, help="Months of history.")
@click.option("--end", default="2025-12", show_default=True, help="Last period, YYYY-MM.")
@click.option("--branches", type=click.IntRange(1), default=2654, show_default=True, help="Number of organisations.")
@click.option("--members", type=click.IntRange(1), default=47411, show_default=True, help="Number of members.")
@click.option("--platform-from", "platform_from", default="2025-01", show_default=True, metavar="YYYY-MM|none",
              help="Month the district's platform launches: from then on lamp rates fall over about a year "
                   "(weak branches pick up, drifting members are brought back, fewer forgotten dues), after "
                   "a steady history. 'none': no platform, lamp rates rise as drifting members pile up.")
@click.option("--scale", type=click.IntRange(1, 10_000), default=None, metavar="K",
              help="A province of K such districts (each with a seed of its own, ids and streets prefixed D001-, "
                   "D002-, ...), written district by district straight to a columnar dataset (`data convert`'s "
                   "layout) instead of CSV: memory is one district's whatever K is.")
@rules_option
@lang_option
@handle_errors
@click.pass_context
def simulate(ctx: click.Context, out_dir: Path | None, seed: int, months: int, end: str, branches: int, members: int,
             platform_from: str, scale: int | None, rules_dir: Path | None, lang: str) -> None:
    """Generate a synthetic district as a CSV data directory, or with --scale a province as a columnar
    dataset (deterministic for a seed).

    The defaults are the demo district (DEFAULT_SPEC): 2024-01 to 2025-12, a year of history and then
    the platform's first year, over which red and yellow lamps fall.

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

    ruleset = load_ruleset(resolve_rules(rules_dir))
    spec = SimulationSpec(branches=branches, members=members, months=months, end=end, seed=seed,
                          platform_from=None if platform_from.strip().lower() == "none" else platform_from)
    if scale is not None:
        from ..data.locations import is_dataset
        out_dir = replaceable_output(out_dir, "a dataset", is_dataset)
    else:
        out_dir = replaceable_output(out_dir, "a data directory", _data_directory)
    start = time.perf_counter()
    if scale is not None:
        _province(spec, scale, out_dir, ruleset, start, lang)
        return
    dataset = run(spec, ruleset.registry)
    write_dir(dataset, out_dir, ruleset.registry)
    periods, seconds = dataset.periods(), time.perf_counter() - start
    click.echo(f"已写入 {out_dir}：{len(dataset.branches)} 个支部、{len(dataset.members)} 名党员，{len(periods)} 个月"
               f"（{periods[0]} 至 {periods[-1]}），用时 {seconds:.1f} 秒" if lang == "zh" else
               f"wrote {out_dir}: {len(dataset.branches)} branches, {len(dataset.members)} members, "
               f"{len(periods)} months ({periods[0]} to {periods[-1]}) in {seconds:.1f} s")


def _data_directory(path: Path) -> bool:
    """Whether ``path`` holds a CSV data directory (what `simulate` writes) and nothing else."""
    from ..data.csvdir import FILES

    return {p.name for p in path.iterdir()} <= set(FILES) and (path / "branches.csv").is_file()


def _province(spec, scale: int, out_dir: Path, ruleset, start: float, lang: str = "zh") -> None:
    import sys

    from ..simulation.province import write_province
    from .data import keep_carried

    tty = sys.stderr.isatty()

    def progress(done: int, total: int, district) -> None:
        if tty or done == total:
            elapsed = time.perf_counter() - start
            each, left = elapsed / done, (total - done) * elapsed / done
            click.echo(f"\r区县 {done}/{total}，每个 {each:.1f} 秒，约剩 {left:.0f} 秒" if lang == "zh" else
                       f"\rdistrict {done}/{total}, {each:.1f} s each, about {left:.0f} s left", err=True,
                       nl=done == total)

    described = write_province(spec, scale, out_dir, ruleset.registry, progress)
    periods, seconds = described["periods"], time.perf_counter() - start
    if lang == "zh":
        click.echo(f"已写入 {out_dir}：{scale} 个区县的全省，{described['branches']:,} 个支部、{described['members']:,} 名党员、"
                   f"{described['rows']['member']:,} 行党员指标，{len(periods)} 个月（{periods[0]} 至 {periods[-1]}），"
                   f"{len(described['streets'])} 个街道，用时 {seconds:.1f} 秒")
    else:
        click.echo(f"wrote {out_dir}: a province of {scale} district{'s' if scale != 1 else ''}, "
                   f"{described['branches']:,} branches, {described['members']:,} members, "
                   f"{described['rows']['member']:,} member rows, {len(periods)} months ({periods[0]} to "
                   f"{periods[-1]}) in {len(described['streets'])} streets, {seconds:.1f} s")
    keep_carried(out_dir, ruleset, lang)
