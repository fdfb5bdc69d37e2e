"""Webhook subscriptions (admin): create with a target checked against the allow-list, list, delete,
rotate the secret; the delivery log and redelivery.

A target's host must match ``WEBHOOK_ALLOWED_HOSTS`` (``host``, ``host:port`` or ``*.domain``), checked
when the subscription is made and again before every delivery, so the service cannot be pointed at
internal addresses by whoever holds an admin token.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection, Engine

from ..data.text import id_problem, text_problem
from ..errors import Conflict, InputError, NotFound, Problem, did_you_mean, unknown_fields
from ..store import metrics as metrics_store
from ..store import webhooks as webhooks_store
from .common import in_transaction
from .notify import EVENT_TYPES, iso
from .signing import subscription_secret

FIELDS = ("url", "events", "street", "branches", "description")
MAX_URL = 2000
MAX_BRANCHES = 1000
MAX_DESCRIPTION = 200


def host_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether the URL's host (and port) matches one of the allow-list's patterns."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    for pattern in allowed:
        name, want_port = _split_pattern(pattern)
        if want_port and str(port) != want_port:
            continue
        if host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def _split_pattern(pattern: str) -> tuple[str, str]:
    """(host, port or '') of ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    if pattern.startswith("["):
        name, _, rest = pattern[1:].partition("]")
        return name, rest.lstrip(":")
    name, _, port = pattern.partition(":")
    return name, port


def url_problems(url: object, allowed: Sequence[str]) -> list[Problem]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable() or " " in url:
        return [Problem(f"url must be an http(s) URL of at most {MAX_URL} characters", field=("url",))]
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:  # 0 is no port a receiver listens on
        return [Problem(f"url has a bad port: {url[:200]!r}", field=("url",), suggestion="a port from 1 to 65535")]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Problem(f"url must start with http:// or https:// and name a host, got {url[:200]!r}", field=("url",))]
    if parts.username or parts.password or parts.fragment:
        return [Problem("url may not carry a user name, password or #fragment", field=("url",),
                        suggestion="receivers authenticate deliveries by their X-Signature")]
    if not host_allowed(url, allowed):
        hint = ("allowed: " + ", ".join(allowed)) if allowed else \
            "no host is allowed: an operator lists receivers in WEBHOOK_ALLOWED_HOSTS (e.g. receiver.example.org)"
        return [Problem(f"host '{parts.hostname}' is not in WEBHOOK_ALLOWED_HOSTS"[:200], field=("url",),
                        suggestion=hint)]
    return []


def check_subscription(conn: Connection, body: object, allowed: Sequence[str]) -> dict:
    """The fields of a new subscription, or InputError naming every bad one."""
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: url, events[, street | branches][, description]",
                                 field=()))
    problems = unknown_fields(body, FIELDS)
    problems += url_problems(body.get("url"), allowed)
    events = body.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        problems.append(Problem("events must be a non-empty list of event types", field=("events",),
                                suggestion="types: " + ", ".join(EVENT_TYPES)))
    else:
        for i, e in enumerate(events):
            if e not in EVENT_TYPES:
                guess = did_you_mean(e, EVENT_TYPES)
                problems.append(Problem(f"unknown event type {e!r}"[:200], field=("events", i),
                                        suggestion=f"did you mean {guess}?" if guess else "types: " + ", ".join(EVENT_TYPES)))
        if len(set(events)) != len(events):
            problems.append(Problem("events lists a type twice", field=("events",)))
    street, branches = body.get("street"), body.get("branches")
    if street is not None and branches is not None:
        problems.append(Problem("give street or branches, not both", field=("branches",)))
    if street is not None:
        if not isinstance(street, str) or text_problem(street, 100):
            problems.append(Problem("street must be a street's name", field=("street",)))
        elif street not in metrics_store.streets(conn):
            known = metrics_store.streets(conn)
            guess = did_you_mean(street, known)
            problems.append(Problem(f"no branch is in street '{street}'"[:200], field=("street",),
                                    suggestion=f"did you mean {guess}?" if guess else "streets: " + ", ".join(known[:20])))
    if branches is not None:
        if not isinstance(branches, list) or not 1 <= len(branches) <= MAX_BRANCHES:
            problems.append(Problem(f"branches must be a list of 1 to {MAX_BRANCHES} branch ids", field=("branches",)))
        else:
            bad = [i for i, b in enumerate(branches) if id_problem(b)]
            problems += [Problem("not a branch id", field=("branches", i)) for i in bad[:20]]
            if not bad:
                known = set(metrics_store.known_ids(conn, "branch", branches))
                problems += [Problem(f"unknown branch '{b}'", field=("branches", i))
                             for i, b in enumerate(branches) if b not in known][:20]
                branches = sorted(set(branches))
    description = body.get("description", "")
    if not isinstance(description, str) or text_problem(description, MAX_DESCRIPTION):
        problems.append(Problem(f"description must be text of at most {MAX_DESCRIPTION} characters",
                                field=("description",)))
    if problems:
        raise InputError(problems)
    return {"url": body["url"], "events": list(events), "street": street, "branches": branches,
            "description": description}


def subscription_json(row: Mapping, counts: Mapping[str, int] | None = None) -> dict:
    out = {k: row[k] for k in ("id", "url", "events", "street", "branches", "description", "created_by")}
    out["created_at"] = iso(row["created_at"])
    out["retry_at"] = iso(row["retry_at"]) if row.get("retry_at") else None
    if counts is not None:
        out["deliveries"] = dict(counts)
    return out


def create(engine: Engine, body: object, actor: str, allowed: Sequence[str], service_key: str) -> dict:
    """POST /v1/webhooks: the subscription, with its signing secret (shown this once)."""
    def step(conn: Connection) -> dict:
        fields = check_subscription(conn, body, allowed)
        salt = secrets.token_hex(16)
        sid = webhooks_store.create(conn, salt=salt, created_by=actor, **fields)
        return {**subscription_json(webhooks_store.get(conn, sid)), "secret": subscription_secret(service_key, salt)}

    return in_transaction(engine, step)


def _get(conn: Connection, subscription_id: int) -> dict:
    row = webhooks_store.get(conn, subscription_id)
    if row is None:
        raise NotFound(Problem(f"no webhook subscription {subscription_id}", field=("id",),
                               suggestion="GET /v1/webhooks lists them"))
    return row


def listing(conn: Connection) -> dict:
    rows = webhooks_store.active(conn)
    counts = webhooks_store.counts(conn, [r["id"] for r in rows])
    return {"count": len(rows), "webhooks": [subscription_json(r, counts[r["id"]]) for r in rows]}


def one(conn: Connection, subscription_id: int) -> dict:
    row = _get(conn, subscription_id)
    return subscription_json(row, webhooks_store.counts(conn, [row["id"]])[row["id"]])


def delete(engine: Engine, subscription_id: int) -> dict:
    def step(conn: Connection) -> dict:
        _get(conn, subscription_id)
        return {"id": subscription_id, "deleted": True, "cancelled": webhooks_store.delete(conn, subscription_id)}

    return in_transaction(engine, step)


def rotate_secret(engine: Engine, subscription_id: int, service_key: str) -> dict:
    """A new signing secret (shown this once); deliveries signed from now on use it."""
    def step(conn: Connection) -> dict:
        _get(conn, subscription_id)
        salt = secrets.token_hex(16)
        webhooks_store.set_salt(conn, subscription_id, salt)
        return {"id": subscription_id, "secret": subscription_secret(service_key, salt)}

    return in_transaction(engine, step)


def delivery_json(row: Mapping) -> dict:
    out = dict(row)
    out.pop("event_row", None)
    for k in ("last_attempt_at", "delivered_at", "created_at", "next_attempt_at"):
        out[k] = iso(out[k]) if out.get(k) else None
    if out["status"] != "pending":
        out["next_attempt_at"] = None
    return out


def deliveries(conn: Connection, subscription_id: int, status: str | None, limit: int, offset: int) -> dict:
    """GET /v1/webhooks/{id}/deliveries: newest first, with status, attempts, last error and next try."""
    _get(conn, subscription_id)
    total, rows = webhooks_store.deliveries(conn, subscription_id, status, limit, offset)
    return {"subscription_id": subscription_id, "total": total, "limit": limit, "offset": offset,
            "deliveries": [delivery_json(r) for r in rows]}


def redeliver(engine: Engine, subscription_id: int, delivery_id: int) -> dict:
    """POST .../deliveries/{d}/redeliver: the event again, as a new delivery at the end of the queue."""
    def step(conn: Connection) -> dict:
        _get(conn, subscription_id)
        old = webhooks_store.delivery(conn, subscription_id, delivery_id)
        if old is None:
            raise NotFound(Problem(f"no delivery {delivery_id} of webhook subscription {subscription_id}",
                                   field=("delivery_id",)))
        if old["status"] == "pending":
            raise Conflict(Problem(f"delivery {delivery_id} is still pending: it will be tried again by itself",
                                   field=("delivery_id",)))
        new_id = webhooks_store.redeliver(conn, subscription_id, delivery_id, old["event_row"])
        return delivery_json(webhooks_store.delivery(conn, subscription_id, new_id))

    return in_transaction(engine, step)


__all__ = ["check_subscription", "create", "delete", "deliveries", "delivery_json", "host_allowed", "listing", "one",
           "redeliver", "rotate_secret", "subscription_json", "url_problems"]
