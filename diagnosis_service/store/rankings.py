"""Rankings of a period's stored results, as the domain contract orders them: members by their year's
cumulative vanguard index (``vanguard_points_ytd``; the month's as an option), highest first, ties by
member id and ranked alike (competition ranking: 1, 2, 2, 4); branches by their members' mean.

A scope narrows what is ranked: a street, a branch type, one branch. Ranks are positions within the
scope, computed by the database (``RANK() OVER``) so a page of a long ranking costs one query.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from .schema import branches, members, results

MEMBER_BY = {"ytd": results.c.vanguard_points_ytd, "month": results.c.vanguard_points}


def _scope(street: str | None, branch_type: str | None, branch_id: str | None) -> list:
    cond = []
    if street is not None:
        cond.append(branches.c.street == street)
    if branch_type is not None:
        cond.append(branches.c.type == branch_type)
    if branch_id is not None:
        cond.append(branches.c.branch_id == branch_id)
    return cond


def member_ranking(conn: Connection, period: str, by: str = "ytd", *, street: str | None = None,
                   branch_type: str | None = None, branch_id: str | None = None, limit: int = 100,
                   offset: int = 0) -> tuple[int, list[dict]]:
    """(members ranked in the scope, a page of them): rank, member_id, name, branch_id, points, ytd."""
    points = MEMBER_BY[by]
    cond = [results.c.period == period, results.c.subject == "member", points.is_not(None),
            *_scope(street, branch_type, branch_id)]
    joined = results.join(branches, branches.c.branch_id == results.c.branch_id).outerjoin(
        members, members.c.member_id == results.c.subject_id)
    ranked = (select(func.rank().over(order_by=points.desc()).label("rank"), results.c.subject_id.label("member_id"),
                     members.c.name, results.c.branch_id, results.c.vanguard_points, results.c.vanguard_points_ytd)
              .select_from(joined).where(*cond).subquery())
    total = conn.execute(select(func.count()).select_from(ranked)).scalar() or 0
    rows = conn.execute(select(ranked).order_by(ranked.c.rank, ranked.c.member_id).limit(limit).offset(offset))
    return int(total), [dict(r) for r in rows.mappings()]


def member_rank(conn: Connection, period: str, points: float | None, by: str = "ytd", *,
                branch_id: str | None = None) -> tuple[int | None, int]:
    """(rank, of how many) of a member with ``points`` in the district, or in one branch: 1 + the members
    with more points (ties ranked alike), among those with a value."""
    column = MEMBER_BY[by]
    cond = [results.c.period == period, results.c.subject == "member", column.is_not(None)]
    if branch_id is not None:
        cond.append(results.c.branch_id == branch_id)
    if points is None:
        total = conn.execute(select(func.count()).where(*cond)).scalar() or 0
        return None, int(total)
    total, higher = conn.execute(select(func.count(), func.sum(case((column > points, 1), else_=0))).where(*cond)).one()
    return int(higher or 0) + 1, int(total or 0)


def branch_points(conn: Connection, period: str, *, street: str | None = None, branch_type: str | None = None,
                  branch_id: str | None = None) -> list[dict]:
    """Every branch of the scope with a stored result for the period: branch_id, name, street, type, lamp,
    members (with a result), the sums of their month's and year's points and how many have each."""
    agg = (select(results.c.branch_id, func.count().label("members"),
                  func.sum(results.c.vanguard_points).label("month_sum"),
                  func.count(results.c.vanguard_points).label("month_n"),
                  func.sum(results.c.vanguard_points_ytd).label("ytd_sum"),
                  func.count(results.c.vanguard_points_ytd).label("ytd_n"))
           .where(results.c.period == period, results.c.subject == "member").group_by(results.c.branch_id)
           .subquery())
    rows = conn.execute(
        select(branches.c.branch_id, branches.c.name, branches.c.street, branches.c.type, results.c.lamp,
               agg.c.members, agg.c.month_sum, agg.c.month_n, agg.c.ytd_sum, agg.c.ytd_n)
        .select_from(results.join(branches, branches.c.branch_id == results.c.subject_id)
                     .outerjoin(agg, agg.c.branch_id == results.c.subject_id))
        .where(and_(results.c.period == period, results.c.subject == "branch",
                    *_scope(street, branch_type, branch_id)))
        .order_by(branches.c.branch_id))
    return [dict(r) for r in rows.mappings()]


__all__ = ["MEMBER_BY", "branch_points", "member_rank", "member_ranking"]
