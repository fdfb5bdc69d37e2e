"""Stored diagnoses: one run per POST, the latest result per (period, subject, id), and what a period's
single-subject evaluations need later (references, district means)."""

from __future__ import annotations

import json
from dataclasses import asdict

from sqlalchemy import and_, bindparam, case, delete, func, select, update
from sqlalchemy.engine import Connection

from ..data.model import parse_period, period_str
from ..engine.findings import SubjectResult, clean_number
from ..engine.subject import PeriodReferences
from ..rules.model import Ref
from . import now
from .schema import diagnosis_runs, results


def references_to_json(refs: PeriodReferences) -> list[dict]:
    out = []
    for (subject, indicator, change, lag, ref), value in refs.values.items():
        out.append({"subject": subject, "indicator": indicator, "change": change, "lag": lag, "ref": asdict(ref),
                    "value": value})
    return sorted(out, key=lambda e: json.dumps(e, sort_keys=True))


def references_from_json(period: str, items: list[dict]) -> PeriodReferences:
    values = {}
    for e in items:
        values[(e["subject"], e["indicator"], e["change"], e["lag"], Ref(**e["ref"]))] = e["value"]
    return PeriodReferences(period, values)


def save_run(conn: Connection, period: str, branches: list[SubjectResult], members: list[SubjectResult],
             version: int, digest: str, summary: dict, actor: str) -> int:
    """Replace the period's stored results with these; returns the run id."""
    run_id = conn.execute(diagnosis_runs.insert().values(
        period=period, ruleset_version=version, ruleset_digest=digest, branches=len(branches), members=len(members),
        summary=json.dumps(summary, ensure_ascii=False, sort_keys=True), actor=actor, created_at=now())
    ).inserted_primary_key[0]
    conn.execute(delete(results).where(results.c.period == period))
    rows = [_row(r, period, run_id) for r in branches] + [_row(r, period, run_id) for r in members]
    for i in range(0, len(rows), 10_000):
        conn.execute(results.insert(), rows[i:i + 10_000])
    return int(run_id)


def _row(r: SubjectResult, period: str, run_id: int) -> dict:
    return {"period": period, "subject": r.subject, "subject_id": r.id,
            "branch_id": r.id if r.subject == "branch" else (r.branch_id or ""), "lamp": r.lamp,
            "vanguard_points": clean_number(r.vanguard_points), "vanguard_points_ytd": clean_number(r.vanguard_points_ytd),
            "run_id": run_id, "body": r.to_json()}


def replace_result(conn: Connection, result: SubjectResult, run_id: int) -> None:
    """One subject's new result (an event), in place of the stored one."""
    row = _row(result, result.period, run_id)
    done = conn.execute(update(results).where(and_(results.c.period == result.period,
                                                   results.c.subject == result.subject,
                                                   results.c.subject_id == result.id))
                        .values({k: v for k, v in row.items() if k not in ("period", "subject", "subject_id")}))
    if done.rowcount == 0:
        conn.execute(results.insert().values(row))


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


def branch_members(conn: Connection, period: str, branch_id: str) -> list[dict]:
    rows = conn.execute(select(results.c.body).where(results.c.period == period, results.c.subject == "member",
                                                     results.c.branch_id == branch_id)
                        .order_by(results.c.subject_id)).scalars()
    return [json.loads(b) for b in rows]


def red_member_share(conn: Connection, period: str, branch_id: str) -> float | None:
    """Percent of the branch's members with a red lamp in the stored results (None: no members)."""
    total, red = conn.execute(select(func.count(), func.sum(case((results.c.lamp == "red", 1), else_=0))).where(
        results.c.period == period, results.c.subject == "member", results.c.branch_id == branch_id)).one()
    if not total:
        return None
    return float(red or 0) * 100.0 / float(total)


def member_ranks(conn: Connection, period: str, member_id: str, branch_id: str, points: float | None) -> dict:
    """Competition rank (1 + members with more points) in the district and in the branch."""
    base = and_(results.c.period == period, results.c.subject == "member", results.c.vanguard_points.is_not(None))
    total = conn.execute(select(func.count()).where(base)).scalar() or 0
    in_branch = conn.execute(select(func.count()).where(base, results.c.branch_id == branch_id)).scalar() or 0
    if points is None:
        return {"district": None, "district_of": total, "branch": None, "branch_of": in_branch}
    higher = conn.execute(select(func.count()).where(base, results.c.vanguard_points > points)).scalar() or 0
    higher_b = conn.execute(select(func.count()).where(base, results.c.branch_id == branch_id,
                                                       results.c.vanguard_points > points)).scalar() or 0
    return {"district": higher + 1, "district_of": total, "branch": higher_b + 1, "branch_of": in_branch}


def lamps(conn: Connection, period: str, color: str | None = None, subject: str | None = None,
          limit: int = 1000, offset: int = 0) -> tuple[int, list[dict]]:
    """(total, page) of subjects with their lamp, reds first then by subject and id."""
    cond = [results.c.period == period]
    if color:
        cond.append(results.c.lamp == color)
    if subject:
        cond.append(results.c.subject == subject)
    total = conn.execute(select(func.count()).where(*cond)).scalar() or 0
    rows = conn.execute(select(results.c.subject, results.c.subject_id, results.c.branch_id, results.c.lamp)
                        .where(*cond).order_by(results.c.subject, results.c.subject_id)
                        .limit(limit).offset(offset)).mappings()
    return total, [{"subject": r["subject"], "id": r["subject_id"], "branch_id": r["branch_id"], "lamp": r["lamp"]}
                   for r in rows]


def lamp_changes(conn: Connection, period: str, subject: str | None = None) -> tuple[str, list[dict]]:
    """Subjects whose lamp differs from the previous period's (new subjects count as from none)."""
    previous = period_str(parse_period(period) - 1)
    cond = [] if subject is None else [results.c.subject == subject]

    def table(p: str) -> dict[tuple[str, str], tuple[str, str]]:
        rows = conn.execute(select(results.c.subject, results.c.subject_id, results.c.branch_id, results.c.lamp)
                            .where(results.c.period == p, *cond))
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    now_, before = table(period), table(previous)
    out = []
    for key in sorted(now_):
        branch_id, lamp = now_[key]
        old = before.get(key, (None, None))[1]
        if old != lamp:
            out.append({"subject": key[0], "id": key[1], "branch_id": branch_id, "from": old, "to": lamp})
    return previous, out


def rankings(conn: Connection, period: str, branch_id: str | None = None, limit: int = 100) -> list[dict]:
    cond = [results.c.period == period, results.c.subject == "member", results.c.vanguard_points.is_not(None)]
    if branch_id:
        cond.append(results.c.branch_id == branch_id)
    rows = conn.execute(select(results.c.subject_id, results.c.branch_id, results.c.vanguard_points,
                               results.c.vanguard_points_ytd)
                        .where(*cond).order_by(results.c.vanguard_points.desc(), results.c.subject_id)
                        .limit(limit)).all()
    out, rank, last = [], 0, None
    for i, (mid, bid, pts, ytd) in enumerate(rows, start=1):
        if pts != last:
            rank, last = i, pts
        out.append({"rank": rank, "member_id": mid, "branch_id": bid, "vanguard_points": clean_number(pts),
                    "vanguard_points_ytd": clean_number(ytd)})
    return out


__all__ = ["branch_members", "lamp_changes", "lamps", "latest_run", "member_ranks", "rankings", "red_member_share",
           "references_from_json", "references_to_json", "replace_result", "result", "save_run"]
