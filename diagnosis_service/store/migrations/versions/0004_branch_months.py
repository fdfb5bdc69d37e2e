"""branch_months: per branch and period, what the overviews count (backfilled from stored results)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

"""

import json
from collections import Counter, defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "branch_months",
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("branch_id", sa.String(length=64), nullable=False),
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
    _backfill(op.get_bind(), table)


def _backfill(conn: sa.Connection, table: sa.Table) -> None:
    # A frozen copy of what pipeline.overview.branch_month_rows keeps, so that periods diagnosed before
    # this revision have their overview too (the code above the store may change; a migration may not).
    results = sa.table("results", sa.column("period"), sa.column("subject"), sa.column("subject_id"),
                       sa.column("branch_id"), sa.column("lamp"), sa.column("vanguard_points"),
                       sa.column("vanguard_points_ytd"), sa.column("body"))
    periods = [p for (p,) in conn.execute(sa.select(results.c.period).distinct().order_by(results.c.period))]
    for period in periods:
        agg: dict[str, dict] = defaultdict(lambda: {"members": 0, "members_red": 0, "members_yellow": 0,
                                                    "points_sum": 0.0, "points_n": 0, "ytd_sum": 0.0, "ytd_n": 0,
                                                    "member_findings": Counter()})
        rows = conn.execute(sa.select(results.c.subject, results.c.subject_id, results.c.branch_id, results.c.lamp,
                                      results.c.vanguard_points, results.c.vanguard_points_ytd, results.c.body)
                            .where(results.c.period == period))
        branch_rows = {}
        for subject, sid, branch_id, lamp, points, ytd, body in rows:
            data = json.loads(body)
            rules = sorted({f["rule"] for f in data.get("findings", [])})
            if subject == "branch":
                branch_rows[sid] = (lamp, list(data.get("weaknesses", [])), rules)
                continue
            a = agg[branch_id]
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
        out = []
        for branch_id in sorted(branch_rows):
            lamp, weaknesses, rules = branch_rows[branch_id]
            a = agg[branch_id]
            out.append({"period": period, "branch_id": branch_id, "lamp": lamp,
                        **{k: v for k, v in a.items() if k != "member_findings"},
                        "weaknesses": json.dumps(weaknesses), "findings": json.dumps(rules),
                        "member_findings": json.dumps(dict(sorted(a["member_findings"].items())))})
        if out:
            conn.execute(table.insert(), out)


def downgrade() -> None:
    op.drop_table("branch_months")
