"""reserved: a placeholder revision, so work in flight can claim it and land in any order

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 03:45:00.000000

No schema change yet. Whoever takes this revision renames the file and fills in upgrade/downgrade.
"""

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
