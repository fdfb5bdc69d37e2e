"""What the overviews count, kept with a period's results in the same transaction: per branch
(``branch_months``: its street and type when diagnosed, lamp, members' lamps and points, what fired) and
per street and branch type (``overview_cells``: those rows added up). An event replaces one branch's row
and its cell.

Rows and cells carry JSON texts (``weaknesses``, ``findings``, ``member_findings``); the caller builds
them and reads the JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import and_, delete, select, update
from sqlalchemy.engine import Connection

from .schema import branch_months, branches, overview_cells


def save_period(conn: Connection, period: str, rows: Sequence[Mapping], cells: Sequence[Mapping]) -> None:
    """Replace the period's branch rows and cells."""
    conn.execute(delete(branch_months).where(branch_months.c.period == period))
    conn.execute(delete(overview_cells).where(overview_cells.c.period == period))
    full = [{**r, "period": period} for r in rows]
    for i in range(0, len(full), 5_000):
        conn.execute(branch_months.insert(), full[i:i + 5_000])
    if cells:
        conn.execute(overview_cells.insert(), [{**c, "period": period} for c in cells])


def replace_row(conn: Connection, period: str, row: Mapping) -> None:
    """One branch's row, in place of the stored one."""
    values = {k: v for k, v in row.items() if k not in ("branch_id", "period")}
    done = conn.execute(update(branch_months).where(and_(branch_months.c.period == period,
                                                         branch_months.c.branch_id == row["branch_id"]))
                        .values(values))
    if done.rowcount == 0:
        conn.execute(branch_months.insert().values({**row, "period": period}))


def streets(conn: Connection) -> list[str]:
    """Every street some stored month's overview counts branches in, sorted."""
    return sorted(set(conn.execute(select(overview_cells.c.street).distinct()).scalars()))


def row(conn: Connection, period: str, branch_id: str) -> dict | None:
    found = conn.execute(select(branch_months).where(branch_months.c.period == period,
                                                     branch_months.c.branch_id == branch_id)).mappings().first()
    return None if found is None else dict(found)


def cell_rows(conn: Connection, period: str, street: str, branch_type: str) -> list[dict]:
    """The branch rows one cell adds up."""
    return [dict(r) for r in conn.execute(select(branch_months).where(
        branch_months.c.period == period, branch_months.c.street == street,
        branch_months.c.type == branch_type)).mappings()]


def replace_cell(conn: Connection, cell: Mapping) -> None:
    conn.execute(delete(overview_cells).where(overview_cells.c.period == cell["period"],
                                              overview_cells.c.street == cell["street"],
                                              overview_cells.c.type == cell["type"]))
    conn.execute(overview_cells.insert().values(dict(cell)))


def _scope(table, street: str | None, branch_type: str | None) -> list:
    return ([] if street is None else [table.c.street == street]) + (
        [] if branch_type is None else [table.c.type == branch_type])


def cells(conn: Connection, periods: Sequence[str], *, street: str | None = None,
          branch_type: str | None = None) -> list[dict]:
    """The stored cells of ``periods`` in the scope."""
    query = select(overview_cells).where(overview_cells.c.period.in_(list(periods)),
                                         *_scope(overview_cells, street, branch_type))
    return [dict(r) for r in conn.execute(query).mappings()]


def red_rows(conn: Connection, periods: Sequence[str], *, street: str | None = None,
             branch_type: str | None = None) -> list[dict]:
    """period, branch_id, name, street and type of the branches of the scope with a red lamp in ``periods``."""
    query = (select(branch_months.c.period, branch_months.c.branch_id, branches.c.name, branch_months.c.street,
                    branch_months.c.type)
             .select_from(branch_months.join(branches, branches.c.branch_id == branch_months.c.branch_id))
             .where(branch_months.c.period.in_(list(periods)), branch_months.c.lamp == "red",
                    *_scope(branch_months, street, branch_type)))
    return [dict(r) for r in conn.execute(query).mappings()]


def rows(conn: Connection, periods: Sequence[str], *, street: str | None = None,
         branch_type: str | None = None) -> list[dict]:
    """The stored branch rows of ``periods`` in the scope, with each branch's name."""
    query = (select(branch_months, branches.c.name)
             .select_from(branch_months.join(branches, branches.c.branch_id == branch_months.c.branch_id))
             .where(branch_months.c.period.in_(list(periods)), *_scope(branch_months, street, branch_type)))
    return [dict(r) for r in conn.execute(query).mappings()]


__all__ = ["cell_rows", "cells", "red_rows", "replace_cell", "replace_row", "row", "rows", "save_period"]
