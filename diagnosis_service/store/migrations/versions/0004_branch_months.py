"""branch_months and overview_cells: what the overviews count (backfilled from stored results)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

"""

import json
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    months = op.create_table(
        "branch_months",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
        sa.Column("street", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("lamp", sa.String(length=8), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("members_red", sa.Integer(), nullable=False),
        sa.Column("members_yellow", sa.Integer(), nullable=False),
        sa.Column("points_sum", sa.Float(), nullable=False),
        sa.Column("points_n", sa.Integer(), nullable=False),
        sa.Column("ytd_sum", sa.Float(), nullable=False),
        sa.Column("ytd_n", sa.Integer(), nullable=False),
        sa.Column("weaknesses", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.Column("member_findings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.branch_id"], name=op.f("fk_branch_months_branch_id")),
        sa.PrimaryKeyConstraint("period", "branch_id", name=op.f("pk_branch_months")),
    )
    op.create_index("ix_branch_months_lamp", "branch_months", ["period", "lamp"])
    cells = op.create_table(
        "overview_cells",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("street", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "branches", "branches_red", "branches_yellow", "members", "members_red", "members_yellow")],
        sa.Column("weaknesses", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("period", "street", "type", name=op.f("pk_overview_cells")),
    )
    _backfill(op.get_bind(), months, cells)


def _backfill(conn: sa.Connection, months: sa.Table, cells: sa.Table) -> None:
    # A frozen copy of what pipeline.overview keeps (branch_month_rows, cells), so that periods diagnosed
    # before this revision have their overview too; the code above the store may change, a migration may
    # not. A branch's street and type are those it has now: when it was diagnosed is not known.
    results = sa.table("results", sa.column("period"), sa.column("subject"), sa.column("subject_id"),
                       sa.column("branch_id"), sa.column("lamp"), sa.column("vanguard_points"),
                       sa.column("vanguard_points_ytd"), sa.column("body"))
    branches = sa.table("branches", sa.column("branch_id"), sa.column("street"), sa.column("type"))
    profile = {b: (s or "", t or "") for b, s, t in conn.execute(sa.select(branches.c.branch_id, branches.c.street,
                                                                          branches.c.type))}
    periods = [p for (p,) in conn.execute(sa.select(results.c.period).distinct().order_by(results.c.period))]
    for period in periods:
        agg: dict[str, dict] = {}
        branch_rows = {}
        for subject, sid, branch_id, lamp, points, ytd, body in conn.execute(
                sa.select(results.c.subject, results.c.subject_id, results.c.branch_id, results.c.lamp,
                          results.c.vanguard_points, results.c.vanguard_points_ytd, results.c.body)
                .where(results.c.period == period)):
            data = json.loads(body)
            rules = sorted({f["rule"] for f in data.get("findings", []) if f.get("severity") != "reminder"})
            if subject == "branch":
                branch_rows[sid] = (lamp, list(data.get("weaknesses", [])), rules)
                continue
            a = agg.setdefault(branch_id, {"members": 0, "members_red": 0, "members_yellow": 0, "points_sum": 0.0,
                                           "points_n": 0, "ytd_sum": 0.0, "ytd_n": 0, "member_findings": Counter()})
            a["members"] += 1
            a["members_red"] += lamp == "red"
            a["members_yellow"] += lamp == "yellow"
            if points is not None:
                a["points_sum"] += points
                a["points_n"] += 1
            if ytd is not None:
                a["ytd_sum"] += ytd
                a["ytd_n"] += 1
            a["member_findings"].update(rules)
        rows, added = [], {}
        for branch_id in sorted(branch_rows):
            lamp, weaknesses, rules = branch_rows[branch_id]
            a = agg.get(branch_id) or {"members": 0, "members_red": 0, "members_yellow": 0, "points_sum": 0.0,
                                       "points_n": 0, "ytd_sum": 0.0, "ytd_n": 0, "member_findings": Counter()}
            street, branch_type = profile.get(branch_id, ("", ""))
            rows.append({"period": period, "branch_id": branch_id, "street": street, "type": branch_type,
                         "lamp": lamp, **{k: v for k, v in a.items() if k != "member_findings"},
                         "weaknesses": json.dumps(weaknesses), "findings": json.dumps(rules),
                         "member_findings": json.dumps(dict(sorted(a["member_findings"].items())))})
            c = added.setdefault((street, branch_type), {
                "period": period, "street": street, "type": branch_type, "branches": 0, "branches_red": 0,
                "branches_yellow": 0, "members": 0, "members_red": 0, "members_yellow": 0,
                "weaknesses": Counter(), "findings": Counter()})
            c["branches"] += 1
            c["branches_red"] += lamp == "red"
            c["branches_yellow"] += lamp == "yellow"
            for k in ("members", "members_red", "members_yellow"):
                c[k] += a[k]
            c["weaknesses"].update(weaknesses)
            c["findings"].update(rules)
            c["findings"].update(a["member_findings"])
        if rows:
            conn.execute(months.insert(), rows)
            conn.execute(cells.insert(), [
                {**c, "weaknesses": json.dumps(dict(sorted(c["weaknesses"].items()))),
                 "findings": json.dumps(dict(sorted(c["findings"].items())))} for _, c in sorted(added.items())])


def downgrade() -> None:
    op.drop_table("overview_cells")
    op.drop_index("ix_branch_months_lamp", table_name="branch_months")
    op.drop_table("branch_months")
