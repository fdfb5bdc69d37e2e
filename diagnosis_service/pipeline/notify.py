"""Notify: the events a change causes, written to the outbox in the change's own transaction.

A change (an event's re-evaluation, a period's diagnosis, a rule publish) opens an ``Outbox`` on its
connection, adds what happened and flushes before it commits: the events commit or roll back with the
change. Nothing is written when no live subscription wants an event, so the outbox costs nothing to a
district without subscribers. The delivery worker (``deliver``) sends what was written.

Event types and their ``data`` (JSON Schemas in ``/openapi.json`` under ``webhooks``):

- ``lamp.changed``: a subject's lamp for a period differs from the one the store held for it before
  (for a period diagnosed the first time: the previous period's); ``push`` when it turned red.
- ``reminder.due``: a branch has a reminder it did not have before (the lamp-change feed's rule).
- ``diagnosis.completed``: a period was diagnosed (counts of subjects and lamps).
- ``rules.published``: a rule-set version was published or activated (a rollback).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy.engine import Connection

from ..engine.findings import SubjectResult
from ..periods import parse_period, period_str
from ..store import outbox as outbox_store
from ..store import results as results_store
from ..store import webhooks as webhooks_store

EVENT_TYPES = ("lamp.changed", "reminder.due", "diagnosis.completed", "rules.published")


def iso(moment) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


class Outbox:
    """The events of one transaction, matched against the live subscriptions when added."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.subscriptions = webhooks_store.active(conn)
        self.events: list[dict] = []
        self.targets: list[list[int]] = []

    def wants(self, kind: str) -> bool:
        return any(kind in s["events"] for s in self.subscriptions)

    def add(self, kind: str, data: Mapping, *, street: str | None = None, branch_id: str | None = None) -> None:
        """One event; ``street``/``branch_id`` say whose it is (subscriptions scoped to a street or to
        branches get only theirs; an event of neither is the district's and goes to every subscriber)."""
        targets = [s["id"] for s in self.subscriptions if kind in s["events"] and _in_scope(s, street, branch_id)]
        if not targets:
            return
        event_id = "evt_" + uuid.uuid4().hex
        body = {"id": event_id, "type": kind, "created_at": iso(webhooks_store.clock()), "data": dict(data)}
        self.events.append({"event_id": event_id, "type": kind, "street": street, "branch_id": branch_id,
                            "body": json.dumps(body, ensure_ascii=False, separators=(",", ":"))})
        self.targets.append(targets)

    def flush(self) -> int:
        """Write what was added (in the caller's transaction); returns the number of deliveries queued."""
        if not self.events:
            return 0
        count = outbox_store.add(self.conn, self.events, self.targets, webhooks_store.clock())
        self.events, self.targets = [], []
        return count


def _in_scope(subscription: Mapping, street: str | None, branch_id: str | None) -> bool:
    if street is None and branch_id is None:
        return True
    if subscription["street"] is not None and subscription["street"] != street:
        return False
    return subscription["branches"] is None or branch_id in subscription["branches"]


def lamp_changed(outbox: Outbox, *, subject: str, sid: str, branch_id: str | None, street: str | None, period: str,
                 before: str | None, after: str, source: str) -> None:
    outbox.add("lamp.changed", {"subject": subject, "id": sid, "branch_id": branch_id, "street": street,
                                "period": period, "from": before, "to": after,
                                "push": after == "red" and before != "red", "source": source},
               street=street, branch_id=branch_id)


def reminders_due(outbox: Outbox, *, branch_id: str, street: str | None, period: str, findings: Iterable[Mapping],
                  before: Iterable[str]) -> None:
    """A ``reminder.due`` for each reminder finding of the branch whose rule was not reminded ``before``."""
    seen = set(before)
    for f in sorted((f for f in findings if f.get("severity") == "reminder"), key=lambda f: f["rule"]):
        if f["rule"] not in seen:
            outbox.add("reminder.due", {"branch_id": branch_id, "street": street, "period": period, "rule": f["rule"],
                                        "topic": f["topic"], "message_zh": f["message_zh"],
                                        "message_en": f["message_en"]}, street=street, branch_id=branch_id)


def reminder_rules(body: Mapping | None) -> set[str]:
    """The rules a stored branch result reminds of."""
    return {f["rule"] for f in (body or {}).get("findings", []) if f.get("severity") == "reminder"}


def diagnosis_changes(outbox: Outbox, period: str, branches: Sequence[SubjectResult], members: Sequence[SubjectResult],
                      streets: Mapping[str, str]) -> None:
    """A period's lamp changes against what the store holds (read here: call it before the new results
    replace the stored ones) and its new reminders."""
    conn = outbox.conn
    if outbox.wants("lamp.changed") or outbox.wants("reminder.due"):
        stored = results_store.lamps_of(conn, period)
        previous = period if stored else period_str(parse_period(period) - 1)
        if not stored:
            stored = results_store.lamps_of(conn, previous)
        if outbox.wants("lamp.changed"):
            for r in (*branches, *members):
                branch_id = r.id if r.subject == "branch" else r.branch_id
                before = stored.get((r.subject, r.id), (None, None))[1]
                if before != r.lamp:
                    lamp_changed(outbox, subject=r.subject, sid=r.id, branch_id=branch_id,
                                 street=streets.get(branch_id or ""), period=period, before=before, after=r.lamp,
                                 source="diagnosis")
        if outbox.wants("reminder.due"):
            reminded = {sid: reminder_rules(json.loads(body)) for sid, *_, body in results_store.period_rows(
                conn, previous, "branch")}
            for r in branches:
                reminders_due(outbox, branch_id=r.id, street=streets.get(r.id), period=period,
                              findings=[f.as_dict() for f in r.findings], before=reminded.get(r.id, ()))


MODEL_FIELDS = ("state", "candidate", "promoted")  # of what the model's routine did, what a platform is told


def diagnosis_completed(outbox: Outbox, period: str, run_id: int, rules_version: int | None,
                        branches: Sequence[SubjectResult], members: Sequence[SubjectResult],
                        model: Mapping | None = None) -> None:
    """``model``: what the service's monthly routine did before the month (its state, the candidate judged,
    the model promoted), so that a platform knows when the ranking of the month's lists changed."""
    lamps = {s: {c: sum(r.lamp == c for r in rs) for c in ("red", "yellow", "green")}
             for s, rs in (("branch", branches), ("member", members))}
    data = {"period": period, "run_id": run_id, "rules_version": rules_version, "branches": len(branches),
            "members": len(members), "lamps": lamps}
    if model:
        data["model"] = {k: model[k] for k in MODEL_FIELDS if model.get(k) is not None}
    outbox.add("diagnosis.completed", data)


def rules_changed(outbox: Outbox, *, action: str, version: int, digest: str, author: str, comment: str | None,
                  based_on: int | None) -> None:
    outbox.add("rules.published", {"action": action, "version": version, "digest": digest, "based_on": based_on,
                                   "author": author, "comment": comment})


__all__ = ["EVENT_TYPES", "Outbox", "diagnosis_changes", "diagnosis_completed", "lamp_changed", "reminder_rules", "reminders_due", "rules_changed"]
