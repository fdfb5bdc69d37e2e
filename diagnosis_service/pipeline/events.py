"""Events: one subject's new values, stored and re-evaluated at once (the durable_rules path).

A member's new lamp can change its branch's share of red members, so the branch is re-evaluated too.
The subject is compared with the period's references: those kept with the period's diagnosis, or,
when the rules changed since, recomputed once from the stored district and cached.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Connection, Engine

from ..data.rows import check_rows
from ..data.sources import HISTORY_MONTHS
from ..data.text import id_problem, is_json_number, json_type
from ..engine.findings import SubjectResult, clean_number
from ..engine.references import PeriodReferences, period_references
from ..errors import Conflict, InputError, NotFound, Problem, unknown_fields
from ..periods import HINT, is_period, months_before, parse_day, why_not_period
from ..store import metrics as metrics_store
from ..store import overview as overview_store
from ..store import results as results_store
from . import notify
from .common import in_transaction
from .month import diagnose_month
from .overview import branch_month_row, keep_branch
from .snapshot import Snapshot
from .store_io import StoreSource, result_row

FIELDS = ("subject", "id", "period", "values", "on")


def check_event(body: object) -> tuple[str, str, str, dict, int | None]:
    """(subject, id, period, values, day) of an event body, or InputError naming every bad field. ``on``
    (optional, YYYY-MM-DD within ``period``) is the day the values were recorded: before the month is
    over, a month's norm is reminded rather than missed."""
    if not isinstance(body, dict):
        raise InputError(Problem("the body must be an object: subject, id, period, values[, on]", field=()))
    problems = unknown_fields(body, FIELDS)
    subject, sid, period, values = (body.get(k) for k in FIELDS[:4])
    if subject not in ("branch", "member"):
        problems.append(Problem(f"subject must be 'branch' or 'member', got {subject!r}"[:200], field=("subject",)))
    if id_problem(sid):
        problems.append(Problem(f"id must be a branch or member id: it {id_problem(sid)}", field=("id",)))
    if not is_period(period):
        problems.append(Problem(f"bad period {period!r}: {why_not_period(period)}"[:300], field=("period",),
                                suggestion=HINT))
    if not isinstance(values, dict) or not values:
        problems.append(Problem("values must be a non-empty object of indicator: value", field=("values",)))
    else:
        problems += [Problem(f"{name} must be a number or null, got {json_type(value)}", field=("values", name),
                             suggestion='send 1, not "1"; null for a missing value')
                     for name, value in values.items() if not is_json_number(value)]
    day = None
    if body.get("on") is not None:
        on = parse_day(body["on"])
        if on is None or not is_period(period) or f"{on:%Y-%m}" != period:
            problems.append(Problem(f"on must be a day of {period} written YYYY-MM-DD, got {body['on']!r}"[:200],
                                    field=("on",), suggestion=f"e.g. {period}-21" if is_period(period) else HINT))
        else:
            day = on.day
    if problems:
        raise InputError(problems)
    return subject, sid, period, values, day


def apply_event(snapshot: Snapshot, engine: Engine, body: object, actor: str, request_id: str | None = None) -> dict:
    """POST /v1/events: store one subject's new values and re-evaluate it (and a member's branch)."""
    subject, sid, period, values, day = check_event(body)
    try:
        (parsed,) = check_rows([{"period": period, **values}], subject, snapshot.ruleset.registry,
                               file="values").values()
    except InputError as exc:
        raise InputError([Problem(p.message, field=("values", *((p.column,) if p.column else ())),
                                  suggestion=p.suggestion) for p in exc.problems]) from None
    def step(conn: Connection) -> dict:
        if not metrics_store.known_ids(conn, subject, [sid]):
            raise NotFound(Problem(f"unknown {subject} '{sid}'", field=("id",)))
        run = results_store.latest_run(conn, period)
        if run is None:
            raise Conflict(Problem(f"period {period} has not been diagnosed", field=("period",),
                                   suggestion="POST /v1/diagnoses first: events are evaluated against the period's "
                                              "district references"))
        row = {"period": period, metrics_store.KEYS[subject]: sid, **{k: parsed[k] for k in values}}
        metrics_store.upsert_metrics(conn, subject, [row], source="event", actor=actor, request_id=request_id)
        refs = references(snapshot, engine, run, period)
        outbox = notify.Outbox(conn)
        first = _reevaluate(snapshot, conn, subject, sid, period, refs, run["id"], day, outbox)
        out = dict(first)
        if subject == "member" and first["changed"]:
            out["branch"] = _reevaluate(snapshot, conn, "branch", first["branch_id"], period, refs, run["id"], day,
                                        outbox)
        _keep_branch_month(conn, period, first["branch_id"])
        outbox.flush()
        return out

    return in_transaction(engine, step)


def references(snapshot: Snapshot, engine: Engine, run: Mapping, period: str) -> PeriodReferences:
    """The period's references for the snapshot's rules: stored with the run, recomputed if the rules changed."""
    if run["ruleset_digest"] == snapshot.digest:
        return PeriodReferences.from_json(period, run["summary"]["references"])
    key = (period, snapshot.digest)
    cached = snapshot.references.get(key)
    if cached is None:
        month = diagnose_month(StoreSource(engine).load(snapshot.ruleset.registry, period), snapshot, period)
        cached = period_references(month.evaluator, period)
        snapshot.references[key] = cached
    return cached


def _keep_branch_month(conn: Connection, period: str, branch_id: str | None) -> None:
    """The overview's row of the branch, from its stored results as they now are, and its cell (the street
    and type it was diagnosed under: its cell is the one that counts it)."""
    branch = results_store.result(conn, period, "branch", branch_id) if branch_id else None
    if branch is None:
        return
    kept = overview_store.row(conn, period, branch_id) or metrics_store.branch(conn, branch_id) or {}
    keep_branch(conn, period, branch_month_row(period, branch, results_store.branch_members(conn, period, branch_id),
                                               str(kept.get("street") or ""), str(kept.get("type") or "")))


def _reevaluate(snapshot: Snapshot, conn: Connection, subject: str, sid: str, period: str, refs: PeriodReferences,
                run_id: int, day: int | None, outbox: notify.Outbox) -> dict:
    previous = results_store.result(conn, period, subject, sid)
    history = metrics_store.subject_history(conn, subject, sid, months_before(period, HISTORY_MONTHS))
    branch_id = metrics_store.member_branch(conn, sid) if subject == "member" else sid
    info = metrics_store.branch(conn, branch_id) if branch_id else None
    member_values = None
    if subject == "branch":
        share = results_store.red_member_share(conn, period, sid)
        member_values = {period: {"red_member_share": share}} if share is not None else None
    if not any(r["period"] == period for r in history):
        raise Conflict(Problem(f"{subject} '{sid}' has no metrics for {period}", field=("period",)))
    result: SubjectResult = snapshot.single_subject().evaluate(
        subject, sid, period, history, refs, branch_type=info["type"] if info else None, branch_id=branch_id,
        member_values=member_values, validate=False, roll=metrics_store.roll(conn, branch_id) if branch_id else None,
        day=day)
    results_store.replace_result(conn, period, result_row(result), run_id)
    before = previous["lamp"] if previous else None
    street = info["street"] if info else None
    if before != result.lamp:
        notify.lamp_changed(outbox, subject=subject, sid=sid, branch_id=branch_id, street=street, period=period,
                            before=before, after=result.lamp, source="event")
    if subject == "branch":
        notify.reminders_due(outbox, branch_id=sid, street=street, period=period,
                             findings=[f.as_dict() for f in result.findings], before=notify.reminder_rules(previous))
    return {"subject": subject, "id": sid, "branch_id": branch_id, "period": period, "lamp": result.lamp,
            "previous_lamp": before, "changed": before != result.lamp,
            "push": result.lamp == "red" and before != "red",
            "findings": [f.as_dict() for f in result.findings],
            **({"vanguard_points": clean_number(result.vanguard_points)} if subject == "member" else
               {"weaknesses": result.weaknesses})}


__all__ = ["apply_event", "check_event", "references"]
