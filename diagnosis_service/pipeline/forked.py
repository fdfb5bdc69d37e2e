"""``diagnose --out`` on every core: a month's prescriptions and JSON Lines shared out among processes.

Once a month is evaluated, what is left (each branch's prescriptions, every subject's line, writing
them) is a third to a half of a district month, subject by subject and independent. ``write_forked``
forks ``jobs - 1`` copies of this process (the evaluated month is shared, copy on write), gives each a
slice of the branches and of the members in id order, and joins their parts in that order: the file is
the same bytes as one process writes (tested). A part that fails fails the whole, with its message;
nothing is written then, and no process is left behind (Ctrl-C and SIGTERM too). A part still running
long after this process finished its own (``HUNG_AFTER``) is taken to hang, as a copy of a process may
on a lock another thread held at the fork: it is killed and its share written here, with a warning.

Where ``os.fork`` is missing, or with one job, the month is written in this process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ..data.files import temp_dir, umask_mode
from ..engine.findings import SubjectResult
from .month import Month, write_lines

BUFFER = 1 << 20
# A part is taken to hang once it runs this long after this process wrote its own share: the larger of
# seconds, and a multiple of the time that share took (the parts are the same size).
HUNG_AFTER = (60.0, 10.0)

log = logging.getLogger("diagnosis_service.forked")


def available_jobs() -> int:
    """Processes worth using here: the cores this process may run on, at most 4 (past that, joining the
    parts costs more)."""
    if not hasattr(os, "fork"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cores))


SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _fork() -> int:
    """``os.fork`` with Ctrl-C and SIGTERM held back until the child has taken their default actions: a
    signal in between would run this process's cleanup in the child."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    pid = os.fork()
    if pid == 0:
        try:
            for sig in SIGNALS:  # in a part, Ctrl-C and SIGTERM end it at once; the parent cleans up
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        except BaseException:  # noqa: BLE001 -- the child must never return into the parent's code
            os._exit(1)
        return 0
    signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return pid


def _slices(n: int, jobs: int) -> list[slice]:
    return [slice(n * k // jobs, n * (k + 1) // jobs) for k in range(jobs)]


def _write_part(month: Month, branches: Sequence[SubjectResult], members: Sequence[SubjectResult],
                prefix: Path) -> None:
    """One part: its branches prescribed (if the month left that for later), its two runs of lines."""
    prescribe = month.prescribe
    with open(f"{prefix}.branches", "w", encoding="utf-8", newline="\n", buffering=BUFFER) as fh:
        for result in branches:
            if prescribe is not None:
                month.choices[result.id] = prescribe(result)
            fh.write(result.to_json())
            fh.write("\n")
    with open(f"{prefix}.members", "w", encoding="utf-8", newline="\n", buffering=BUFFER) as fh:
        for result in members:
            fh.write(result.to_json())
            fh.write("\n")


def write_forked(month: Month, out: Path, jobs: int, hung_after: tuple[float, float] = HUNG_AFTER) -> Path:
    """Write ``month``'s JSON Lines to ``out`` (whole or not at all), prescribing the branches it left for
    later, with ``jobs`` processes. In this process ``Month.choices`` then holds the first part's only
    (and those of a part redone here). ``hung_after``: seconds and a multiple of this process's own
    share's time, the larger of which a part may run after it (``HUNG_AFTER``)."""
    out = Path(out)
    if jobs <= 1 or not hasattr(os, "fork") or len(month.branches) + len(month.members) < 2 * jobs:
        month.prescribe_pending()
        write_lines(month.lines(), out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    work = temp_dir(out, "parts", mode=None)
    children: list[int] = []
    try:
        b_parts, m_parts = _slices(len(month.branches), jobs), _slices(len(month.members), jobs)
        for k in range(1, jobs):
            pid = _fork()
            if pid == 0:  # the child: its part, then gone without running this process's exit handlers
                _child(lambda k=k: _write_part(month, month.branches[b_parts[k]], month.members[m_parts[k]],
                                               work / str(k)), work / f"{k}.error")
            children.append(pid)
        started = time.monotonic()
        _write_part(month, month.branches[b_parts[0]], month.members[m_parts[0]], work / "0")
        took = time.monotonic() - started
        failures, hung = _wait(children, work, time.monotonic() + max(hung_after[0], hung_after[1] * took))
        if failures:
            raise RuntimeError("diagnose --out: a part written in another process failed:\n" + failures[0])
        for k in hung:
            log.warning("diagnose --out: part %d of %d was still running %.1f s after this process's own part "
                        "(%.1f s): it was stopped and its share is written here", k, jobs,
                        max(hung_after[0], hung_after[1] * took), took)
            _write_part(month, month.branches[b_parts[k]], month.members[m_parts[k]], work / str(k))
        joined = work / "joined"
        with open(joined, "wb") as fh:
            for kind in ("branches", "members"):
                for k in range(jobs):
                    with open(work / f"{k}.{kind}", "rb") as part:
                        shutil.copyfileobj(part, fh, BUFFER)
        os.chmod(joined, umask_mode())
        os.replace(joined, out)
        return out
    finally:
        for pid in children:  # stopped early (an error here, Ctrl-C, SIGTERM): none is left running
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        shutil.rmtree(work, ignore_errors=True)


def _child(work: Callable[[], None], error_file: Path) -> None:
    code = 1
    try:
        work()
        code = 0
    except BaseException:  # noqa: BLE001 -- anything, told to the parent: this process must not go on
        with contextlib.suppress(BaseException):  # the parent says the part failed, with or without why
            error_file.write_text(traceback.format_exc(), encoding="utf-8")
    finally:
        os._exit(code)


def _wait(children: list[int], work: Path, deadline: float) -> tuple[list[str], list[int]]:
    """Wait for every part (each is taken off ``children`` once it is gone) until ``deadline`` (monotonic):
    what each that failed said, and the parts (numbered from 1) stopped because they were still running
    then. The wait is a poll, so Ctrl-C and SIGTERM are held back only for an instant at a time."""
    failures, hung = [], []
    numbers = {pid: k for k, pid in enumerate(children, start=1)}
    pause = 0.001
    while children:
        # Signals held back between the wait and the bookkeeping: a part reaped but still listed would be
        # killed by its pid, which may be another process's by then.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            pid = children[0]
            late = time.monotonic() > deadline
            if late:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            done, status = os.waitpid(pid, 0 if late else os.WNOHANG)
            if done:
                children.pop(0)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if not done:
            time.sleep(pause)
            pause = min(pause * 2, 0.005)
            continue
        k = numbers[pid]
        code = os.waitstatus_to_exitcode(status)
        if late and code == -signal.SIGKILL:
            hung.append(k)
        elif code != 0:
            error = work / f"{k}.error"
            failures.append(error.read_text(encoding="utf-8") if error.exists() else
                            f"part {k} ended with status {code}")
    return failures, hung


__all__ = ["available_jobs", "write_forked"]
