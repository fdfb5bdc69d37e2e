"""The outbox: events written in the transaction of the change that causes them, one delivery row per
subscription that wants each, and what delivery workers need to share the queues safely.

A worker claims whole subscriptions, not single deliveries, so that one subscription's events go out
in their order: ``claim`` leases unleased subscriptions that have something due (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so two workers never lease the same one; SQLite serializes writers and a
single worker holds ``worker_locks`` besides). A worker that dies loses its lease when it runs out
and another worker sends what it had not marked again (at least once, same event id).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from .schema import webhook_deliveries, webhook_events, webhook_subscriptions, worker_locks

SUBS, DELIVERIES, EVENTS = webhook_subscriptions, webhook_deliveries, webhook_events
CHUNK = 5_000


def add(conn: Connection, events: Sequence[Mapping], targets: Sequence[Sequence[int]], now: datetime) -> int:
    """Store ``events`` (event_id, type, street, branch_id, body) and, for each, a pending delivery to every
    subscription id of its ``targets``; returns the number of deliveries."""
    count = 0
    for start in range(0, len(events), CHUNK):
        part = [{**e, "created_at": now} for e in events[start:start + CHUNK]]
        ids = conn.execute(insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True), part).scalars().all()
        rows = [{"subscription_id": s, "event": pk, "status": "pending", "attempts": 0, "next_attempt_at": now,
                 "created_at": now} for pk, subs in zip(ids, targets[start:start + CHUNK], strict=True) for s in subs]
        if rows:
            conn.execute(DELIVERIES.insert(), rows)
        count += len(rows)
    return count


def _due(now: datetime, owner: str | None = None, held: Sequence[int] = ()) -> list:
    """Subscriptions with pending deliveries, not leased by a live worker (but ``owner``, whose leases
    outside ``held`` it forgot after a failed round), not waiting for a retry."""
    free = [SUBS.c.lease_until.is_(None), SUBS.c.lease_until < now]
    if owner is not None:
        free.append(SUBS.c.lease_owner == owner)
    return [SUBS.c.deleted_at.is_(None), or_(*free), or_(SUBS.c.retry_at.is_(None), SUBS.c.retry_at <= now),
            exists().where(DELIVERIES.c.subscription_id == SUBS.c.id, DELIVERIES.c.status == "pending"),
            *([SUBS.c.id.not_in(list(held))] if held else [])]


def claimable(conn: Connection, now: datetime, owner: str | None = None, held: Sequence[int] = ()) -> bool:
    """Whether ``claim`` would find something (a read, without locks)."""
    return conn.execute(select(SUBS.c.id).where(*_due(now, owner, held)).limit(1)).first() is not None


def claim(conn: Connection, owner: str, now: datetime, lease_seconds: float, limit: int,
          held: Sequence[int] = ()) -> list[int]:
    """Lease up to ``limit`` subscriptions that have pending deliveries, are not leased by a live worker
    other than ``owner`` (its own, outside ``held``, it takes back: a worker forgets its leases after a
    failed round) and are not waiting for a retry; returns their ids."""
    ids = conn.execute(
        select(SUBS.c.id).where(*_due(now, owner, held))
        .order_by(SUBS.c.lease_until.is_not(None), SUBS.c.id).limit(limit)
        .with_for_update(skip_locked=True, of=SUBS)).scalars().all()
    if ids:
        conn.execute(update(SUBS).where(SUBS.c.id.in_(ids))
                     .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds)))
    return list(ids)


def queue(conn: Connection, subscription_id: int, limit: int) -> list[dict]:
    """The subscription's pending deliveries in event order, with what sending them needs."""
    rows = conn.execute(
        select(DELIVERIES.c.id, DELIVERIES.c.attempts, DELIVERIES.c.event.label("event_row"), EVENTS.c.event_id,
               EVENTS.c.type, EVENTS.c.body, EVENTS.c.created_at.label("event_created_at"))
        .join(EVENTS, EVENTS.c.id == DELIVERIES.c.event)
        .where(DELIVERIES.c.subscription_id == subscription_id, DELIVERIES.c.status == "pending")
        .order_by(DELIVERIES.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


def renew(conn: Connection, subscription_id: int, owner: str, now: datetime, lease_seconds: float,
          retry_at: datetime | None = None) -> bool:
    """Extend the worker's lease (and set or clear the queue's retry time); False when it lost the lease
    (expired and taken, or the subscription deleted): the worker must stop delivering that queue."""
    done = conn.execute(update(SUBS).where(SUBS.c.id == subscription_id, SUBS.c.lease_owner == owner,
                                           SUBS.c.deleted_at.is_(None))
                        .values(lease_until=now + timedelta(seconds=lease_seconds), retry_at=retry_at))
    return done.rowcount == 1


def record(conn: Connection, outcomes: Sequence[Mapping]) -> None:
    """Write attempts' outcomes: each a delivery ``id`` with the columns it changes (status, attempts,
    last_attempt_at, last_status, last_error, next_attempt_at, delivered_at); only pending rows change."""
    for o in outcomes:
        conn.execute(update(DELIVERIES).where(DELIVERIES.c.id == o["id"], DELIVERIES.c.status == "pending")
                     .values({k: v for k, v in o.items() if k != "id"}))


def release(conn: Connection, subscription_ids: Sequence[int], owner: str) -> None:
    conn.execute(update(SUBS).where(SUBS.c.id.in_(list(subscription_ids)), SUBS.c.lease_owner == owner)
                 .values(lease_owner=None, lease_until=None))


def take_lock(conn: Connection, name: str, owner: str, now: datetime, seconds: float) -> bool:
    """Hold the named lock until ``now + seconds`` (taking it when free or expired, extending it when
    held already); False when another owner holds it."""
    until = now + timedelta(seconds=seconds)
    done = conn.execute(update(worker_locks).where(worker_locks.c.name == name,
                                                   or_(worker_locks.c.owner == owner, worker_locks.c.expires_at < now))
                        .values(owner=owner, expires_at=until))
    if done.rowcount == 1:
        return True
    if conn.execute(select(worker_locks.c.name).where(worker_locks.c.name == name)).first() is not None:
        return False
    conn.execute(worker_locks.insert().values(name=name, owner=owner, expires_at=until))
    return True


def drop_lock(conn: Connection, name: str, owner: str) -> None:
    conn.execute(worker_locks.delete().where(and_(worker_locks.c.name == name, worker_locks.c.owner == owner)))


def backlog(conn: Connection) -> dict[str, int]:
    """Pending deliveries of live subscriptions, and dead ones (for readiness details and the worker's log)."""
    rows = conn.execute(select(DELIVERIES.c.status, func.count()).join(SUBS, SUBS.c.id == DELIVERIES.c.subscription_id)
                        .where(SUBS.c.deleted_at.is_(None), DELIVERIES.c.status.in_(("pending", "dead")))
                        .group_by(DELIVERIES.c.status))
    out = {"pending": 0, "dead": 0}
    out.update({s: int(n) for s, n in rows})
    return out


__all__ = ["add", "backlog", "claim", "claimable", "drop_lock", "queue", "record", "release", "renew", "take_lock"]
