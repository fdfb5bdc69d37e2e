"""Jobs in the store: created by a request, claimed by one worker at a time under a lease, finished once.

A worker claims the oldest queued job, or a running one whose lease expired (its process died), and
renews the lease while it works. Claiming is one conditional UPDATE (``WHERE id = ? AND state = ...``):
of two workers that saw the same job, only the one whose update matched a row has it. A job claimed
more than ``max_attempts`` times is failed, so a job that kills its worker every time ends visibly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.engine import Connection

from . import now
from .schema import jobs

STATES = ("queued", "running", "succeeded", "failed")
CLAIM_CANDIDATES = 5  # jobs looked at per claim when none waits for another (a few: two workers may race)


def _open_key(kind: str, params: dict) -> str:
    return f"{kind}:{json.dumps(params, sort_keys=True)}"[:200]


def create(conn: Connection, kind: str, params: dict, actor: str) -> int:
    """A queued job; IntegrityError when the same work is queued or running already (a concurrent request
    made it: the caller's retry finds it with ``open_job``)."""
    return int(conn.execute(jobs.insert().values(
        kind=kind, params=json.dumps(params, sort_keys=True), state="queued", progress=0.0, attempts=0, actor=actor,
        created_at=now(), open_key=_open_key(kind, params))).inserted_primary_key[0])


def get(conn: Connection, job_id: int) -> dict | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    return None if row is None else _decoded(row)


def listing(conn: Connection, state: str | None = None, limit: int = 50) -> list[dict]:
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(jobs.c.state == state)
    return [_decoded(r) for r in conn.execute(query).mappings()]


def open_job(conn: Connection, kind: str, params: dict) -> dict | None:
    """A queued or running job of the same kind and parameters (asking twice does not run twice)."""
    row = conn.execute(select(jobs).where(jobs.c.kind == kind, jobs.c.params == json.dumps(params, sort_keys=True),
                                          jobs.c.state.in_(("queued", "running"))).order_by(jobs.c.id)).mappings().first()
    return None if row is None else _decoded(row)


def claim(conn: Connection, owner: str, lease: timedelta, at: datetime | None = None,
          max_attempts: int = 1_000_000, follows: Callable[[str, dict], dict | None] | None = None) -> dict | None:
    """The next job this worker now holds (queued, or running with an expired lease and attempts left),
    or None. The UPDATE repeats the conditions: a lease renewed since the SELECT is not taken.
    ``follows(kind, params)``: the parameters of the job of the same kind that one must wait for (None:
    none); a job is not claimed while that one is queued or running."""
    at = at or now()
    claimable = and_(jobs.c.attempts < max_attempts,
                     or_(jobs.c.state == "queued", and_(jobs.c.state == "running", jobs.c.lease_until < at)))
    query = select(jobs.c.id, jobs.c.state, jobs.c.attempts, jobs.c.kind, jobs.c.params).where(claimable)
    if follows is None:
        query = query.limit(CLAIM_CANDIDATES)
    # Every claimable job when some may wait (a backfill queued newest first waits all along but for one):
    # the open jobs read once, not a query a candidate.
    open_now = set() if follows is None else {
        (r.kind, r.params) for r in conn.execute(select(jobs.c.kind, jobs.c.params)
                                                 .where(jobs.c.state.in_(("queued", "running"))))}
    for row in conn.execute(query.order_by(jobs.c.id)).all():
        before = follows(row.kind, json.loads(row.params)) if follows is not None else None
        if before is not None and (row.kind, json.dumps(before, sort_keys=True)) in open_now:
            continue
        taken = conn.execute(update(jobs).where(jobs.c.id == row.id, jobs.c.state == row.state,
                                                jobs.c.attempts == row.attempts, claimable)
                             .values(state="running", owner=owner, lease_until=at + lease, attempts=row.attempts + 1,
                                     started_at=at, stage="starting", progress=0.0))
        if taken.rowcount == 1:
            return get(conn, row.id)
    return None


def progress(conn: Connection, job_id: int, owner: str, stage: str, fraction: float, lease: timedelta) -> bool:
    """Record progress and renew the lease; False when the job is no longer this worker's."""
    done = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner, jobs.c.state == "running")
                        .values(stage=stage, progress=round(min(max(fraction, 0.0), 1.0), 4),
                                lease_until=now() + lease))
    return done.rowcount == 1


def finish(conn: Connection, job_id: int, owner: str, result: dict | None = None, error: dict | None = None) -> bool:
    """succeeded with ``result``, or failed with ``error``; False when the job is no longer this worker's."""
    values = {"state": "failed" if error is not None else "succeeded", "finished_at": now(), "lease_until": None,
              "stage": "failed" if error is not None else "done", "open_key": None}
    if error is None:
        values["progress"] = 1.0
        values["result"] = json.dumps(result, sort_keys=True, ensure_ascii=False)
    else:
        values["error"] = json.dumps(error, sort_keys=True, ensure_ascii=False)
    done = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.owner == owner, jobs.c.state == "running")
                        .values(**values))
    return done.rowcount == 1


def release(conn: Connection, owner: str) -> list[int]:
    """Give back the jobs this worker holds (its process is stopping): queued again at once, the attempt
    not counted, so that the next worker takes them up without waiting for the lease to expire. A part
    of the work still running here then finds the job no longer its own and stores nothing."""
    held = [r.id for r in conn.execute(select(jobs.c.id).where(jobs.c.owner == owner, jobs.c.state == "running"))]
    if held:
        conn.execute(update(jobs).where(jobs.c.id.in_(held), jobs.c.owner == owner, jobs.c.state == "running")
                     .values(state="queued", owner=None, lease_until=None, stage=None, progress=0.0,
                             attempts=case((jobs.c.attempts > 0, jobs.c.attempts - 1), else_=0)))
    return held


def after_outage(conn: Connection, job_id: int, owner: str, attempt: int, max_attempts: int, why: str) -> str | None:
    """A job this worker left when the database failed under it (nothing of it was kept), once the database
    answers again: queued at once (the attempt counted), or failed, saying so, when that was its last
    allowed attempt. "queued" or "failed"; None when it is no longer this worker's (its lease ran out and
    another worker took it)."""
    mine = (jobs.c.id == job_id, jobs.c.owner == owner, jobs.c.state == "running", jobs.c.attempts == attempt)
    if attempt >= max_attempts:
        error = {"message": f"the database failed while it ran, in its last allowed attempt ({attempt} of "
                            f"{max_attempts}): {why}",
                 "suggestion": "submit the job again once the database is steady (see the service's log)"}
        values = {"state": "failed", "stage": "failed", "finished_at": now(), "lease_until": None, "open_key": None,
                  "error": json.dumps(error, sort_keys=True)}
    else:
        values = {"state": "queued", "owner": None, "lease_until": None, "stage": None, "progress": 0.0}
    done = conn.execute(update(jobs).where(*mine).values(**values))
    return values["state"] if done.rowcount == 1 else None


def fail_exhausted(conn: Connection, max_attempts: int, at: datetime | None = None) -> list[int]:
    """Fail the jobs whose lease expired after their last allowed attempt (their worker died each time)."""
    at = at or now()
    ids = list(conn.execute(select(jobs.c.id).where(jobs.c.state == "running", jobs.c.lease_until < at,
                                                    jobs.c.attempts >= max_attempts)).scalars())
    failed = []
    for job_id in ids:
        error = {"message": f"the worker running it stopped {max_attempts} times without finishing",
                 "suggestion": "see the service's log around each attempt's start (a worker killed, e.g. out of "
                               "memory, logs nothing itself); submit the job again"}
        done = conn.execute(update(jobs).where(jobs.c.id == job_id, jobs.c.state == "running", jobs.c.lease_until < at,
                                               jobs.c.attempts >= max_attempts)
                            .values(state="failed", stage="failed", finished_at=at, lease_until=None, open_key=None,
                                    error=json.dumps(error, sort_keys=True)))
        if done.rowcount == 1:
            failed.append(job_id)
    return failed


def counts(conn: Connection) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for state, n in conn.execute(select(jobs.c.state, func.count()).group_by(jobs.c.state)):
        out[state] = int(n)
    return out


def _decoded(row) -> dict:
    out = dict(row)
    for key in ("params", "result", "error"):
        if out.get(key) is not None:
            out[key] = json.loads(out[key])
    return out


__all__ = ["STATES", "claim", "counts", "create", "fail_exhausted", "finish", "get", "listing", "open_job",
           "progress"]
