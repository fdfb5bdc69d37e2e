"""Stored diagnoses: one run per diagnosed period, the latest result per (period, subject, id), and the
run's summary (what a period's single-subject evaluations and reports need later).

A result row is ``subject``, ``subject_id``, ``branch_id``, ``lamp``, ``vanguard_points``,
``vanguard_points_ytd`` and ``body`` (the result's JSON text); the caller builds rows from results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sqlalchemy import and_, bindparam, case, delete, func, select, update
from sqlalchemy.engine import Connection

from . import now
from .schema import branches, diagnosis_runs, results


def save_run(conn: Connection, period: str, rows: Sequence[Mapping], *, version: int, digest: str, summary: str,
             actor: str) -> int:
    """Replace the period's stored results with ``rows`` (``summary``: JSON text); returns the run id."""
    counts = {"branch": 0, "member": 0}
    for r in rows:
        counts[r["subject"]] += 1
    run_id = conn.execute(diagnosis_runs.insert().values(
        period=period, ruleset_version=version, ruleset_digest=digest, branches=counts["branch"],
        members=counts["member"], summary=summary, actor=actor, created_at=now())).inserted_primary_key[0]
    conn.execute(delete(results).where(results.c.period == period))
    full = [{**r, "period": period, "run_id": run_id} for r in rows]
    for i in range(0, len(full), 10_000):
        conn.execute(results.insert(), full[i:i + 10_000])
    return int(run_id)


def replace_result(conn: Connection, period: str, row: Mapping, run_id: int) -> None:
    """One subject's new result (an event), in place of the stored one."""
    values = {k: v for k, v in row.items() if k not in ("subject", "subject_id")}
    done = conn.execute(update(results).where(and_(results.c.period == period, results.c.subject == row["subject"],
                                                   results.c.subject_id == row["subject_id"]))
                        .values({**values, "run_id": run_id}))
    if done.rowcount == 0:
        conn.execute(results.insert().values({**row, "period": period, "run_id": run_id}))


def latest_run(conn: Connection, period: str) -> dict | None:
    row = conn.execute(select(diagnosis_runs).where(diagnosis_runs.c.period == period)
                       .order_by(diagnosis_runs.c.id.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["summary"] = json.loads(out["summary"])
    return out


_BODY = select(results.c.body).where(results.c.period == bindparam("period"), results.c.subject == bindparam("subject"),
                                     results.c.subject_id == bindparam("sid"))


def result_text(conn: Connection, period: str, subject: str, subject_id: str) -> str | None:
    """The stored JSON of one subject's result, as text (served as it is)."""
    return conn.execute(_BODY, {"period": period, "subject": subject, "sid": subject_id}).scalar()


def result(conn: Connection, period: str, subject: str, subject_id: str) -> dict | None:
    body = result_text(conn, period, subject, subject_id)
    return None if body is None else json.loads(body)


def subject_results(conn: Connection, subject: str, subject_id: str, periods: Sequence[str]) -> dict[str, dict]:
    """period -> the stored result (parsed) of one subject, for the periods that have one."""
    rows = conn.execute(select(results.c.period, results.c.body).where(
        results.c.subject == subject, results.c.subject_id == subject_id, results.c.period.in_(periods)))
    return {period: json.loads(body) for period, body in rows}


def diagnosed_periods(conn: Connection) -> list[str]:
    """Every period with a stored diagnosis, oldest first."""
    return list(conn.execute(select(diagnosis_runs.c.period).distinct().order_by(diagnosis_runs.c.period)).scalars())


def subject_periods(conn: Connection, subject: str, subject_id: str) -> list[str]:
    """The periods with a stored result of one subject, oldest first."""
    # Through the diagnosed periods (a few dozen rows), so the lookups use the primary key.
    periods = diagnosed_periods(conn)
    if not periods:
        return []
    return list(conn.execute(select(results.c.period).where(results.c.period.in_(periods),
                                                            results.c.subject == subject,
                                                            results.c.subject_id == subject_id)
                             .order_by(results.c.period)).scalars())


def branch_members(conn: Connection, period: str, branch_id: str) -> list[dict]:
    """The stored results of a branch's members in a period, by member id."""
    # Sorted here: ORDER BY subject_id would lead SQLite to walk the primary key through the whole period.
    rows = conn.execute(select(results.c.subject_id, results.c.body).where(
        results.c.period == period, results.c.subject == "member", results.c.branch_id == branch_id)).all()
    return [json.loads(body) for _, body in sorted(rows)]


def member_counts(conn: Connection, period: str) -> dict[str, int]:
    """branch_id -> how many of its members have a stored result in ``period``."""
    return {b: int(n) for b, n in conn.execute(
        select(results.c.branch_id, func.count()).where(results.c.period == period, results.c.subject == "member")
        .group_by(results.c.branch_id))}


def red_member_share(conn: Connection, period: str, branch_id: str) -> float | None:
    """Percent of the branch's members with a red lamp in the stored results (None: no members)."""
    total, red = conn.execute(select(func.count(), func.sum(case((results.c.lamp == "red", 1), else_=0))).where(
        results.c.period == period, results.c.subject == "member", results.c.branch_id == branch_id)).one()
    if not total:
        return None
    return float(red or 0) * 100.0 / float(total)


def _in_street(street: str | None, branch_type: str | None = None) -> list:
    cond = ([] if street is None else [branches.c.street == street]) + (
        [] if branch_type is None else [branches.c.type == branch_type])
    return [results.c.branch_id.in_(select(branches.c.branch_id).where(*cond))] if cond else []


def period_rows(conn: Connection, period: str, subject: str, *, street: str | None = None,
                branch_type: str | None = None) -> list[tuple]:
    """(subject_id, branch_id, lamp, vanguard_points, vanguard_points_ytd, body) of every stored result
    of one kind in a period (of one street or branch type, when given), in no particular order."""
    return [tuple(r) for r in conn.execute(
        select(results.c.subject_id, results.c.branch_id, results.c.lamp, results.c.vanguard_points,
               results.c.vanguard_points_ytd, results.c.body)
        .where(results.c.period == period, results.c.subject == subject, *_in_street(street, branch_type)))]


def lamps(conn: Connection, period: str, color: str | None = None, subject: str | None = None,
          limit: int = 1000, offset: int = 0, street: str | None = None,
          weaknesses: bool = False) -> tuple[int, list[dict]]:
    """(total, page) of subjects with their lamp (of one street, when given), by subject and id; with
    ``weaknesses``, each branch's weaknesses (topics) too, read from its stored result."""
    cond = [results.c.period == period, *_in_street(street)]
    if color:
        cond.append(results.c.lamp == color)
    if subject:
        cond.append(results.c.subject == subject)
    total = conn.execute(select(func.count()).where(*cond)).scalar() or 0
    columns = [results.c.subject, results.c.subject_id, results.c.branch_id, results.c.lamp]
    rows = conn.execute(select(*columns, *([results.c.body] if weaknesses else []))
                        .where(*cond).order_by(results.c.subject, results.c.subject_id)
                        .limit(limit).offset(offset)).mappings()
    page = []
    for r in rows:
        item = {"subject": r["subject"], "id": r["subject_id"], "branch_id": r["branch_id"], "lamp": r["lamp"]}
        if weaknesses and r["subject"] == "branch":
            item["weaknesses"] = json.loads(r["body"]).get("weaknesses", [])
        page.append(item)
    return total, page


def lamps_of(conn: Connection, period: str, subject: str | None = None,
             street: str | None = None) -> dict[tuple[str, str], tuple[str, str]]:
    """(subject, id) -> (branch_id, lamp) of every stored result of a period (of one street, when given)."""
    cond = ([] if subject is None else [results.c.subject == subject]) + _in_street(street)
    rows = conn.execute(select(results.c.subject, results.c.subject_id, results.c.branch_id, results.c.lamp)
                        .where(results.c.period == period, *cond))
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


__all__ = ["branch_members", "diagnosed_periods", "lamps", "lamps_of", "latest_run", "member_counts", "period_rows",
           "red_member_share", "replace_result", "result", "result_text", "save_run", "subject_periods", "subject_results"]
