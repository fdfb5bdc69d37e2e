"""The monthly job as a job: submitted by a request (202), done by a worker thread of a serving process,
its state and progress read back (``GET /v1/jobs/{id}``).

A job's work is all or nothing (the results of a month are kept in one transaction), so a worker that
dies mid-way leaves nothing half-stored: its lease expires and another worker (or the same process
restarted) runs the job again. After ``max_attempts`` such starts the job is failed, visibly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..errors import Conflict, DatabaseDown, DiagnosisError, NotFound, Problem
from ..periods import check_period, parse_period, period_str
from ..store import jobs as jobs_store
from ..store import metrics as metrics_store
from ..store.errors import describe
from .common import in_transaction
from .diagnoses import diagnose_period, no_metrics
from .snapshot import Snapshot

log = logging.getLogger("diagnosis_service.jobs")
KIND = "diagnosis"


@dataclass(frozen=True)
class JobConfig:
    lease: float = 120.0
    max_attempts: int = 3
    poll: float = 0.5


def submit_diagnosis(engine: Engine, period: object, actor: str) -> tuple[dict, bool]:
    """The job diagnosing ``period``: a new one, or the one already queued or running for it (asking
    twice does not run twice). (job, created). The period is checked now: a bad or unknown period is
    answered at once (422, 404), not as a failed job later."""
    check_period(period, "period")
    with engine.connect() as conn:
        if period not in metrics_store.periods(conn):
            raise NotFound(no_metrics(str(period)))

    def step(conn) -> tuple[dict, bool]:
        found = jobs_store.open_job(conn, KIND, {"period": period})
        if found is not None:
            return found, False
        return jobs_store.get(conn, jobs_store.create(conn, KIND, {"period": period}, actor)), True

    return in_transaction(engine, step)


def refuse_beside_open_job(engine: Engine, period: str) -> None:
    """Conflict when a job diagnosing ``period`` is queued or running: diagnosing the month beside it (a
    ``?wait=true`` request) would store it twice and send its lamp changes twice."""
    with engine.connect() as conn:
        job = jobs_store.open_job(conn, KIND, {"period": period})
    if job is not None:
        raise Conflict(Problem(f"a job diagnosing {period} is {job['state']} (job {job['id']})", field=("period",),
                               suggestion=f"GET /v1/jobs/{job['id']} until it has succeeded: its result is this "
                                          f"month's diagnosis"))


def job_json(job: dict) -> dict:
    out = {"job_id": job["id"], "kind": job["kind"], "state": job["state"], "stage": job["stage"],
           "progress": job["progress"], "params": job["params"], "attempts": job["attempts"], "actor": job["actor"],
           "result": job.get("result"), "error": job.get("error"), "links": {"self": f"/v1/jobs/{job['id']}"}}
    # A running job's worker renews its lease every third of it: a lease_until that stops moving says its
    # worker stopped (a restart, a kill), and when it passes another worker takes the job up.
    for key in ("created_at", "started_at", "finished_at", "lease_until"):
        out[key] = job[key].isoformat() + "Z" if job.get(key) is not None else None
    return out


class LeaseLost(Exception):
    """This worker's lease on its job expired and another worker has the job now: stop, store nothing."""


Routine = Callable[[str, Callable[[str, float], None]], "dict | None"]


def run_next(engine: Engine, snapshot: Callable[[], Snapshot], owner: str, config: JobConfig,
             left: list[dict] | None = None, routine: Routine | None = None) -> bool:
    """Claim one job and do it; False when there was none to claim. While it runs, its lease is renewed
    every third of the lease (a heartbeat), and before each stage the worker checks it still holds it.
    ``left``: the jobs this worker left when the database failed under them (appended to here); once the
    database answers they are given back first (``jobs_store.after_outage``), so that one runs again at
    once rather than after its lease, and one out of attempts says the database failed it. ``routine``:
    run first with the job's period (the model's monthly routine); what it says goes into the result as
    ``model``."""
    lease = timedelta(seconds=config.lease)
    for item in list(left or ()):
        given = in_transaction(engine, lambda conn, i=item: jobs_store.after_outage(
            conn, i["id"], owner, i["attempt"], config.max_attempts, i["why"]))
        left.remove(item)
        if given == "queued":
            log.info("job %s: queued again after the database failed under attempt %s", item["id"], item["attempt"])
        elif given == "failed":
            log.error("job %s failed: the database failed under its last allowed attempt (%s of %s): %s",
                      item["id"], item["attempt"], config.max_attempts, item["why"])
    for failed in in_transaction(engine, lambda conn: jobs_store.fail_exhausted(conn, config.max_attempts)):
        # A worker killed (out of memory, a restart) writes nothing itself: this line and the attempts'
        # "started" lines are what the log holds of it.
        log.error("job %s failed: its worker stopped %s times without finishing (see its 'started' lines; a "
                  "process killed, e.g. out of memory, logs nothing itself)", failed, config.max_attempts)
    job = in_transaction(engine, lambda conn: jobs_store.claim(conn, owner, lease, max_attempts=config.max_attempts,
                                                               follows=previous_month))
    if job is None:
        return False
    job_id = job["id"]
    log.info("job %s (%s %s) started, attempt %s", job_id, job["kind"], job["params"], job["attempts"])
    began = time.perf_counter()
    state = {"stage": "starting", "fraction": 0.0}

    def progress(stage: str, fraction: float) -> None:
        state.update(stage=stage, fraction=fraction)
        held = in_transaction(engine, lambda conn: jobs_store.progress(conn, job_id, owner, stage, fraction, lease))
        if not held:
            raise LeaseLost(f"job {job_id}: lease lost before '{stage}'")

    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(max(config.lease / 3.0, 0.05)):
            try:
                in_transaction(engine, lambda conn: jobs_store.progress(conn, job_id, owner, state["stage"],
                                                                        state["fraction"], lease))
            except Exception:  # a missed beat: the next one, or the lease's expiry, settles it
                log.warning("job %s: could not renew its lease", job_id)

    beat = threading.Thread(target=heartbeat, name=f"job-{job_id}-lease", daemon=True)
    beat.start()
    try:
        period = job["params"]["period"]
        said = routine(period, progress) if routine is not None else None
        outcome: dict = {"result": diagnose_period(snapshot(), engine, period, job["actor"], progress,
                                                   finisher(job_id, owner), {"model": said} if said else None)}
    except LeaseLost as exc:
        log.warning("%s: another worker has it now", exc)
        return True
    except (DBAPIError, DatabaseDown) as exc:
        if not _outage(exc):  # a database error that running again would not mend (no table, disk full)
            log.exception("job %s failed", job_id)
            outcome = {"error": {"message": f"the database failed ({exc.__class__.__name__})",
                                 "suggestion": "see the service's log; submit the job again"}}
        else:
            # The database went away mid-job (a restart, a failover, dropped connections): nothing was kept,
            # and the job is not failed for it but left to its lease, then run again (its attempts bound it).
            why = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            if left is not None:
                left.append({"id": job_id, "attempt": job["attempts"], "why": why})
            log.warning("job %s: the database failed while it ran (%s); %s (attempt %s of %s)", job_id, why,
                        "it is given back once the database answers" if left is not None else
                        "it runs again once its lease runs out", job["attempts"], config.max_attempts)
            return True
    except DiagnosisError as exc:
        problem = exc.problems[0]
        outcome = {"error": {"message": problem.message, "suggestion": problem.suggestion,
                             "problems": len(exc.problems)}}
        log.warning("job %s failed: %s", job_id, problem.message)
    except Exception as exc:  # any other failure ends the job visibly; the worker goes on
        log.exception("job %s failed", job_id)
        outcome = {"error": {"message": f"internal error ({exc.__class__.__name__})",
                             "suggestion": "see the service's log; submit the job again"}}
    finally:
        stop.set()
        beat.join(timeout=5)
    if "result" in outcome:  # marked done with its results, in their transaction
        log.info("job %s done in %.1f s (the diagnosis %.1f s)", job_id, time.perf_counter() - began,
                 outcome["result"].get("seconds", 0.0))
    elif not in_transaction(engine, lambda conn: jobs_store.finish(conn, job_id, owner, **outcome)):
        log.warning("job %s: finished, but another worker had taken it over", job_id)
    return True


def _outage(exc: BaseException) -> bool:
    """Whether a database error is the database going away (a dropped or refused connection, silence past
    the timeout: ``store.errors.describe`` says DatabaseDown): worth running the job again, unlike an error
    the same work would meet again."""
    return isinstance(exc, DatabaseDown) or isinstance(describe(exc), DatabaseDown)


def previous_month(kind: str, params: dict) -> dict | None:
    """A diagnosis job waits while the previous month's is queued or running: its lamp.changed events
    compare with that month's stored lamps, which two workers storing neighbouring months at once would
    not yet see (every subject "new", a red lamp that was red already pushed as newly red)."""
    if kind != KIND:
        return None
    try:
        return {"period": period_str(parse_period(params["period"]) - 1)}
    except (KeyError, TypeError, ValueError):
        return None


def finisher(job_id: int, owner: str) -> Callable[[Connection, dict], None]:
    """What marks a job done in the transaction that keeps its results: a worker killed between the two
    would leave a job run twice (two runs stored, "diagnosis.completed" sent twice); one whose lease
    another worker took over keeps nothing (LeaseLost: the transaction is rolled back)."""

    def finish(conn: Connection, result: dict) -> None:
        if not jobs_store.finish(conn, job_id, owner, result=result):
            raise LeaseLost(f"job {job_id}: lease lost before its results were kept")

    return finish


class JobWorker:
    """A thread that does jobs one at a time until stopped (bounded waits: it looks again every ``poll``)."""

    def __init__(self, engine: Engine, snapshot: Callable[[], Snapshot], config: JobConfig,
                 routine: Routine | None = None):
        self.engine = engine
        self.snapshot = snapshot
        self.config = config
        self.routine = routine
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._left: list[dict] = []  # jobs left when the database failed under them: given back when it answers

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="job-worker", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking jobs; a job still under way after ``timeout`` is given back (``jobs_store.release``),
        queued for the next worker at once rather than after its lease (two minutes) expires."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            released = in_transaction(self.engine, lambda conn: jobs_store.release(conn, self.owner))
        except Exception as exc:  # the database is away: the lease's expiry gives the job back instead
            log.warning("job worker: could not give back its job on stopping (%s)", exc.__class__.__name__)
            return
        for job_id in released:
            log.info("job %s: given back on stopping; the next worker takes it up", job_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = run_next(self.engine, self.snapshot, self.owner, self.config, self._left, self.routine)
            except Exception as exc:  # the database went away: try again after a pause, never die
                log.warning("job worker: could not reach the database (%s: %s); trying again",
                            exc.__class__.__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
                worked = False
                self._stop.wait(min(5.0, self.config.poll * 10))
            if not worked:
                self._stop.wait(self.config.poll)
            else:
                time.sleep(0)  # let the request threads run between two jobs


__all__ = ["JobConfig", "JobWorker", "LeaseLost", "job_json", "refuse_beside_open_job", "run_next", "submit_diagnosis"]
