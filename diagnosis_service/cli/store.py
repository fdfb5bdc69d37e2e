"""The store and the service: `db upgrade`, `import`, `tokens`, `serve`."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path

import click

from ..data.files import spill_dir
from . import main
from .common import handle_errors, lang_option, resolve_rules, rules_option, settings, sigterm_as_exit

log = logging.getLogger("diagnosis_service.serve")


def _engine():
    from ..store import make_engine

    return make_engine(settings().db_url())


@main.group()
def db() -> None:
    """The store (DATABASE_URL; default an SQLite file under var/)."""


@db.command("upgrade")
@lang_option
@handle_errors
def db_upgrade(lang: str) -> None:
    """Create or migrate the database schema to the latest revision (safe to run again)."""
    from ..store.migrate import current, head, upgrade

    engine = _engine()
    before = current(engine)
    upgrade(engine)
    after = current(engine)
    click.echo((f"数据库 {settings().safe_db_url()}：已是最新版本 {after}" if before == after == head() else
                f"数据库 {settings().safe_db_url()}：版本 {before or '无'} -> {after}（最新 {head()}）") if lang == "zh" else
               f"database {settings().safe_db_url()}: revision {before or 'none'} -> {after} (head {head()})")


@main.command("import")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--dataset", "dataset_out", type=click.Path(path_type=Path), default=None,
              help="Keep the columnar dataset at this path up to date as well: the directory's new months are "
                   "appended to it (it is written whole the first time). A correction to a month it holds is "
                   "refused before anything is stored.")
@click.option("--jobs", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Months stored at once on PostgreSQL, each in its own transaction and connection (SQLite "
                   "stores one at a time).")
@rules_option
@lang_option
@handle_errors
def import_cmd(data_dir: Path, dataset_out: Path | None, jobs: int, rules_dir: Path | None, lang: str) -> None:
    """Import a CSV data directory, or a dataset (`data convert`), into the store: validated whole first (a
    bad row anywhere and nothing is written), then month by month, each month all or nothing; idempotent
    (run it again to finish an import that was stopped: months store in parallel on PostgreSQL, so a
    failed import may hold later months without an earlier one). Memory is a month's per job, not the
    directory's: a CSV directory is checked a chunk at a time and its rows kept meanwhile in a temporary
    directory ($TMPDIR, about 60% of the CSV's size; removed at the end, on an error, Ctrl-C or SIGTERM
    too), a dataset is read a month at a time. With --dataset, the directory is checked once and both the
    dataset and the store are written from its spilled months. A progress bar on a terminal."""
    from ..data.sources import source_for
    from ..pipeline.ingest import import_source
    from ..rules import load_ruleset

    ruleset = load_ruleset(resolve_rules(rules_dir))
    registry = ruleset.registry
    start = time.perf_counter()
    source = source_for(data_dir)
    bar = _Bar(start, lang) if sys.stderr.isatty() else None
    from ..store import make_engine

    with sigterm_as_exit(), contextlib.ExitStack() as stack:
        if bar is not None:
            stack.callback(bar.end)  # error or not: what is printed next starts a line of its own
        if dataset_out is not None:
            workdir = stack.enter_context(spill_dir())
            source = _keep_dataset(source, dataset_out, ruleset, workdir, bar and bar.checking, lang)
        engine = make_engine(settings().db_url(), bulk=True)  # COPY on PostgreSQL: this process only imports
        changes = import_source(engine, registry, source, actor="cli:import", progress=bar and bar.storing,
                                checking=bar and bar.checking, workers=jobs)
    words = ("新增", "更新", "未变") if lang == "zh" else ("inserted", "updated", "unchanged")
    for table, c in changes.items():
        click.echo(f"{table:15s} {words[0]} {c['inserted']:7d}  {words[1]} {c['updated']:7d}  "
                   f"{words[2]} {c['unchanged']:7d}")
    seconds = time.perf_counter() - start
    click.echo(f"已将 {data_dir} 导入 {settings().safe_db_url()}，用时 {seconds:.1f} 秒" if lang == "zh" else
               f"imported {data_dir} into {settings().safe_db_url()} in {seconds:.1f} s")


def _keep_dataset(source, out: Path, ruleset, workdir: Path, checking=None, lang: str = "zh"):
    """Append the CSV directory's new months to the dataset ``out`` (or write it whole when there is none
    yet), before the store: a month the dataset refuses stops the import with nothing stored. The
    directory is checked once, a chunk at a time, its months spilled to ``workdir``; returns them as the
    store's source. Memory is a month's."""
    from ..data.append import append_months
    from ..data.columnar import ParquetDir, write_dataset
    from ..data.locations import is_dataset
    from ..data.sources import Streamed
    from .data import keep_carried

    registry = ruleset.registry

    if isinstance(source, ParquetDir):
        raise click.UsageError(f"{source.name} is a dataset already: --dataset keeps one up to date from a CSV "
                               "directory")
    if not is_dataset(out) and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise click.UsageError(f"--dataset {out}: there is something else there, not a dataset (`data convert` "
                               "writes one); give an empty or new path")
    spilled = source.stream(registry, workdir, progress=checking)
    if is_dataset(out):
        done = append_months(spilled, out, registry)
        added = done["added"]
        if lang == "zh":
            click.echo(f"数据集 {out}：" + (f"新增 {len(added)} 个月（{added[0]} 至 {added[-1]}）" if added
                                          else "没有新的月份"))
        else:
            click.echo(f"dataset {out}: " + (f"added {len(added)} month(s) ({added[0]} to {added[-1]})" if added
                                             else "no new month"))
    else:
        described = write_dataset(spilled, out, registry)
        click.echo(f"数据集 {out}：已写入，{len(described['periods'])} 个月" if lang == "zh" else
                   f"dataset {out}: written, {len(described['periods'])} month(s)")
    keep_carried(out, ruleset, lang)
    return Streamed(spilled, source.name)


class _Bar:
    """A line on the terminal, redrawn: while a CSV directory is checked, how much of its metric files is
    read; then, after each month stored, rows stored, rate and time left (from when storing began)."""

    width = 30

    def __init__(self, start: float, lang: str = "zh"):
        self.start = self.storing_since = start
        self.drawn = False
        self.zh = lang == "zh"

    def _line(self, done: float, total: float, text: str) -> None:
        filled = int(self.width * done / total) if total else self.width
        click.echo(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {text} ", nl=False, err=True)
        self.drawn = True

    def end(self) -> None:
        """Ends the bar's line, once, if one was drawn: what follows (the summary, an error) starts a line."""
        if self.drawn:
            click.echo("", err=True)
            self.drawn = False

    def checking(self, done: int, total: int) -> None:
        self.storing_since = time.perf_counter()
        size, seconds = f"{done / 2**20:,.0f}/{total / 2**20:,.0f} MiB", self.storing_since - self.start
        self._line(done, total, f"检查  {size}  {seconds:.0f} 秒" if self.zh else f"checking  {size}  {seconds:.0f} s")

    def storing(self, done: int, total: int, period: str) -> None:
        rate = done / max(time.perf_counter() - self.storing_since, 1e-6)
        left = (total - done) / rate if rate > 0 else 0.0
        self._line(done, total, f"{period}  {done:,}/{total:,} 行  {rate:,.0f} 行/秒  剩余 {left:.0f} 秒" if self.zh
                   else f"{period}  {done:,}/{total:,} rows  {rate:,.0f} rows/s  {left:.0f} s left")


@main.group()
def tokens() -> None:
    """API tokens (stored hashed; a token is shown once, when created)."""


@tokens.command("create")
@click.option("--role", type=click.Choice(["platform", "admin", "street", "secretary"]), required=True,
              help="platform: the main platform; admin: rules and the whole district; street: one street's "
                   "branches (read only); secretary: one branch.")
@click.option("--branch", "branch_id", default=None, help="The branch of a secretary's token.")
@click.option("--street", default=None, help="The street (街道/镇, as in branches.csv) of a street role's token.")
@click.option("--name", required=True, help="Who or what holds the token (unique), e.g. platform-prod.")
@lang_option
@handle_errors
def tokens_create(role: str, branch_id: str | None, street: str | None, name: str, lang: str) -> None:
    """Create a token and print it once."""
    from ..store import tokens as tokens_store

    with _engine().begin() as conn:
        token = tokens_store.create(conn, name, role, branch_id, street)
    click.echo(token)
    if lang == "zh":
        of = f"，{branch_id}" if branch_id else f"，{street}" if street else ""
        click.echo(f"已创建令牌 '{name}'（{role}{of}）；它不会再次显示", err=True)
        return
    of = f" of {branch_id}" if branch_id else f" of {street}" if street else ""
    click.echo(f"token '{name}' ({role}{of}) created; it is not shown again", err=True)


@tokens.command("revoke")
@click.option("--name", required=True)
@lang_option
@handle_errors
def tokens_revoke(name: str, lang: str) -> None:
    """Revoke a token by name (at once, in every process)."""
    from ..store import tokens as tokens_store

    with _engine().begin() as conn:
        done = tokens_store.revoke(conn, name)
    if not done:
        click.echo(f"没有名为 '{name}' 的有效令牌" if lang == "zh" else f"no active token named '{name}'", err=True)
        sys.exit(2)
    click.echo(f"已吊销令牌 '{name}'" if lang == "zh" else f"token '{name}' revoked")


@tokens.command("list")
@lang_option
@handle_errors
def tokens_list(lang: str) -> None:
    """Token names, roles and dates (never the tokens)."""
    from ..reports.summary import aligned
    from ..store import tokens as tokens_store

    zh = lang == "zh"
    with _engine().connect() as conn:
        rows = [(t["name"], t["role"], t["branch_id"] or t["street"] or "-", f"{t['created_at']:%Y-%m-%d}",
                 (f"{t['revoked_at']:%Y-%m-%d} 已吊销" if zh else f"revoked {t['revoked_at']:%Y-%m-%d}")
                 if t["revoked_at"] else ("有效" if zh else "active"))
                for t in tokens_store.listing(conn)]
    if not rows:
        click.echo("没有令牌：`tokens create --role ROLE --name NAME` 可创建" if zh else
                   "no tokens: `tokens create --role ROLE --name NAME` makes one", err=True)
        return
    # Columns padded as a terminal shows them: a street's or a name's Chinese takes two columns a character.
    head = ("名称", "角色", "范围", "创建日期", "状态") if zh else ("name", "role", "scope", "created", "state")
    click.echo("\n".join(aligned([head, *rows])))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (0.0.0.0: every interface; put a TLS proxy in front).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The port to listen on.")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Requests served at once (waitress's worker threads).")
@handle_errors
def serve(host: str, port: int, threads: int) -> None:
    """Serve the HTTP API with waitress (a production WSGI server).

    Refuses to start on a database without the schema (run `db upgrade`); starts whatever else the
    database does (down, slow) and says so in /readyz until it answers. Before diagnosing a month newer
    than the last one it ran for, it runs the model's monthly routine (`model train`, `model promote`;
    DIAGNOSIS_MODEL_ROUTINE=off leaves that to an administrator)."""
    import waitress

    from ..errors import Problem, SetupError, StoreError
    from ..service import create_app
    from ..store.connect import sqlite_file
    from ..store.errors import UPGRADE
    from ..store.migrate import current

    config = settings()
    missing = sqlite_file(config.db_url())
    if missing is not None and not missing.exists():  # connecting would leave an empty file behind
        raise StoreError(Problem(f"the database ({config.safe_db_url()}) does not exist", suggestion=UPGRADE))
    app = create_app()
    engine = app.extensions["diagnosis"].engine
    try:
        revision = current(engine)
    except Exception as exc:  # unreachable or slow: serve anyway; /readyz answers 503 until it comes back
        log.warning("the database does not answer (%s); serving anyway, /readyz says when it is ready",
                    exc.__class__.__name__)
    else:
        if revision is None:
            raise StoreError(Problem(f"the database ({config.safe_db_url()}) has no schema", suggestion=UPGRADE))
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads, ident="diagnosis-service",
                                        max_request_body_size=config.max_body_bytes)
    except OSError as exc:
        raise SetupError(Problem(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field=("port",),
                                 suggestion="choose another port with --port, or stop what uses this one")) from None
    log.info("serving on http://%s:%s (%s threads), database %s", host, port, threads, config.safe_db_url())
    worker = None
    if config.webhook_deliver_in_serve:
        import threading

        from ..pipeline.deliver import DeliveryConfig, Worker

        worker = Worker(engine, DeliveryConfig.from_settings(config))
        threading.Thread(target=worker.run, name="webhook-delivery", daemon=True).start()
        log.info("delivering webhooks in this process (WEBHOOK_DELIVER_IN_SERVE)")
    # Jobs a stopped process left (its lease expires) or that were queued meanwhile are taken up here.
    app.extensions["diagnosis"].jobs.start()
    try:
        # SIGTERM (a supervisor's stop) as Ctrl-C: a job under way is given back for the next process at
        # once, not left "running" until its lease expires.
        with sigterm_as_exit():
            server.run()  # returns on Ctrl-C and SIGTERM (waitress takes them as its signal to stop)
    finally:
        log.info("stopping")
        server.close()
        app.extensions["diagnosis"].jobs.stop()
        if worker is not None:
            worker.stop.set()
