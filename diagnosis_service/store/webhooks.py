"""Webhook subscriptions and their delivery log: rows in, rows out.

A subscription's signing secret is never stored: the row keeps a random salt, and the layer above
derives the secret from it and the service's key (so a copy of the database alone signs nothing).
Deleting a subscription keeps its row and its log (``deleted_at``) and cancels what it had not yet
delivered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from .schema import webhook_deliveries, webhook_events, webhook_subscriptions

STATUSES = ("pending", "delivered", "dead", "cancelled")


def clock() -> datetime:
    """UTC without tzinfo, to the microsecond (retries and leases are shorter than a second in tests)."""
    return datetime.now(UTC).replace(tzinfo=None)


def create(conn: Connection, *, url: str, salt: str, events: Sequence[str], street: str | None,
           branches: Sequence[str] | None, description: str, created_by: str) -> int:
    return int(conn.execute(webhook_subscriptions.insert().values(
        url=url, salt=salt, events=json.dumps(list(events)), street=street,
        branches=None if branches is None else json.dumps(list(branches)), description=description,
        created_by=created_by, created_at=clock().replace(microsecond=0))).inserted_primary_key[0])


def _row(r) -> dict:
    out = dict(r._mapping)
    out["events"] = json.loads(out["events"])
    out["branches"] = None if out["branches"] is None else json.loads(out["branches"])
    return out


def active(conn: Connection) -> list[dict]:
    """Every subscription not deleted, by id (what an emitted event is matched against)."""
    rows = conn.execute(select(webhook_subscriptions).where(webhook_subscriptions.c.deleted_at.is_(None))
                        .order_by(webhook_subscriptions.c.id))
    return [_row(r) for r in rows]


def get(conn: Connection, subscription_id: int) -> dict | None:
    r = conn.execute(select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id,
                                                         webhook_subscriptions.c.deleted_at.is_(None))).first()
    return None if r is None else _row(r)


def counts(conn: Connection, subscription_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """subscription id -> deliveries by status."""
    out: dict[int, dict[str, int]] = {s: dict.fromkeys(STATUSES, 0) for s in subscription_ids}
    if not subscription_ids:
        return out
    d = webhook_deliveries
    for sid, status, n in conn.execute(select(d.c.subscription_id, d.c.status, func.count())
                                       .where(d.c.subscription_id.in_(list(subscription_ids)))
                                       .group_by(d.c.subscription_id, d.c.status)):
        out[sid][status] = n
    return out


def delete(conn: Connection, subscription_id: int) -> int:
    """Mark the subscription deleted and cancel its pending deliveries; returns how many were cancelled."""
    conn.execute(update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
                 .values(deleted_at=clock().replace(microsecond=0), lease_owner=None, lease_until=None))
    done = conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.subscription_id == subscription_id,
                                                         webhook_deliveries.c.status == "pending")
                        .values(status="cancelled", last_error="the subscription was deleted"))
    return int(done.rowcount)


def set_salt(conn: Connection, subscription_id: int, salt: str) -> None:
    conn.execute(update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id).values(salt=salt))


_DELIVERY_COLUMNS = (webhook_deliveries.c.id, webhook_events.c.event_id, webhook_events.c.type,
                     webhook_deliveries.c.status, webhook_deliveries.c.attempts, webhook_deliveries.c.next_attempt_at,
                     webhook_deliveries.c.last_attempt_at, webhook_deliveries.c.last_status,
                     webhook_deliveries.c.last_error, webhook_deliveries.c.delivered_at,
                     webhook_deliveries.c.redelivery_of, webhook_deliveries.c.created_at)


def deliveries(conn: Connection, subscription_id: int, status: str | None, limit: int, offset: int,
               newest_first: bool = True) -> tuple[int, list[dict]]:
    """(total, page) of a subscription's deliveries, with their event's id and type."""
    d = webhook_deliveries
    cond = [d.c.subscription_id == subscription_id] + ([] if status is None else [d.c.status == status])
    total = conn.execute(select(func.count()).select_from(d).where(*cond)).scalar_one()
    rows = conn.execute(select(*_DELIVERY_COLUMNS).join(webhook_events, webhook_events.c.id == d.c.event)
                        .where(*cond).order_by(d.c.id.desc() if newest_first else d.c.id)
                        .limit(limit).offset(offset))
    return int(total), [dict(r._mapping) for r in rows]


def delivery(conn: Connection, subscription_id: int, delivery_id: int) -> dict | None:
    d = webhook_deliveries
    r = conn.execute(select(*_DELIVERY_COLUMNS, d.c.event.label("event_row"))
                     .join(webhook_events, webhook_events.c.id == d.c.event)
                     .where(d.c.id == delivery_id, d.c.subscription_id == subscription_id)).first()
    return None if r is None else dict(r._mapping)


def redeliver(conn: Connection, subscription_id: int, delivery_id: int, event_row: int) -> int:
    """A new pending delivery of the same event at the end of the subscription's queue (the log keeps
    the old one as it was)."""
    now = clock()
    return int(conn.execute(webhook_deliveries.insert().values(
        subscription_id=subscription_id, event=event_row, status="pending", attempts=0, next_attempt_at=now,
        redelivery_of=delivery_id, created_at=now)).inserted_primary_key[0])


__all__ = ["STATUSES", "active", "clock", "counts", "create", "delete", "deliveries", "delivery", "get", "redeliver",
           "set_salt"]
