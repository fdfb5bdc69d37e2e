"""Serving (and logging) prescriptions, and the feedback on them.

A list shown to a branch is logged item by item with its order, scores and the probability with which
it was chosen (what the effectiveness model and off-policy evaluation learn from); each item's body
is ``served_body``, which is also what a report built from a diagnosed month shows.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.engine import Connection

from ..data.text import id_problem, text_problem
from ..engine.findings import SubjectResult
from ..errors import InputError, NotFound, Problem, unknown_fields
from ..periods import check_period, months_before, parse_day, parse_period
from ..remedies.history import History
from ..remedies.prescribe import DEFAULT_REPEAT_MONTHS, Choice, Prescription
from ..remedies.ranking import REPEAT_WINDOW
from ..store import metrics as metrics_store
from ..store import results as results_store
from ..store import served as served_store
from .snapshot import Snapshot

MAX_NOTE = 2000


def served_body(p: Prescription, choice: Choice) -> dict:
    """One prescription as it is logged and shown: the JSON of ``diagnose``, the advice without the
    finding, and the need it answers (kept to measure the outcome)."""
    need = choice.need
    return {**p.as_dict(), "advice_zh": p.advice_zh, "advice_en": p.advice_en,
            "need": {"indicator": need.indicator, "value": need.value, "reference": need.reference,
                     "members": need.members, "severity": need.severity, "kinds": list(need.preferred_kinds)}}


def history_for(conn: Connection, branch_id: str, period: str,
                months: int = max(DEFAULT_REPEAT_MONTHS, REPEAT_WINDOW)) -> History:
    """What was served to the branch in the ``months`` months before ``period`` (the repeat filter reads
    the last DEFAULT_REPEAT_MONTHS of it; the ranker's repeat features REPEAT_WINDOW), and what of it the
    branch said it adopted."""
    history = History()
    periods = months_before(period, months, include=False)
    for served_period, topic, resource_id, first in served_store.served_in(conn, branch_id, periods):
        history.add(branch_id, served_period, topic, resource_id, first=first)
    for _, served_period, resource_id in served_store.adopted_in(conn, periods, branch_id):
        history.add_adopted(branch_id, parse_period(served_period), resource_id)
    return history


def choose_prescriptions(snapshot: Snapshot, conn: Connection, branch_id: str, period: str
                         ) -> tuple[dict, str, list[dict]]:
    """(the branch's stored result, the ranker's name, the items with their bodies) of the list the
    service would serve the branch for the month now: ranked, nothing logged (``serve_prescriptions``
    logs it; a supervisor's page shows it as a preview)."""
    check_period(period, "period")
    if id_problem(branch_id):
        raise InputError(Problem(f"branch_id {id_problem(branch_id)}", field=("branch_id",)))
    stored = results_store.result(conn, period, "branch", branch_id)
    info = metrics_store.branch(conn, branch_id)
    if stored is None:
        # Which of three: "diagnose first" told a platform that sent a wrong id to diagnose a month it had.
        if info is None:
            raise NotFound(Problem(f"no branch '{branch_id}'", field=("branch_id",),
                                   suggestion="a branch_id sent with a month's metrics "
                                              "(PUT /v1/periods/{period}/metrics, its branches)"))
        if results_store.latest_run(conn, period) is not None:
            raise NotFound(Problem(f"branch '{branch_id}' has no diagnosis for {period}: the month's diagnosis "
                                   f"had no metrics of it (sent later, or not at all)", field=("branch_id",),
                                   suggestion=f"PUT /v1/periods/{period}/metrics with the branch, then POST "
                                              f"/v1/diagnoses for {period} again"))
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", field=("branch_id",),
                               suggestion="POST /v1/diagnoses for the period first"))
    prescriber = snapshot.prescriber()
    info = info or {}
    size = len(results_store.branch_members(conn, period, branch_id))
    choices = prescriber.for_branch(SubjectResult.from_dict(stored), info.get("street"),
                                    history_for(conn, branch_id, period), size)
    items = []
    for c in choices:
        for p in c.prescriptions:
            # propensity: the probability with which this list was chosen (its first item's, when the
            # ranker explores; 1 for the deterministic prior).
            items.append({"topic": p.topic, "rule": p.rule, "resource_id": p.resource_id, "kind": p.resource.kind,
                          "score": float(p.score), "propensity": c.propensity, "body": served_body(p, c)})
    return stored, prescriber.ranker.name, items


def serve_prescriptions(snapshot: Snapshot, conn: Connection, branch_id: str, period: str, actor: str,
                        source: str = "api") -> dict:
    """POST /v1/prescriptions: rank, log what is shown (order, scores, probabilities), answer. The same
    list as the latest one served to the branch for the month is not logged again: the answer is that
    list (its ids) with ``"repeated": true``."""
    stored, ranker, items = choose_prescriptions(snapshot, conn, branch_id, period)
    again = served_store.same_as_latest(conn, branch_id, period, ranker, items, snapshot.catalog_version)
    list_id, ids = again or served_store.log_list(conn, branch_id, period, ranker, source, actor, items,
                                                  catalog_version=snapshot.catalog_version)
    return {"branch_id": branch_id, "period": period, "list_id": list_id, "ranker": ranker,
            "catalog_version": snapshot.catalog_version,
            "weaknesses": stored.get("weaknesses", []),
            "prescriptions": [{"prescription_id": pid, **{k: v for k, v in item["body"].items()
                                                          if k not in ("advice_zh", "advice_en", "need")}}
                              for pid, item in zip(ids, items, strict=True)],
            **({"repeated": True} if again else {})}


def served_prescription(conn: Connection, prescription_id: int) -> dict:
    """A served prescription's row (its branch says who may answer it); NotFound when there is none."""
    found = served_store.get(conn, prescription_id)
    if found is None:
        raise NotFound(Problem(f"no prescription {prescription_id}", field=("prescription_id",)))
    return found


def record_feedback(conn: Connection, prescription_id: int, body: object, actor: str,
                    today: date | None = None) -> dict:
    """adopted, declined or completed (with the day it was done, ``done_on``, when known), with an optional
    note, for a served prescription. The day may not be before the month diagnosed nor after tomorrow
    (a day of slack: the branch may be a time zone ahead of the server)."""
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: status, done_on, note", field=()))
    problems = unknown_fields(body, ("status", "done_on", "note"))
    status, note, done_on = body.get("status"), body.get("note"), body.get("done_on")
    if status not in served_store.STATUSES:
        problems.append(Problem(f"status is required: one of {', '.join(served_store.STATUSES)}" if status is None else
                                f"status must be one of {', '.join(served_store.STATUSES)}, got {status!r}"[:300],
                                field=("status",)))
    if note is not None and text_problem(note, MAX_NOTE, lines=True):
        problems.append(Problem(f"note {text_problem(note, MAX_NOTE, lines=True)}", field=("note",)))
    if done_on is not None:
        problems += _done_on_problems(conn, prescription_id, status, done_on, today or date.today())
    if problems:
        raise InputError(problems)
    last = served_store.last_feedback(conn, prescription_id)
    if last is not None and (last["status"], last["note"], last["done_on"]) == (status, note, done_on):
        # The same answer again (a double click, a retry after a lost response): nothing new to keep.
        fid, repeated = int(last["id"]), True
    else:
        fid, repeated = served_store.add_feedback(conn, prescription_id, status, note, actor, done_on), False
    out = {"feedback_id": fid, "prescription_id": prescription_id, "status": status}
    if repeated:
        out["repeated"] = True
    if done_on is not None:
        out["done_on"] = done_on
    return out


def _done_on_problems(conn: Connection, prescription_id: int, status: object, done_on: object,
                      today: date) -> list[Problem]:
    if status != "completed":
        return [Problem("done_on goes with status completed", field=("done_on",),
                        suggestion="leave done_on out, or send status completed")]
    day = parse_day(done_on)
    if day is None:
        return [Problem(f"done_on must be a date YYYY-MM-DD, got {done_on!r}"[:200], field=("done_on",))]
    row = served_store.get(conn, prescription_id)
    first = date(*(int(x) for x in row["period"].split("-")), 1) if row else None
    if day > today + timedelta(days=1):  # a day of slack: the branch may be a time zone ahead
        return [Problem(f"done_on {done_on} is in the future", field=("done_on",),
                        suggestion=f"a day up to {(today + timedelta(days=1)).isoformat()} (today, or tomorrow "
                                   f"where the branch's day is ahead of the server's)")]
    if first is not None and day < first:
        return [Problem(f"done_on {done_on} is before the month diagnosed ({row['period']})", field=("done_on",),
                        suggestion=f"a day from {first.isoformat()} on")]
    return []


__all__ = ["choose_prescriptions", "history_for", "record_feedback", "serve_prescriptions", "served_body", "served_prescription"]
