"""Rankings by the vanguard index, as the domain contract orders them, for the API, pages and exports.

Members: by the year's cumulative points (``by="ytd"``, the default) or the month's (``by="month"``),
highest first, ties by member id and ranked alike (1, 2, 2, 4). Branches: by their members' mean
year's (or month's) points, or by lamp (green first, then yellow, then red; within a lamp by the mean
year's points). A ``Scope`` (district, a street, a branch type, one branch) narrows what is ranked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from ..engine.findings import clean_number
from ..periods import check_period
from ..store import rankings as rankings_store

MEMBER_BY = ("ytd", "month")
BRANCH_BY = ("ytd", "month", "lamp")
LAMP_ORDER = {"green": 0, "yellow": 1, "red": 2}


@dataclass(frozen=True)
class Scope:
    """What a view covers: the district (all None), a street, a branch type, one branch; or several."""

    street: str | None = None
    branch_type: str | None = None
    branch_id: str | None = None

    def as_dict(self) -> dict:
        return {"street": self.street, "type": self.branch_type, "branch_id": self.branch_id}

    def store_args(self) -> dict:
        return {"street": self.street, "branch_type": self.branch_type, "branch_id": self.branch_id}


DISTRICT = Scope()  # the whole district: the default scope


def member_ranking(conn: Connection, period: str, by: str = "ytd", scope: Scope = DISTRICT, limit: int = 100,
                   offset: int = 0) -> dict:
    check_period(period, "query", "period")
    total, rows = rankings_store.member_ranking(conn, period, by, limit=limit, offset=offset, **scope.store_args())
    ranking = [{"rank": r["rank"], "member_id": r["member_id"], "name": r["name"], "branch_id": r["branch_id"],
                "vanguard_points": clean_number(r["vanguard_points"]),
                "vanguard_points_ytd": clean_number(r["vanguard_points_ytd"])} for r in rows]
    return {"period": period, "subject": "member", "by": by, "scope": scope.as_dict(), "total": total,
            "branch_id": scope.branch_id, "ranking": ranking}


def ranked_branches(rows: list[dict], by: str = "ytd") -> list[dict]:
    """Branch rows (``store.rankings.branch_points``) with their means and competition rank, best first."""
    out = []
    for r in rows:
        ytd = r["ytd_sum"] / r["ytd_n"] if r["ytd_n"] else None
        month = r["month_sum"] / r["month_n"] if r["month_n"] else None
        out.append({"branch_id": r["branch_id"], "name": r["name"], "street": r["street"], "type": r["type"],
                    "lamp": r["lamp"], "members": int(r["members"] or 0), "mean_points": clean_number(month),
                    "mean_points_ytd": clean_number(ytd)})

    def key(b: dict) -> tuple:
        # Means rounded as shown, so that branches shown alike are ranked alike; a branch without
        # members' points comes last.
        ytd, month = b["mean_points_ytd"], b["mean_points"]
        if by == "lamp":
            return (LAMP_ORDER.get(b["lamp"], 3), ytd is None, -(ytd or 0))
        value = ytd if by == "ytd" else month
        return (value is None, -(value or 0))

    out.sort(key=lambda b: (key(b), b["branch_id"]))
    rank, last = 0, None
    for i, b in enumerate(out, start=1):
        if key(b) != last:
            rank, last = i, key(b)
        b["rank"] = rank
    return out


def branch_ranking(conn: Connection, period: str, by: str = "ytd", scope: Scope = DISTRICT, limit: int = 100,
                   offset: int = 0) -> dict:
    check_period(period, "query", "period")
    ranked = ranked_branches(rankings_store.branch_points(conn, period, **scope.store_args()), by)
    return {"period": period, "subject": "branch", "by": by, "scope": scope.as_dict(), "total": len(ranked),
            "branch_id": scope.branch_id, "ranking": ranked[offset:offset + limit]}


def member_rank(conn: Connection, period: str, branch_id: str | None, points_ytd: float | None) -> dict:
    """A member's rank by the year's points in the district and in the branch (ties ranked alike)."""
    district, district_of = rankings_store.member_rank(conn, period, points_ytd)
    branch, branch_of = rankings_store.member_rank(conn, period, points_ytd, branch_id=branch_id)
    return {"by": "ytd", "district": district, "district_of": district_of, "branch": branch, "branch_of": branch_of}


__all__ = ["BRANCH_BY", "DISTRICT", "MEMBER_BY", "Scope", "branch_ranking", "member_rank", "member_ranking", "ranked_branches"]
