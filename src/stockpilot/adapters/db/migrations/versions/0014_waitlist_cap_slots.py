"""waitlist_cap_slots: the per-contact frequency cap as slots claimed with a guarded UPDATE

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 03:45:00.000000

One row per (contact, slot) holding when one of the contact's back-in-stock notices was decided. Backfilled from
the entries already notified, newest first (slot 0 the newest), so the cap counts what was sent before the upgrade.
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

_utc = stockpilot.adapters.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('waitlist_cap_slots',
    sa.Column('contact', sa.String(length=254), nullable=False),
    sa.Column('slot', sa.Integer(), nullable=False),
    sa.Column('sent_at', _utc, nullable=False),
    sa.Column('entry_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('contact', 'slot', name=op.f('pk_waitlist_cap_slots'))
    )
    op.execute(
        "INSERT INTO waitlist_cap_slots (contact, slot, sent_at, entry_id) "
        "SELECT contact, rn - 1, notified_at, id FROM ("
        " SELECT COALESCE(email, phone) AS contact, notified_at, id, ROW_NUMBER() OVER ("
        "  PARTITION BY COALESCE(email, phone) ORDER BY notified_at DESC, id DESC) AS rn"
        " FROM waitlist WHERE notified_at IS NOT NULL AND COALESCE(email, phone) IS NOT NULL) ranked")


def downgrade() -> None:
    op.drop_table('waitlist_cap_slots')
