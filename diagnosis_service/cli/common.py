"""What every command shares: settings, common options, and errors as one-line messages and exit codes.

Exit codes: 0 fine; 1 rule or catalog problems, failed rule tests, an unusable model; 2 bad input,
a bad command line, or a store that cannot do what was asked (each with the command that fixes it).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import sys
import threading
from collections.abc import Collection
from pathlib import Path

import click

from ..config import Settings
from ..errors import DiagnosisError, Problem

MAX_PRINTED_PROBLEMS = 200


def settings() -> Settings:
    return Settings.from_env()


class DataLocation(click.ParamType):
    """A data directory, or a dataset's fsspec URL (``s3://bucket/province``, ``file:///mnt/x``) kept as text
    (a path would fold its ``//``)."""

    name = "DIR|URL"

    def convert(self, value, param, ctx):
        return value if isinstance(value, Path) or "://" in str(value) else Path(value)


class OutputFile(click.ParamType):
    """A file an option writes whole (temp file + rename): refused, before any work, when it is a directory,
    a device or pipe (``/dev/stdout``: the rename would replace the link, not write to it), or lies in a
    directory that does not exist (unless ``makes_dirs``). ``-`` is standard output where the command
    prints without the option (``stdout_ok``: the value becomes None), else refused."""

    name = "FILE"

    def __init__(self, stdout_ok: bool = False, makes_dirs: bool = False):
        self.stdout_ok = stdout_ok
        self.makes_dirs = makes_dirs  # a models directory is made as the default one is

    def convert(self, value, param, ctx):
        if isinstance(value, Path) and value.name != "-":
            path = value
        elif str(value) == "-":
            if self.stdout_ok:
                return None
            self.fail("'-' (standard output) is not written to by this option: give a file path", param, ctx)
        else:
            path = Path(value)
        resolved = path.resolve()
        if resolved.is_dir():
            self.fail(f"{value} is a directory: give a file path", param, ctx)
        if _special(path) or (resolved.exists() and not resolved.is_file()):
            self.fail(f"{value} is a device, a pipe or a process's file descriptor (such as /dev/stdout), not a "
                      "regular file: the output is written to a temporary file renamed into place, which would "
                      "replace it; give a file path", param, ctx)
        if not self.makes_dirs and not resolved.parent.is_dir():
            self.fail(f"{value}: the directory {path.parent} does not exist; create it first", param, ctx)
        ancestor = next(p for p in resolved.parents if p.exists())  # the root exists
        if not ancestor.is_dir():
            self.fail(f"{value}: {ancestor} is a file, not a directory", param, ctx)
        return path


def _special(path: Path) -> bool:
    """Whether ``path``, or a link on the way to its file, is a process's file descriptor: under /proc, or
    /dev/stdin, stdout, stderr, fd/ (/dev/stdout is a link to /proc/self/fd/1, which may well resolve to
    a regular file: the rename would replace the link). Other devices are not regular files; a file on
    /dev/shm is one."""
    hop = Path(path).absolute()
    for _ in range(40):
        if hop.parts[1:2] == ("proc",) or (hop.parts[1:2] == ("dev",) and hop.parts[2:3] and
                                           hop.parts[2] in ("stdin", "stdout", "stderr", "fd")):
            return True
        if not hop.is_symlink():
            return False
        hop = (hop.parent / os.readlink(hop)).absolute()
    return True  # a loop of links: nothing to write to either


rules_option = click.option("--rules", "rules_dir", type=click.Path(path_type=Path), default=None,
                            help="Rules directory (default: $DIAGNOSIS_RULES or the bundled rules/).")
catalog_option = click.option("--catalog", "catalog_dir", type=click.Path(path_type=Path), default=None,
                              help="Remedy catalog directory (default: $DIAGNOSIS_CATALOG or the bundled "
                                   "resources_catalog/).")
lang_option = click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                           help="Language of human-readable output.")


def _existing_dir(given: Path | None, default: Path, what: str, option: str, setting: str) -> Path:
    """``given`` (the option) or the setting's directory; a missing one is a bad command line or a setup
    mistake (exit 2), told as the one the user chose."""
    path = Path(given) if given is not None else default
    if path.is_dir():
        return path
    why = f"{what} not found" if not path.exists() else f"not a directory (a {what} is a directory of YAML files)"
    if given is not None:
        raise click.BadParameter(f"{path}: {why}", param_hint=option)
    from ..errors import SetupError

    raise SetupError(Problem(f"{why} ({setting}={path})", file=str(path),
                             suggestion=f"set {setting} to an existing {what}, or give {option} DIR"))


def resolve_rules(given: Path | None) -> Path:
    return _existing_dir(given, settings().rules_dir, "rules directory", "--rules", "DIAGNOSIS_RULES")


def resolve_catalog(given: Path | None) -> Path:
    return _existing_dir(given, settings().catalog_dir, "catalog directory", "--catalog", "DIAGNOSIS_CATALOG")


# What the readers of a data, rules, catalog or loop directory take from it: an output file of one of these
# kinds inside such a directory would be read back as input next time, or replace a file being read.
INPUT_SUFFIXES = frozenset({".csv", ".yaml", ".yml", ".parquet"})


def refuse_input_overwrite(outputs, inputs, option: str = "--out") -> None:
    """A usage error (exit 2, before any work) when an output file of the command is one of its input files
    (``inputs``: files or directories it reads; URLs and None are passed over), or lies in an input directory
    where that directory's reader would take it: a CSV, YAML or Parquet file, or anything inside a columnar
    dataset. A file beside the inputs of another kind (``--out var/loop/candidate.json``) is fine."""
    for out in outputs:
        if not isinstance(out, Path):
            continue
        target = out.resolve()
        for source in inputs:
            if not isinstance(source, Path):
                continue
            src = source.resolve()
            inside = src in target.parents
            if target == src or (inside and (target.suffix.lower() in INPUT_SUFFIXES
                                             or (src / "_dataset.json").exists())):
                raise click.UsageError(
                    f"{option} {out} {'is' if target == src else 'lies in'} the input {source}: writing there would "
                    f"replace or add to what this command reads; give a path outside it")


def replaceable_output(out: Path, what: str, ours, inputs: tuple = (), own: Collection[str] = ()) -> Path:
    """``out`` resolved, for a command that replaces it whole (``what``: what it writes there): a usage
    error (exit 2, nothing touched) when it is, holds or lies in one of ``inputs``, is a file, or is a
    directory holding files that ``ours`` (a test on the directory) does not recognise as an earlier
    output of the same kind: replacing it would delete them. ``own``: the names such an output holds,
    left out of the files the error lists."""
    if str(out) == "-" or _special(Path(out)):
        raise click.UsageError(f"{out} is not a directory path ({what} is a directory of files): give a new or "
                               "empty directory")
    resolved = Path(out).resolve()
    for source in inputs:
        if isinstance(source, Path):
            src = source.resolve()
            if resolved == src or src in resolved.parents or resolved in src.parents:
                raise click.UsageError(f"{out} is, holds or lies in the input {source}: writing {what} there would "
                                       "replace what is being read; give another path")
    if resolved.exists() or resolved.is_symlink():
        if not resolved.is_dir():
            raise click.UsageError(f"{out} is a file, not a directory: {what} is a directory; give a new or empty "
                                   "path")
        if any(resolved.iterdir()) and not ours(resolved):
            names = sorted(p.name for p in resolved.iterdir() if p.name not in own)
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            raise click.UsageError(f"{out} holds files that are not {what} ({shown}): it would be replaced whole, "
                                   "and they deleted; give a new or empty directory, or remove it first")
    return resolved


def _option_name(name: str) -> str:
    """A field the library names (``period``) as the option of the running command (``--period``)."""
    ctx = click.get_current_context(silent=True)
    for param in ctx.command.params if ctx else ():
        if isinstance(param, click.Option) and (param.name == name or f"--{name.replace('_', '-')}" in param.opts):
            return max(param.opts, key=len)
    return name


def describe(problem: Problem) -> str:
    """A problem as the command line shows it: fields named like the command's options."""
    if problem.field is not None and len(problem.field) == 1 and isinstance(problem.field[0], str):
        option = _option_name(problem.field[0])
        if option != problem.field[0]:
            text = str(Problem(problem.message, rule_id=problem.rule_id, suggestion=problem.suggestion))
            return f"{option}: {text}"
    return str(problem)


def echo_problems(problems: list[Problem], limit: int = MAX_PRINTED_PROBLEMS) -> None:
    for problem in problems[:limit]:
        click.echo(describe(problem), err=True)
    if len(problems) > limit:
        click.echo(f"... and {len(problems) - limit} more", err=True)


def handle_errors(func):
    """The error tree (and database failures) as a listing on stderr and an exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DiagnosisError as exc:
            fail(exc)
        except Exception as exc:
            # SQLAlchemy is imported only when something failed: a command that never opens the store
            # (diagnose from a dataset) does not pay the import (0.15 s).
            from ..store.errors import SQLAlchemyError
            from ..store.errors import describe as describe_store

            if not isinstance(exc, SQLAlchemyError):
                raise
            fail(describe_store(exc, settings().safe_db_url()))

    return wrapper


# Commands that only read (and `diagnose` and `overview` when no output file is given): their errors do not
# add "nothing was written", which would suggest they write something.
READS_ONLY = frozenset({"check", "evaluate", "history", "info", "list", "report", "test", "verify-signature"})
OUTPUT_PARAMS = ("out_file", "out_files", "out_parts")


def _writes() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True
    if ctx.command.name in READS_ONLY:
        return False
    if ctx.command.name in ("diagnose", "overview"):
        return any(ctx.params.get(name) for name in OUTPUT_PARAMS)
    return True


def fail(exc: DiagnosisError) -> None:
    from ..errors import CatalogError, InputError, ModelError, RuleError, SetupError, StoreError

    echo_problems(exc.problems)
    if not isinstance(exc, StoreError | SetupError):  # a setup mistake's one line says it all
        label = {InputError: ("input ", "输入"), RuleError: ("rule ", "规则"), CatalogError: ("catalog ", "目录"),
                 ModelError: ("model ", "模型")}.get(type(exc), ("", ""))
        n, writes = len(exc.problems), _writes()
        ctx = click.get_current_context(silent=True)
        if ctx is not None and ctx.params.get("lang") == "zh":  # the command's language (its problems: English)
            click.echo(f"错误：{n} 个{label[1]}问题" + ("；未写入任何内容" if writes else ""), err=True)
        else:
            click.echo(f"error: {n} {label[0]}problem(s)" + ("; nothing was written" if writes else ""), err=True)
    sys.exit(exc.exit_code)


@contextlib.contextmanager
def collections_paused():
    """No cyclic garbage collection inside: a month's diagnosis makes some million objects that all live
    until its output is written, and each full collection walked every one of them again for nothing to
    free (4% of a district month's instructions). Collections resume after, in a process that goes on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def stops_noted(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
    """Ctrl-C (KeyboardInterrupt) and SIGTERM (SystemExit 128 + 15: work under way finishes or rolls back and
    temporary directories are removed, where SIGTERM's default action would leave them) raised as usual,
    and noted: yields a check that raises the stop again. Python drops an exception raised where it cannot
    propagate (inside a garbage-collection callback or a ``__del__``: "Exception ignored in ..."), and
    dask's scheduler, which a local cluster runs in this process, has such a callback: a Ctrl-C there was
    lost and the run went on to write its output. The check, called between parts and before the output is
    committed, stops it, and so does the end of the block; the stop so dropped is not printed either
    (Python's "Exception ignored" traceback, which told a person at the terminal of a crash where there
    was none). A signal ignored when the command started (``trap "" INT``, ``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield lambda: None
        return
    noted: list[int] = []
    raised: list[BaseException] = []

    def stopping(signum: int) -> BaseException:
        return KeyboardInterrupt() if signum == signal.SIGINT else SystemExit(128 + signum)

    def stop(signum: int, frame) -> None:
        noted.append(signum)
        raised.append(stopping(signum))
        raise raised[-1]

    def check() -> None:
        if noted:
            raise stopping(noted[0])

    def unraisable(unraisable) -> None:
        if any(unraisable.exc_value is exc for exc in raised):
            return  # our own stop, dropped where it could not propagate: check() raises it again
        previous_hook(unraisable)

    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable
    previous = {s: signal.getsignal(s) for s in signals}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, stop)
    try:
        yield check
        check()  # a stop dropped after the last check is not lost: the command does not end as if done
    finally:
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            if handler is not None:  # None: set from outside Python, which signal.signal cannot restore
                signal.signal(s, handler)


@contextlib.contextmanager
def sigterm_as_exit():
    """SIGTERM ends what runs inside as Ctrl-C does: work under way finishes or rolls back, and temporary
    directories are removed (SIGTERM's default action would leave them, e.g. a CSV directory's spilled
    months: about 60% of its size)."""
    with stops_noted((signal.SIGTERM,)):
        yield
