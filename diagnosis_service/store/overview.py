"""Per branch and period, what the overviews count (``branch_months``): kept with a period's results in
the same transaction, replaced when an event re-evaluates a branch or one of its members.

A row is ``branch_id``, ``lamp``, ``members``, ``members_red``, ``members_yellow``, the sums and counts
of the members' month's and year's points, and three JSON texts (``weaknesses``, ``findings``,
``member_findings``); the caller builds rows from results and reads the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection

from .schema import branch_months, branches

COLUMNS = tuple(c.name for c in branch_months.columns if c.name != "period")


def save_period(conn: Connection, period: str, rows: Sequence[Mapping]) -> None:
    """Replace the period's rows with ``rows``."""
    conn.execute(delete(branch_months).where(branch_months.c.period == period))
    full = [{**r, "period": period} for r in rows]
    for i in range(0, len(full), 5_000):
        conn.execute(branch_months.insert(), full[i:i + 5_000])


def replace_row(conn: Connection, period: str, row: Mapping) -> None:
    """One branch's row, in place of the stored one."""
    values = {k: v for k, v in row.items() if k != "branch_id"}
    done = conn.execute(update(branch_months).where(and_(branch_months.c.period == period,
                                                         branch_months.c.branch_id == row["branch_id"]))
                        .values(values))
    if done.rowcount == 0:
        conn.execute(branch_months.insert().values({**row, "period": period}))


def rows(conn: Connection, periods: Sequence[str], *, street: str | None = None,
         branch_type: str | None = None) -> list[dict]:
    """The stored rows of ``periods`` in the scope, with each branch's name, street and type; by period
    and branch id."""
    cond = [branch_months.c.period.in_(list(periods))]
    if street is not None:
        cond.append(branches.c.street == street)
    if branch_type is not None:
        cond.append(branches.c.type == branch_type)
    query = (select(branch_months, branches.c.name, branches.c.street, branches.c.type)
             .select_from(branch_months.join(branches, branches.c.branch_id == branch_months.c.branch_id))
             .where(*cond).order_by(branch_months.c.period, branch_months.c.branch_id))
    return [dict(r) for r in conn.execute(query).mappings()]


def periods(conn: Connection) -> list[str]:
    """Every period with stored rows, oldest first."""
    return list(conn.execute(select(branch_months.c.period).distinct().order_by(branch_months.c.period)).scalars())


__all__ = ["COLUMNS", "periods", "replace_row", "rows", "save_period"]
