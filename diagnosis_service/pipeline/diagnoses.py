"""Diagnosing a stored period (the service's monthly job), and the stored results read back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from sqlalchemy.engine import Connection, Engine

from ..errors import NotFound, Problem
from ..periods import check_period, months_ahead, parse_period, period_str, this_month
from ..store import metrics as metrics_store
from ..store import results as results_store
from .month import diagnose_month
from .rankings import DISTRICT, Scope, member_rank
from .snapshot import Snapshot
from .store_io import StoreSink, StoreSource, rebuild_blocks


def diagnose_period(snapshot: Snapshot, engine: Engine, period: str, actor: str,
                    progress: Callable[[str, float], None] | None = None,
                    finish: Callable[[Connection, dict], None] | None = None, extra: dict | None = None) -> dict:
    """The monthly job (POST /v1/diagnoses): the whole period through the vectorized engine, kept in the
    store in one transaction (all of it or, if anything stops it, none); its summary (run, counts,
    seconds). ``progress(stage, fraction)`` is told as each stage starts; ``finish(conn, summary)`` runs
    in that transaction, last (a job marks itself done there: kept with the results or, if it raises,
    neither is). ``extra``: more of the summary (what the model's routine did before it)."""
    tell = progress or (lambda _stage, _fraction: None)
    check_period(period, "period")
    start = time.perf_counter()
    tell("reading metrics", 0.05)
    rebuild_blocks(engine, period)
    dataset = StoreSource(engine).load(snapshot.ruleset.registry, period)
    if period not in dataset.periods():
        raise NotFound(no_metrics(period))
    with engine.connect() as conn:
        warnings = _missing_branches(*metrics_store.missing_since(conn, period), period)
    if months_ahead(period) > 0:  # diagnosed all the same (a clock behind the platform's), but a typo is likelier
        warnings.append({"field": ["period"], "detail": f"period {period} is after this month ({this_month()}, UTC)",
                         "suggestion": "the month the metrics are of; the model's routine does not learn for a "
                                       "month more than one after this one"})
    tell("diagnosing", 0.5)
    month = diagnose_month(dataset, snapshot, period)
    tell("storing results", 0.7)
    lamps = {s: {c: sum(r.lamp == c for r in rs) for c in ("red", "yellow", "green")}
             for s, rs in (("branch", month.branches), ("member", month.members))}
    summary: dict = {}

    def kept(conn: Connection, run_id: int) -> None:
        summary.update(period=period, run_id=run_id, rules_version=snapshot.version, branches=len(month.branches),
                       members=len(month.members), lamps=lamps, seconds=round(time.perf_counter() - start, 3),
                       **(extra or {}), **({"warnings": warnings} if warnings else {}))
        if finish is not None:
            finish(conn, summary)

    StoreSink(engine, snapshot, actor, (extra or {}).get("model")).keep(month, kept)
    return summary


def _missing_branches(before: str | None, lacking: list[str], period: str, named: int = 10) -> list[dict]:
    """The diagnosis's warning when branches with metrics for the month before (``before``) have none for
    ``period``: a month sent in part is diagnosed all the same, its absent branches left out."""
    if not lacking:
        return []
    ids = ", ".join(lacking[:named]) + (f" and {len(lacking) - named} more" if len(lacking) > named else "")
    return [{"field": ["period"], "branch_ids": lacking[:named], "missing": len(lacking),
             "detail": (f"1 branch with metrics for {before} has none for {period} ({ids}): it is"
                        if len(lacking) == 1 else
                        f"{len(lacking)} branches with metrics for {before} have none for {period} ({ids}): they are")
                       + f" not diagnosed for {period}",
             "suggestion": f"PUT /v1/periods/{period}/metrics with their rows, then POST /v1/diagnoses for "
                           f"{period} again; a branch that is gone is named once, the first month without it"}]


def no_metrics(period: str) -> Problem:
    return Problem(f"no metrics stored for period {period}", field=("period",),
                   suggestion="PUT /v1/periods/{period}/metrics or import a data directory first")


def branch_diagnosis(conn: Connection, branch_id: str, period: str) -> str:
    """A branch's stored diagnosis as JSON text (served as it is)."""
    found = results_store.result_text(conn, period, "branch", branch_id)
    if found is None:
        raise NotFound(Problem(f"no diagnosis of branch '{branch_id}' for {period}", field=("query", "period"),
                               suggestion="POST /v1/diagnoses for the period first"))
    return found


def member_report(conn: Connection, member_id: str, period: str) -> dict:
    """A member's stored result with its rank by the year's points in the district and in the branch."""
    check_period(period, "query", "period")
    stored = results_store.result(conn, period, "member", member_id)
    if stored is None:
        raise NotFound(Problem(f"no diagnosis of member '{member_id}' for {period}", field=("query", "period")))
    return {**stored, "rank": member_rank(conn, period, stored["branch_id"], stored.get("vanguard_points_ytd"))}


def lamps(conn: Connection, period: str, color: str | None, subject: str | None, limit: int, offset: int,
          street: str | None = None, weaknesses: bool = False) -> dict:
    require_diagnosed(conn, period)
    total, items = results_store.lamps(conn, period, color, subject, limit, offset, street, weaknesses)
    return {"period": period, "total": total, "limit": limit, "offset": offset, "lamps": items}


def lamp_changes(conn: Connection, period: str, subject: str | None, street: str | None = None) -> dict:
    """Subjects whose lamp differs from the previous period's (new subjects count as from none; with the
    previous period not diagnosed, every subject is new and ``previous_diagnosed`` says so)."""
    require_diagnosed(conn, period)
    previous = period_str(parse_period(period) - 1)
    now = results_store.lamps_of(conn, period, subject, street)
    before = results_store.lamps_of(conn, previous, subject, street)
    changes = []
    for key in sorted(now):
        branch_id, lamp = now[key]
        old = before.get(key, (None, None))[1]
        if old != lamp:
            changes.append({"subject": key[0], "id": key[1], "branch_id": branch_id, "from": old, "to": lamp})
    # The feed also carries the reminders that are new this period (a branch told once, not every month).
    scope = Scope(street=street)
    seen = {(r["id"], r["rule"]) for r in _reminders(conn, previous, scope)} if subject != "member" else set()
    fresh = [r for r in _reminders(conn, period, scope) if (r["id"], r["rule"]) not in seen] if subject != "member" else []
    return {"period": period, "previous": previous, "previous_diagnosed": results_store.latest_run(conn, previous)
            is not None, "count": len(changes), "changes": changes, "reminders": fresh}


def require_diagnosed(conn: Connection, period: str) -> None:
    """NotFound (on the query's period) for a period without a diagnosis: its lists would be empty, which
    reads as "no lamps" rather than "not diagnosed"."""
    if results_store.latest_run(conn, period) is None:
        raise NotFound(Problem(f"period {period} has not been diagnosed", field=("query", "period"),
                               suggestion="POST /v1/diagnoses (or diagnosis-service diagnose) first"))


def reminders(conn: Connection, period: str, scope: Scope = DISTRICT) -> dict:
    """GET /v1/reminders: the reminder findings (what must still be done, and by when) of a period's
    stored branch results in the scope, by branch and rule."""
    check_period(period, "query", "period")
    require_diagnosed(conn, period)
    out = _reminders(conn, period, scope)
    return {"period": period, "scope": scope.as_dict(), "count": len(out), "reminders": out}


def _reminders(conn: Connection, period: str, scope: Scope) -> list[dict]:
    out = []
    if scope.branch_id is not None:  # one branch (a secretary): one row, not the street's
        body = results_store.result_text(conn, period, "branch", scope.branch_id)
        rows = [] if body is None else [(scope.branch_id, body)]
    else:
        rows = [(sid, body) for sid, _, _, _, _, body in results_store.period_rows(
            conn, period, "branch", street=scope.street, branch_type=scope.branch_type)]
    for sid, body in rows:
        for f in json.loads(body).get("findings", []):
            if f.get("severity") == "reminder":
                out.append({"subject": "branch", "id": sid, "branch_id": sid, "rule": f["rule"], "topic": f["topic"],
                            "message_zh": f["message_zh"], "message_en": f["message_en"]})
    out.sort(key=lambda r: (r["branch_id"], r["rule"]))
    return out


__all__ = ["branch_diagnosis", "diagnose_period", "lamp_changes", "lamps", "member_report", "no_metrics", "reminders"]
