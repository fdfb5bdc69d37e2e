"""Writing files atomically: to a temporary name beside the target, then renamed over it, so a reader
never sees half a file; the file gets the mode any new file gets under the umask (a temporary file
alone would be private). Directories likewise (``replace_dir``).

A temporary name says who made it: ``.NAME.KIND-HOST-PID-<random>`` (HOST: the host name and a digest
of it and of the pid namespace). A writer killed outright (SIGKILL, the kernel's out-of-memory killer)
cannot remove it, and a province's dataset half-written is gigabytes: the next writer of the same
target removes what a process of this host and namespace left that is no longer running
(``sweep_stale``). A temporary of another host or container (shared storage) or of a live process is
never touched."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError, Problem

WRITER_LOCK = ".writer.lock"

log = logging.getLogger("diagnosis_service.files")


def not_a_directory(path: str | Path, what: str, expected: str) -> Problem:
    """The problem of a path that should be a directory (``what``, e.g. "data directory"): not found, or
    something else in its place (``expected`` says what the directory holds)."""
    return Problem(f"{what} not found" if not Path(path).exists() else f"not a directory ({expected})", file=str(path))


_UMASK_LOCK = threading.Lock()


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` as the process's umask leaves it. Read from /proc where it can be: setting the umask to
    read it is not safe beside other threads (a dask worker's), which could see it at 0 meanwhile."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return mode & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        umask = os.umask(0)
        os.umask(umask)
    return mode & ~umask


KINDS = ("tmp", "parts", "merge", "spill")  # every kind of temporary made beside a target: each writer sweeps them all


@functools.cache
def _host() -> str:
    """This host and process namespace, as a temporary's name gives it: the host name (readable, without the
    "-" names are split on) and a digest of the full name and of the pid namespace, so two containers that
    share a host name (host networking, a pod's shared volume) never take each other's pids for their own."""
    name = socket.gethostname() or "localhost"
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    digest = hashlib.sha256(f"{name}\0{namespace}".encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_.]', '_', name)[:24]}.{digest}"


def temp_prefix(target: Path, kind: str = "tmp") -> str:
    """The start of every temporary name this process makes beside ``target`` for ``kind`` of work."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {KINDS}")
    return f".{Path(target).name}.{kind}-{_host()}-{os.getpid()}-"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process: running; a pid no process has: not ours
        return True
    return True


def sweep_stale(target: Path) -> list[Path]:
    """Remove the temporaries beside ``target`` (of every kind) that a process of this host left and that
    is no longer running; the paths removed. Each is logged (what, which process left it). What cannot be
    removed (another user's, in a sticky directory) is left, and never stops the write that called this."""
    target = Path(target)
    pattern = re.compile(re.escape(f".{target.name}.") + "(?:" + "|".join(KINDS) + r")-([A-Za-z0-9_.]+)-([0-9]{1,9})-"
                         r"[A-Za-z0-9_]+")
    host = _host()
    removed = []
    try:
        entries = [e for e in os.scandir(target.parent) if e.name.startswith(f".{target.name}.")]
    except OSError:
        return removed
    for entry in sorted(entries, key=lambda e: e.name):
        match = pattern.fullmatch(entry.name)
        if not match or match[1] != host:
            continue
        pid = int(match[2])
        if pid == os.getpid() or _running(pid):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:  # another writer swept it first
            continue
        except OSError as exc:
            log.warning("could not remove %s, left by process %d of this host (%s)", path, pid, exc.strerror or exc)
            continue
        log.warning("removed %s, left by process %d of this host, which stopped before it could (killed?)", path, pid)
        removed.append(path)
    return removed


def temp_dir(target: Path, kind: str = "tmp", mode: int | None = 0o777) -> Path:
    """A new directory beside ``target`` for ``kind`` of work, made after ``sweep_stale``; its mode is
    ``mode`` as the umask leaves it (``None``: private to this user, as ``mkdtemp`` makes it)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(target)
    path = Path(tempfile.mkdtemp(prefix=temp_prefix(target, kind), dir=target.parent))
    if mode is not None:
        os.chmod(path, umask_mode(mode))
    return path


@contextmanager
def temporary_dir(target: Path, kind: str = "tmp") -> Iterator[Path]:
    """``temp_dir``, private to this user, removed with what it holds when the block ends."""
    path = temp_dir(target, kind, mode=None)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


SPILL_NAME = "diagnosis-service"  # spill directories are .diagnosis-service.spill-HOST-PID-... in TMPDIR


@contextmanager
def spill_dir() -> Iterator[Path]:
    """A private working directory in the system's temporary directory (``TMPDIR``) for a command's spill
    files (``import``, ``data convert``, ``data append``), removed when the block ends. Named like every
    temporary here, so one left by a process killed outright (SIGKILL, out of memory: a district's spill
    is half its CSV) is swept by the next command that spills, whichever it is."""
    with temporary_dir(Path(tempfile.gettempdir()) / SPILL_NAME, "spill") as path:
        yield path


def write_atomic(target: Path, chunks: Iterable[str]) -> Path:
    """Write the text ``chunks`` to ``target`` (UTF-8, newlines as given), whole or not at all."""
    return _write(target, chunks, "w")


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target``, whole or not at all."""
    return _write(target, (data,), "wb")


def write_chunks_atomic(target: Path, chunks: Iterable[bytes], sweep: bool = True) -> Path:
    """Write the byte ``chunks`` to ``target``, whole or not at all. ``sweep=False``: leave what killed
    writers left to whoever owns the directory (one of many files written into a fresh directory: looking
    through it before each would cost the square of their number)."""
    return _write(target, chunks, "wb", sweep)


def _write(target: Path, chunks: Iterable, mode: str, sweep: bool = True) -> Path:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if sweep:
        sweep_stale(target)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(target), dir=target.parent)
    try:
        text = {"encoding": "utf-8", "newline": "\n"} if mode == "w" else {}
        with os.fdopen(fd, mode, **text) as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


@contextmanager
def one_writer(directory: Path, what: str, marker: str) -> Iterator[None]:
    """Hold ``directory`` (a dataset) for this writer alone while the block runs: a second ``data append``
    or ``data carry`` at the same time would each replace the description with its own and lose the
    other's months, and a ``data convert`` replacing the dataset would take an append's later files in.
    The other gets an InputError naming the writer (``what`` and its pid) at once, not a wait of
    unknown length. The lock is the kernel's (``flock``): it goes with the process, however
    that ends, and the file left behind is empty of meaning. Only a dataset (a directory with its
    ``marker`` file) is locked: elsewhere the writer says what is wrong, and no lock file is left."""
    import fcntl

    if not (Path(directory) / marker).is_file():
        yield
        return
    fd = os.open(Path(directory) / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise InputError(Problem(f"the dataset is being written by {holder}", file=str(directory),
                                     suggestion="run this again once that has finished")) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)


class LockBusy(Exception):
    """``waited_lock``: another held the lock past the deadline."""


@contextmanager
def waited_lock(path: Path, deadline: float, on_wait: Callable[[], None] | None = None,
                poll: float = 0.5) -> Iterator[tuple[int, bool]]:
    """The kernel's lock (``flock``) on the file ``path`` (made, with its directory, if missing), waited for
    until ``deadline`` (``time.monotonic``; then LockBusy), looking every ``poll`` seconds; ``on_wait`` is
    told once when it has to wait. Yields the file descriptor (a child process given it holds the lock
    too, as long as it runs) and whether it waited. Unlike ``one_writer``, for work worth waiting for: a
    model's promotion, the service's monthly routine."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:  # closing the file (here and in children) releases the lock
        waited = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    waited = True
                    if on_wait is not None:
                        on_wait()
                if time.monotonic() >= deadline:
                    raise LockBusy(str(path)) from None
                time.sleep(poll)
        yield fh.fileno(), waited


__all__ = ["LockBusy", "not_a_directory", "one_writer", "sweep_stale", "temp_dir", "temp_prefix", "temporary_dir", "umask_mode",
           "waited_lock", "write_atomic", "write_bytes_atomic", "write_chunks_atomic"]


def replace_dir(tmp: Path, out: Path) -> None:
    """Put the finished directory ``tmp`` in place of ``out`` (replacing it whole, if there): two renames,
    with the old directory removed after. One left by a run that stopped between the renames is removed
    first."""
    old = out.with_name(f".{out.name}.old")
    if old.is_symlink() or old.is_file():
        old.unlink()
    shutil.rmtree(old, ignore_errors=True)
    try:
        with _signals_held():  # Ctrl-C or SIGTERM between the renames left neither: the caller removed tmp
            if out.exists():
                os.replace(out, old)
            os.replace(tmp, out)
    finally:  # also when a signal held back is delivered: the old directory is not left beside the new
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM held back inside (a few system calls) and given to their handlers at its end.
    Their Python handlers are swapped for one that notes them, not the signals masked: another thread
    of the process (dask's, say) would take a masked signal and the main thread still run its handler.
    Only the main thread can do this; elsewhere the signals go as they come."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):  # each swapped inside the try: each one swapped is restored
            previous[sig] = signal.signal(sig, lambda signum, _frame: caught.append(signum))
        yield
    finally:
        for sig, handler in previous.items():  # (None: one set outside Python, not restorable from here)
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)
