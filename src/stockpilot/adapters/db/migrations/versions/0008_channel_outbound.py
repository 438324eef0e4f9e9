"""channel_outbound: outbound available-to-sell pushes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:30:00.000000

Reserved so work on several issues can land in any order; a revision that adds nothing is a no-op.
"""

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
