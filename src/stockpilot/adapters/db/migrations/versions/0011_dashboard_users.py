"""dashboard_users: user/password sign-in

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:30:00.000000

The dashboard's users (Argon2id password hashes), the per-name failed sign-in counter behind the lockout, and an
index on decisions (kind, created_at) for the overview's alerts of the last 24 h.
"""

import sqlalchemy as sa
from alembic import op

from stockpilot.adapters.db.types import UtcDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_signin_at", UtcDateTime(timezone=True)),
        sa.Column("disabled_at", UtcDateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_users"),
        sa.UniqueConstraint("name", name="uq_dashboard_users_name"),
    )
    op.create_table(
        "signin_failures",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", UtcDateTime(timezone=True)),
        sa.PrimaryKeyConstraint("name", name="pk_signin_failures"),
    )
    # The overview's "alerts, last 24 h" reads staff_alert decisions by time: a range, not a scan of the log.
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_kind_created_at", ["kind", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_kind_created_at")
    op.drop_table("signin_failures")
    op.drop_table("dashboard_users")
