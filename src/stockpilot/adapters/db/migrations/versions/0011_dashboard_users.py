"""dashboard_users: user/password sign-in

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 00:30:00.000000

Reserved so work on several issues can land in any order; a revision that adds nothing is a no-op.
"""

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
