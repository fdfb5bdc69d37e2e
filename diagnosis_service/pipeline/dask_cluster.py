"""The dask.distributed client a partitioned month runs on (``diagnose --engine dask --scheduler``): a
``LocalCluster`` of worker processes on this machine, or a running scheduler, and one line for each way
that fails (a malformed address, a refused port, a scheduler that takes the connection and says nothing,
TLS without certificates, too little memory for a worker). A run stopped by Ctrl-C or SIGTERM says
nothing more than that: the local workers ignore the terminal's Ctrl-C, the cluster's logs stay out.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import InputError, Problem, Unavailable

SCHEDULERS = "local, local:N (N worker processes on this machine) or tcp://HOST:PORT (a running scheduler)"
CONNECT_SECONDS = 30  # a scheduler that answers does so at once; a cluster's, over a network, in seconds
# A worker's own footprint is ~170 MiB before any part (measured on a small district); at 150 MiB dask failed
# before the first part. 512 MiB leaves room for the snapshot and a small part.
MIN_WORKER_MEMORY = 512 * 2**20


def worker_memory_bytes(text: str | None) -> int | None:
    """``--worker-memory`` in bytes (None: the machine's memory shared among the workers); InputError for a
    size dask does not read or one too small for a worker."""
    if text is None:
        return None
    from dask.utils import parse_bytes

    try:
        size = int(parse_bytes(text))
    except (ValueError, TypeError):
        raise InputError(Problem(f"bad size {text!r}", field=("worker_memory",),
                                 suggestion="a size such as 2GiB, 1500MiB or 4GB")) from None
    if size < MIN_WORKER_MEMORY:
        raise InputError(Problem(f"{text} is too little for a worker (at least {MIN_WORKER_MEMORY // 2**20} MiB)",
                                 field=("worker_memory",),
                                 suggestion="give at least 512MiB, or smaller parts with --part-members"))
    return size


@contextmanager
def connect(scheduler: object = "local", worker_memory: int | str | None = None) -> Iterator:
    """A dask.distributed client: a LocalCluster of worker processes on 127.0.0.1, a running scheduler, or
    the client given (which stays open)."""
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
    elif not isinstance(scheduler, str):
        raise TypeError("scheduler: an address or a distributed.Client")
    elif scheduler == "local" or scheduler.startswith("local:"):
        count = scheduler.partition(":")[2]
        if count and not (count.isdigit() and 1 <= int(count) <= 256):
            raise InputError(Problem(f"bad worker count {count!r}", field=("scheduler",), suggestion=SCHEDULERS))
        workers = int(count) if count else max(1, os.cpu_count() or 1)
        with _interrupts_for_this_process_only():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address="127.0.0.1:0", memory_limit=worker_memory or "auto",
                                   # The workers' own logs stay out: what goes wrong in a part reaches this
                                   # process as its error, told in one line; a worker's heartbeat to a
                                   # scheduler closing under it is not news (a Ctrl-C printed it as an ERROR)
                                   silence_logs=logging.CRITICAL)
        with cluster, Client(cluster) as client, _quiet_when_stopped():
            yield client
    elif scheduler.startswith(("tcp://", "tls://")):
        with _remote_client(scheduler) as client, _quiet_when_stopped():
            yield client
    else:
        raise InputError(Problem(f"unknown scheduler {scheduler!r}", field=("scheduler",), suggestion=SCHEDULERS))


@contextmanager
def _interrupts_for_this_process_only() -> Iterator[None]:
    """Ctrl-C ignored by the worker processes started inside (they inherit it, and Python keeps an ignored
    SIGINT ignored): a terminal's Ctrl-C, sent to the whole process group, then stops this process, which
    closes the cluster, instead of each worker printing its own KeyboardInterrupt traceback as well."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


@contextmanager
def _quiet_when_stopped() -> Iterator[None]:
    """A run stopped (Ctrl-C, SIGTERM, an error) leaves the cluster's logs out: its teardown logs the work
    it drops (connections closed, keys forgotten) as errors with tracebacks, dozens of lines after the one
    line that says what happened."""
    try:
        yield
    except BaseException:
        names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in ("distributed", "tornado")]
        for name in ["distributed", "tornado", *names]:  # the children too: dask sets some levels of its own
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        raise


@contextmanager
def _remote_client(scheduler: str) -> Iterator:
    """A client of the scheduler at ``scheduler`` (tcp:// or tls://HOST:PORT), or one line saying why not
    within CONNECT_SECONDS: a malformed address, a refused port (at once), one that accepts and never
    answers (a stopped or frozen scheduler: distributed's own timeout does not cover its handshake, and
    the client waited for good), or TLS without its certificates."""
    import socket
    from urllib.parse import urlsplit

    from distributed import Client

    def down(why: str) -> Unavailable:
        return Unavailable(Problem(f"no dask scheduler answers at {scheduler} ({why})", field=("scheduler",),
                                   suggestion="start one (dask scheduler; dask worker ADDRESS) or use local[:N]"))

    try:
        parts = urlsplit(scheduler)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, or out of range
        host = port = None
    if not host or port is None or parts.path not in ("", "/") or parts.query:
        raise InputError(Problem(f"bad scheduler address {scheduler!r}", field=("scheduler",),
                                 suggestion="tcp://HOST:PORT (a dask scheduler's, e.g. tcp://10.0.0.5:8786), "
                                            "or local[:N]"))
    try:  # a refused or unreachable port is told now, not after the wait
        socket.create_connection((host, port), timeout=min(5, CONNECT_SECONDS)).close()
    except OSError as exc:
        raise down(f"{exc.__class__.__name__}: {exc.strerror or exc}") from None
    made: dict = {}

    def connect_() -> None:
        try:
            made["client"] = Client(scheduler, timeout=f"{CONNECT_SECONDS}s")
        except BaseException as exc:  # noqa: BLE001 -- told to the caller
            made["error"] = exc

    thread = threading.Thread(target=connect_, name="dask-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_SECONDS + 5)
    if thread.is_alive():  # left behind, a daemon: this process ends with the one line below
        raise down(f"it took the connection and said nothing for {CONNECT_SECONDS + 5} s: stopped or overloaded?")
    error = made.get("error")
    if isinstance(error, (OSError, TimeoutError)):  # silent or gone: distributed says OSError
        raise down(f"waited {CONNECT_SECONDS} s: {error.__class__.__name__}")
    if isinstance(error, TypeError | ValueError) and parts.scheme == "tls":
        raise InputError(Problem(f"tls:// needs this client's certificates ({' '.join(str(error).split())[:200]})",
                                 field=("scheduler",),
                                 suggestion="set dask's distributed.comm.tls settings (e.g. DASK_DISTRIBUTED__COMM__"
                                            "TLS__CA_FILE, __CLIENT__CERT, __CLIENT__KEY), or use tcp://"))
    if error is not None:
        raise error
    with made["client"] as client:
        yield client


__all__ = ["CONNECT_SECONDS", "MIN_WORKER_MEMORY", "SCHEDULERS", "connect", "worker_memory_bytes"]
