"""The delivery worker: sends the outbox's deliveries to the subscribers, at least once and in order.

A round leases a few subscriptions with something pending (``store.outbox.claim``), sends each one's
queue in event order and writes every attempt's outcome before the next, renewing the lease as it
goes. 2xx is delivered; anything else (an HTTP error, a refused or timed-out connection, a redirect)
is retried after an exponential backoff with jitter, holding the subscription's later events back so
that they keep their order, until ``max_attempts``: then the delivery is dead-lettered and the queue
moves on. A worker that dies mid-send loses its lease after ``lease`` seconds and the next worker sends
again what was not marked: the receiver de-duplicates by ``X-Event-Id``.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from .. import __version__
from ..errors import StoreError
from ..store import outbox as outbox_store
from ..store import webhooks as webhooks_store
from ..store.connect import sqlite_write_turn
from .common import in_transaction
from .signing import sign, subscription_secret
from .webhooks import host_allowed

log = logging.getLogger("diagnosis_service.deliver")
SQLITE_LOCK = "webhook-delivery"
MAX_ERROR = 500  # characters of a failure kept in the delivery log
MAX_RESPONSE = 64 * 1024  # bytes of a receiver's answer read (the rest is not waited for)
FLUSH_EVERY = 50  # deliveries whose outcomes are written in one transaction ...
FLUSH_SECONDS = 0.5  # ... or after this long
MAX_PAUSE = 30.0  # seconds at most between two tries of a worker whose rounds fail (the database is down)
LOCK_WAIT_MS = 10  # milliseconds the worker waits for SQLite's write lock before it tries again


@dataclass(frozen=True)
class DeliveryConfig:
    service_key: str
    allowed_hosts: tuple[str, ...]
    max_attempts: int = 12
    retry_base: float = 10.0
    retry_max: float = 3600.0
    timeout: float = 5.0
    lease: float = 60.0
    poll: float = 0.2
    batch: int = 200  # deliveries of one subscription sent per lease round
    claim: int = 4  # subscriptions leased per round

    @classmethod
    def from_settings(cls, settings, **changes) -> DeliveryConfig:
        """The settings' values; ``changes`` override some (tests, benchmarks)."""
        values = {"service_key": settings.secret(), "allowed_hosts": settings.webhook_allowed_hosts,
                  "max_attempts": settings.webhook_max_attempts, "retry_base": settings.webhook_retry_base,
                  "retry_max": settings.webhook_retry_max, "timeout": settings.webhook_timeout,
                  "lease": settings.webhook_lease, "poll": settings.webhook_poll}
        return cls(**(values | changes))

    def backoff(self, delivery_id: int, attempts: int) -> float:
        """Seconds before the next attempt: doubling from ``retry_base``, capped, with "equal jitter"
        (half fixed, half random) seeded by the delivery and attempt, so a run is reproducible."""
        ceiling = min(self.retry_max, self.retry_base * 2 ** min(attempts - 1, 40))
        return ceiling / 2 + random.Random(f"{delivery_id}:{attempts}").uniform(0, ceiling / 2)  # noqa: S311 -- timing, not secrets


@dataclass
class Stats:
    attempts: int = 0
    delivered: int = 0
    failed: int = 0  # attempts that will be retried
    dead: int = 0
    rounds: int = 0
    errors: list[str] = field(default_factory=list)


class Sender:
    """POSTs over kept-alive connections (one per scheme, host and port); never follows redirects."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        """(HTTP status, None) when the receiver answered, (None, why) when it could not be reached."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for fresh in (False, True):  # a kept-alive connection the receiver closed meanwhile: once more, anew
            conn = self.connections.get(key)
            if conn is None or fresh:
                self.close(key)
                conn = self._open(*key)
                self.connections[key] = conn
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read(MAX_RESPONSE)
                if response.will_close or not response.isclosed():
                    self.close(key)
                return response.status, None if 200 <= response.status < 300 else \
                    f"HTTP {response.status}: {answer[:200].decode('utf-8', 'replace')}"
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close(key)
                if fresh:
                    return None, f"{exc.__class__.__name__}: {exc}"
            except (OSError, http.client.HTTPException) as exc:
                self.close(key)
                kind = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else exc.__class__.__name__
                return None, f"{kind}: {exc}"
        return None, "no answer"

    def _open(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def close(self, key=None) -> None:
        for k in ([key] if key is not None else list(self.connections)):
            conn = self.connections.pop(k, None)
            if conn is not None:
                conn.close()


class Worker:
    """One delivery worker; ``run`` until stopped, or ``round`` at a time."""

    def __init__(self, engine: Engine, config: DeliveryConfig, owner: str | None = None):
        self.engine = engine
        self.config = config
        self.owner = owner or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sender = Sender(config.timeout)
        self.stats = Stats()
        self.sqlite = engine.dialect.name == "sqlite"
        self.stop = threading.Event()
        self.held: list[int] = []  # subscriptions leased now
        self.deadline: float | None = None  # monotonic time ``run`` stops at, a round under way included
        self.lock_renewed = 0.0  # when the SQLite lock was last taken or renewed (monotonic)

    def run(self, max_seconds: float | None = None, until_idle: bool = False,
            report: Callable[[Stats], None] | None = None) -> Stats:
        """Deliver until ``stop`` is set, ``max_seconds`` have passed or (``until_idle``) nothing is pending.
        Past ``max_seconds`` a round under way stops too, after the send in flight (at most the
        receiver's timeout): its outcomes are written and its leases given back."""
        deadline = self.deadline = None if max_seconds is None else time.monotonic() + max_seconds
        waiting_logged = False
        failures = 0
        try:
            while not self._stopping():
                try:
                    if self.sqlite and not self._hold_sqlite_lock():
                        if not waiting_logged:
                            log.info("another worker delivers on this SQLite database; waiting for its lock")
                            waiting_logged = True
                        self.stop.wait(self.config.poll * 5)
                        continue
                    sent = self.round()
                    if report is not None and sent:
                        report(self.stats)
                    if not sent:
                        if until_idle and self.backlog()["pending"] == 0:
                            break
                        self.stop.wait(self.config.poll)
                    if failures:
                        log.info("webhook delivery: going on after %d failed round(s)", failures)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 -- a worker rides out an outage (or a bug): it never dies
                    failures += 1
                    # Its leases may run out while it waits and another worker take those queues: it claims
                    # afresh (its own, not taken meanwhile, it takes back at once: ``outbox.claim``).
                    self.held = []
                    pause = min(MAX_PAUSE, self.config.poll * 2 ** min(failures, 10))
                    if deadline is not None:
                        pause = max(0.0, min(pause, deadline - time.monotonic()))
                    if isinstance(exc, DBAPIError | StoreError):
                        log.warning("webhook delivery: the database failed (%s: %s); trying again in %.1f s",
                                    exc.__class__.__name__, _first_line(exc), pause)
                    else:
                        log.exception("webhook delivery: a round failed; trying again in %.1f s", pause)
                    self.stop.wait(pause)
        finally:
            self.sender.close()
            self.deadline = None  # a later ``round`` is not bound by this run's time
            try:
                self._release(self.held)
                if self.sqlite:
                    self._tx(lambda c: outbox_store.drop_lock(c, SQLITE_LOCK, self.owner))
            except Exception as exc:  # noqa: BLE001 -- stopping in an outage: the leases run out by themselves
                log.warning("webhook delivery: could not give back its leases (%s: %s); they run out in %s s",
                            exc.__class__.__name__, _first_line(exc), self.config.lease)
        return self.stats

    def _stopping(self) -> bool:
        return self.stop.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline)

    def _tx(self, step):
        """``step(conn)`` in a write transaction. On SQLite the worker takes its turn among this process's
        writers (``sqlite_write_turn``); for writers of other processes it does not wait out the long
        busy timeout, whose sleeps grow to 100 ms so that a steady stream of event transactions starves
        it: it waits at most ``LOCK_WAIT_MS`` at a time (SQLite's handler looks at 1, 3, 8 ms) and tries
        again, so a delivery waits for about one event's transaction, not for a dozen."""
        if not self.sqlite:
            return in_transaction(self.engine, step)
        deadline = time.monotonic() + max(5.0, self.config.lease / 2)
        with self.engine.connect() as conn:
            before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
            conn.commit()
            try:
                while True:
                    try:
                        wait = max(0.0, deadline - time.monotonic())
                        with sqlite_write_turn(self.engine, wait), conn.begin():
                            conn.exec_driver_sql("BEGIN IMMEDIATE")
                            return step(conn)
                    except OperationalError as exc:
                        if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                            raise
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before)}")
                conn.commit()

    def backlog(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return outbox_store.backlog(conn)

    def _hold_sqlite_lock(self) -> bool:
        """Take or renew the single-worker lock when a third of its time has gone (not at every poll:
        each renewal is a write, and SQLite has one writer at a time)."""
        if time.monotonic() - self.lock_renewed < self.config.lease / 3:
            return True
        held = self._tx(lambda c: outbox_store.take_lock(
            c, SQLITE_LOCK, self.owner, webhooks_store.clock(), self.config.lease))
        if held:
            self.lock_renewed = time.monotonic()
        return held

    def round(self) -> int:
        """Lease subscriptions with pending deliveries (up to ``claim``, keeping those it holds while their
        queues have more), send their queues; returns the attempts made."""
        self.stats.rounds += 1
        if len(self.held) < self.config.claim:
            with self.engine.connect() as conn:  # a read first: an idle poll takes no lock
                found = outbox_store.claimable(conn, webhooks_store.clock(), self.owner, self.held)
            if found:
                self.held += self._tx(lambda c: outbox_store.claim(
                    c, self.owner, webhooks_store.clock(), self.config.lease, self.config.claim - len(self.held),
                    self.held))
        before = self.stats.attempts
        done: list[int] = []
        try:
            for sid in list(self.held):
                if self._stopping():
                    break
                if not self._send_queue(sid):
                    done.append(sid)
        finally:
            self._release(self.held if self._stopping() else done)
        return self.stats.attempts - before

    def _release(self, ids: list[int]) -> None:
        ids = list(ids)
        if ids:
            self._tx(lambda c: outbox_store.release(c, ids, self.owner))
            self.held = [s for s in self.held if s not in ids]

    def _send_queue(self, subscription_id: int) -> bool:
        """Send what the subscription's queue holds now; True when the worker should keep its lease (it
        sent everything it read and more may follow), False when the queue was empty, waits for a retry,
        or the lease was lost."""
        with self.engine.connect() as conn:
            sub = webhooks_store.get(conn, subscription_id)
            items = outbox_store.queue(conn, subscription_id, self.config.batch) if sub else []
        if not items:
            return False
        secret = subscription_secret(self.config.service_key, sub["salt"])
        # Outcomes are written a batch at a time (one transaction per FLUSH_EVERY deliveries or seconds, and
        # at once on a failure): on SQLite every write waits for the one write lock that the event path
        # holds most of the time. A worker that dies re-sends at most the batch it had not written.
        outcomes: list[dict] = []
        written = time.monotonic()
        for item in items:
            if self._stopping():
                break
            outcome, retry_at = self._attempt(sub, secret, item)
            outcomes.append(outcome)
            if retry_at is not None or len(outcomes) >= FLUSH_EVERY or \
                    time.monotonic() - written > min(FLUSH_SECONDS, self.config.lease / 3):
                if not self._write(subscription_id, outcomes, retry_at):
                    return False
                outcomes, written = [], time.monotonic()
            if retry_at is not None:
                return False  # its later events wait: they keep their order
        return self._write(subscription_id, outcomes, None) if outcomes else not self._stopping()

    def _write(self, subscription_id: int, outcomes: list[dict], retry_at) -> bool:
        """Record outcomes if this worker still holds the subscription's lease (renewing it)."""
        def write(conn) -> bool:
            now = webhooks_store.clock()
            if not outbox_store.renew(conn, subscription_id, self.owner, now, self.config.lease, retry_at):
                return False
            if self.sqlite:  # a long queue must not let the single-worker lock run out meanwhile
                outbox_store.take_lock(conn, SQLITE_LOCK, self.owner, now, self.config.lease)
                self.lock_renewed = time.monotonic()
            outbox_store.record(conn, outcomes)
            return True

        if self._tx(write):
            return True
        log.warning("lost the lease of subscription %s (deleted, or this worker was too slow); stopping it",
                    subscription_id)
        return False

    def _attempt(self, sub: dict, secret: str, item: dict) -> tuple[dict, object]:
        body = item["body"].encode("utf-8")
        attempts = item["attempts"] + 1
        if host_allowed(sub["url"], self.config.allowed_hosts):
            timestamp = int(time.time())
            status, error = self.sender.post(sub["url"], body, {
                "Content-Type": "application/json; charset=utf-8", "User-Agent": f"diagnosis-service/{__version__}",
                "X-Event-Id": item["event_id"], "X-Event-Type": item["type"], "X-Timestamp": str(timestamp),
                "X-Signature": sign(secret, timestamp, body), "X-Subscription-Id": str(sub["id"]),
                "X-Delivery-Id": str(item["id"]),
                "X-Delivery-Attempt": str(attempts)})
        else:
            status, error = None, "the target's host is no longer in WEBHOOK_ALLOWED_HOSTS"
            attempts = max(attempts, self.config.max_attempts)
        now = webhooks_store.clock()
        self.stats.attempts += 1
        outcome = {"id": item["id"], "attempts": attempts, "last_attempt_at": now, "last_status": status,
                   "last_error": None if error is None else error[:MAX_ERROR]}
        if error is None:
            self.stats.delivered += 1
            return outcome | {"status": "delivered", "delivered_at": now}, None
        if attempts >= self.config.max_attempts:
            self.stats.dead += 1
            log.warning("delivery %s of event %s to subscription %s is dead after %d attempts: %s", item["id"],
                        item["event_id"], sub["id"], attempts, error[:200])
            return outcome | {"status": "dead"}, None
        self.stats.failed += 1
        wait = self.config.backoff(item["id"], attempts)
        log.info("delivery %s to subscription %s failed (attempt %d, next in %.1f s): %s", item["id"], sub["id"],
                 attempts, wait, error[:200])
        next_at = now + timedelta(seconds=wait)
        return outcome | {"next_attempt_at": next_at}, next_at




def _first_line(exc: BaseException) -> str:
    """The first line of an error's message, short (a driver's message runs over several lines)."""
    text = str(exc)
    return text.splitlines()[0][:200] if text else ""

__all__ = ["DeliveryConfig", "Sender", "Stats", "Worker"]
