"""ads_and_contacts: ad-set mappings and pauses, waitlist contact preferences

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:30:00.000000

Reserved so work on several issues can land in any order; a revision that adds nothing is a no-op.
"""

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
