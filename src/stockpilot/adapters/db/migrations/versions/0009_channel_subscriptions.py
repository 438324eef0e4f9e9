"""channel_subscriptions: platform webhook subscriptions and polling state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:30:00.000000

Reserved so work on several issues can land in any order; a revision that adds nothing is a no-op.
"""

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
