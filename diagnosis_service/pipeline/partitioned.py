"""A month on dask.distributed (``diagnose --engine dask``): the district in parts, on a cluster.

A columnar dataset (``data convert``, ``simulate --scale``) keeps each street's branches, members and
metrics in files of their own, so a part (a street, or a few) is diagnosed from its files alone, given
the district's references. Three passes over the parts (see ``engine.partitioned``): the members'
references, the branches' references, then every subject evaluated with the same vectorized code and its
branches prescribed. Each worker holds one part at a time; the client holds the references' inputs (one
number per subject and reference) and writes each part's lines to a file as it arrives, then merges
them in id order into ``--out``: byte-identical to ``--engine vectorized`` (differential tests say so).
With ``--out-parts DIR`` the workers write their parts' lines themselves and the client only a manifest
(``parts_out``): no line passes through the client, and ``data merge-parts`` gives the same file.

The scheduler is a ``LocalCluster`` on this machine (``local`` or ``local:N``) or a running one
(``tcp://HOST:8786``): its workers need this package installed and the dataset at the same path
(shared storage); docs/scale.md shows how.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..data.columnar import ParquetDir
from ..data.files import not_a_directory, temporary_dir, write_chunks_atomic
from ..data.locations import is_dataset, is_url
from ..engine import make_evaluator
from ..engine.partitioned import (
    Inputs,
    References,
    branch_references_read_members,
    member_periods,
    merge_references,
    needs_member_pass,
    reference_inputs,
)
from ..errors import InputError, Problem, Unavailable
from ..periods import check_period, parse_period, require_period_in
from ..remedies.history import History
from .dask_cluster import connect, worker_memory_bytes
from .keyed_merge import merged_lines, sort_key
from .month import diagnose_month
from .parts_out import PartsDir, write_part
from .snapshot import Snapshot

Progress = Callable[[str, int, int], None]  # (pass name, parts done, parts)


@dataclass
class PartitionedRun:
    """What a partitioned diagnosis did: parts, workers, and lamp counts per subject kind."""

    out: Path
    parts: int
    workers: int
    branches: int = 0
    members: int = 0
    lamps: dict[str, Counter] = field(default_factory=lambda: {"branch": Counter(), "member": Counter()})
    worker_peaks: list[int] = field(default_factory=list)  # each worker process's peak resident memory, bytes
    client_peak: int = 0  # this process's
    seconds: dict[str, float] = field(default_factory=dict)  # per pass, and the merge (which runs here alone)


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def plan_parts(partitions: list[tuple[int, int]], workers: int, part_members: int | None = None) -> list[list[int]]:
    """Streets grouped into parts of about ``part_members`` members (default: enough parts for every
    worker to have four, between 2,000 and 50,000 members each: a worker's memory is
    about one part's), in street order."""
    total = sum(m for _, m in partitions)
    target = part_members or max(2_000, min(50_000, total // max(4 * workers, 1)))
    parts: list[list[int]] = []
    size = 0
    for street, members in partitions:
        if not parts or size >= target:
            parts.append([])
            size = 0
        parts[-1].append(street)
        size += members
    return parts


# ------------------------------------------------------------------ tasks (run on workers, by name)

def _load(directory: str, snapshot: Snapshot, period: str, streets: list[int],
          metrics: tuple[str, ...] = ("branch", "member")):
    return ParquetDir(directory).load(snapshot.ruleset.registry, period, streets=streets, metrics=metrics,
                                      lookback=snapshot.lookback(), carry=snapshot.carry())


def member_inputs(streets: list[int], directory: str, snapshot: Snapshot, period: str,
                  periods: list[int]) -> dict[int, Inputs]:
    """Pass 1: this part's share of the members' references, at each month of ``periods``."""
    evaluator = make_evaluator(_load(directory, snapshot, period, streets), snapshot.ruleset)
    return {pidx: reference_inputs(evaluator, "member", pidx) for pidx in periods}


def branch_inputs(streets: list[int], directory: str, snapshot: Snapshot, period: str,
                  references_at: dict[int, References]) -> Inputs:
    """Pass 2: this part's share of the branches' references (member lamps under the district's references,
    when a reference is over a member-based indicator; else the members' rows are not even read)."""
    metrics = ("branch", "member") if branch_references_read_members(snapshot.ruleset) else ("branch",)
    evaluator = make_evaluator(_load(directory, snapshot, period, streets, metrics), snapshot.ruleset,
                               references_at=references_at)
    return reference_inputs(evaluator, "branch", parse_period(period))


def evaluate_part(streets: list[int], directory: str, snapshot: Snapshot, period: str,
                  references_at: dict[int, References], per_weakness: int,
                  history: History | None) -> dict[str, tuple[list[tuple[str, str]], Counter]]:
    """Pass 3: this part's (id, JSON line) of every branch and member, each sorted by id, and its lamps."""
    dataset = _load(directory, snapshot, period, streets)
    if period not in dataset.periods():
        return {"branch": ([], Counter()), "member": ([], Counter())}
    month = diagnose_month(dataset, snapshot, period, "vectorized", per_weakness, history, references_at)
    return {kind: ([(r.id, r.to_json()) for r in results], Counter(r.lamp for r in results))
            for kind, results in (("branch", month.branches), ("member", month.members))}


def evaluate_part_to(index: int, streets: list[int], parts_dir: str, **kwargs) -> dict:
    """Pass 3 for ``--out-parts``: the part's lines written here, on the worker, into ``parts_dir``; only
    its manifest entry (counts, size, digest, lamps) goes back to the client."""
    return write_part(parts_dir, index, evaluate_part(streets, **kwargs))


# ------------------------------------------------------------------ the driver

def _gather(client, futures: list, name: str, progress: Progress | None) -> Iterator[tuple[int, object]]:
    """(index, result) of each future as it finishes (``futures`` is emptied: the caller keeps none)."""
    from distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    total = len(futures)
    pending = as_completed(futures, with_results=True)
    futures.clear()  # as_completed holds each until it is yielded: a part's result is freed once handled
    for done, (future, result) in enumerate(pending, start=1):
        # A part whose data the cluster lost (its workers died: out of memory, killed) comes back
        # cancelled, its "result" the CancelledError: as_completed raises only a task's own error.
        if isinstance(result, BaseException) or future.status == "cancelled":
            raise _workers_died(result if isinstance(result, BaseException) else RuntimeError("cancelled"))
        if progress:
            progress(name, done, total)
        yield index[future.key], result


def _workers_died(exc: BaseException) -> Unavailable:
    return Unavailable(Problem(f"the workers died running a part ({exc.__class__.__name__}: "
                               f"{' '.join(str(exc).split())[:300]})", field=("worker_memory",),
                               suggestion="more memory a worker (--worker-memory) or smaller parts (--part-members)"))


def diagnose_partitioned(directory: str | Path, snapshot: Snapshot, period: str, out: Path | None,
                         scheduler: object = "local", per_weakness: int = 5, history: History | None = None,
                         worker_memory: str | None = None, part_members: int | None = None,
                         progress: Progress | None = None, out_parts: Path | None = None,
                         before_commit: Callable[[], None] | None = None) -> PartitionedRun:
    """Diagnose ``period`` of the dataset at ``directory`` (a path, or an fsspec URL the workers can read)
    on dask.distributed; JSON Lines to ``out`` (as ``diagnose --out`` writes them), or a file per part
    written by the workers into the directory ``out_parts`` (``parts_out``: on storage the workers
    share), whole or not at all. ``scheduler``: see ``connect``. ``before_commit``: called once every part
    is in and, for ``out``, again once the merged lines are written, before the file is put in place; what
    it raises stops the run with nothing written."""
    if (out is None) == (out_parts is None):
        raise TypeError("give one of out and out_parts")
    check_period(period, "period")  # before the directory: a bad --period is the first thing said
    memory = worker_memory_bytes(worker_memory)
    if not is_url(directory) and not Path(directory).is_dir():
        raise InputError(not_a_directory(directory, "data directory", "data is a directory of CSV files or a columnar dataset"))
    if not is_dataset(directory):
        raise InputError(Problem("the dask engine reads a columnar dataset, not a CSV directory", file=str(directory),
                                 suggestion=f"convert it first: diagnosis-service data convert {directory} OUT"))
    source = ParquetDir(directory)
    description = source.describe()
    require_period_in(period, description["periods"])
    pidx = parse_period(period)
    from distributed import KilledWorker

    try:
        # The parts' directory outlives the client: removed (on failure) once no task can still write to it.
        with (PartsDir(Path(out_parts)) if out_parts is not None else contextlib.nullcontext()) as target, \
                connect(scheduler, memory) as client:
            workers = max(1, len(client.scheduler_info()["workers"]))
            parts = plan_parts(source.partitions(), workers, part_members)
            run = PartitionedRun(Path(out if out is not None else out_parts), len(parts), workers)
            where = str(directory) if is_url(directory) else str(Path(directory).resolve())
            common = {"directory": where, "period": period,
                      "snapshot": client.scatter(snapshot, broadcast=True, hash=False)}
            clock = time.perf_counter()

            def lap(name: str) -> None:
                nonlocal clock
                run.seconds[name] = time.perf_counter() - clock
                clock = time.perf_counter()

            months = member_periods(snapshot.ruleset, pidx)
            references_at: dict[int, References] = {q: {} for q in months}
            if needs_member_pass(snapshot.ruleset):
                futures = client.map(member_inputs, parts, periods=months, pure=False, **common)
                shares = [r for _, r in _gather(client, futures, "member references", progress)]
                references_at = {q: merge_references(s[q] for s in shares) for q in months}
                del shares
            lap("member references")
            futures = client.map(branch_inputs, parts, references_at=client.scatter(references_at, broadcast=True, hash=False),
                                 pure=False, **common)
            branch_refs = merge_references(r for _, r in _gather(client, futures, "branch references", progress))
            references_at[pidx] = {**references_at[pidx], **branch_refs}
            lap("branch references")
            evaluate = {"references_at": client.scatter(references_at, broadcast=True, hash=False),
                        "per_weakness": per_weakness, "history": client.scatter(history, broadcast=True, hash=False),
                        "pure": False, **common}
            if target is not None:
                names = description.get("streets", [])
                _to_parts(client, parts, evaluate, target, period, run, progress,
                          [[names[k] if k < len(names) else str(k) for k in part] for part in parts], before_commit)
                lap("diagnosis")
            else:
                _to_file(client, parts, evaluate, Path(out), run, progress, lap, before_commit)
            run.worker_peaks = sorted(client.run(peak_rss).values())
    except KilledWorker as exc:  # the scheduler gave up on a part: its workers died (out of memory, mostly)
        raise _workers_died(exc) from None
    run.client_peak = peak_rss()
    return run


def _to_file(client, parts: list[list[int]], evaluate: dict, out: Path, run: PartitionedRun,
             progress: Progress | None, lap: Callable[[str], None],
             before_commit: Callable[[], None] | None = None) -> None:
    """Pass 3, the lines sent here: a file per part as they arrive, merged in id order into ``out``."""
    futures = client.map(evaluate_part, parts, **evaluate)
    out.parent.mkdir(parents=True, exist_ok=True)
    with temporary_dir(out, "parts") as tmp:
        for i, result in _gather(client, futures, "diagnosis", progress):
            for kind, (rows, lamps) in result.items():
                with open(Path(tmp) / f"{i:06d}.{kind}", "wb") as fh:
                    fh.writelines(b"%b\t%b\n" % (sort_key(k), line.encode("utf-8")) for k, line in rows)
                run.lamps[kind].update(lamps)
            run.branches += len(result["branch"][0])
            run.members += len(result["member"][0])
        lap("diagnosis")
        if before_commit:
            before_commit()
        write_chunks_atomic(out, _then(merged_lines(Path(tmp), len(parts)), before_commit))
        lap("merge")


def _then(chunks: Iterable[bytes], check: Callable[[], None] | None) -> Iterator[bytes]:
    """``chunks``, then ``check()`` once they are written and before the file is put in place (the merge
    of a province's lines takes a while: a stop during it must stop it too)."""
    yield from chunks
    if check:
        check()


def _to_parts(client, parts: list[list[int]], evaluate: dict, target: PartsDir, period: str, run: PartitionedRun,
              progress: Progress | None, streets: list[list[str]],
              before_commit: Callable[[], None] | None = None) -> None:
    """Pass 3, the lines written by the workers into the parts directory; only each part's manifest entry
    comes here (with its streets added: where a reader finds a branch)."""
    futures = client.map(evaluate_part_to, range(len(parts)), parts, parts_dir=str(target.tmp.resolve()), **evaluate)
    entries: list[dict | None] = [None] * len(parts)
    for i, entry in _gather(client, futures, "diagnosis", progress):
        entries[i] = {**entry, "streets": streets[i]}
        for kind in ("branch", "member"):
            run.lamps[kind].update(entry["lamps"][kind])
        run.branches += entry["branches"]
        run.members += entry["members"]
    assert all(e is not None for e in entries)  # _gather yields every part or raises
    if before_commit:
        before_commit()
    target.commit(period, entries)  # type: ignore[arg-type]


__all__ = ["PartitionedRun", "connect", "diagnose_partitioned", "peak_rss", "plan_parts"]
