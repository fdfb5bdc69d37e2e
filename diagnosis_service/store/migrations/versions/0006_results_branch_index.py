"""ix_results_branch with the subject: a branch's members without scanning the period

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_results_branch", table_name="results")
    op.create_index("ix_results_branch", "results", ["period", "branch_id", "subject"])


def downgrade() -> None:
    op.drop_index("ix_results_branch", table_name="results")
    op.create_index("ix_results_branch", "results", ["period", "branch_id"])
