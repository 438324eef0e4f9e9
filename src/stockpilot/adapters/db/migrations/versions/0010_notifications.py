"""notifications: staff alerts, customer notices, ad sets

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:30:00.000000

Reserved so work on several issues can land in any order; a revision that adds nothing is a no-op.
"""

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
