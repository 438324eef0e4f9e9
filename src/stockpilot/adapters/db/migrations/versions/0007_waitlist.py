"""waitlist: back-in-stock waitlist entries (one per SKU and email)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:25:00.000000
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('waitlist',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('notified_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('unsubscribed_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_waitlist_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist')),
    sa.UniqueConstraint('sku_id', 'email', name='uq_waitlist_sku_id_email')
    )
    with op.batch_alter_table('waitlist', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_sku_id_status_id', ['sku_id', 'status', 'id'], unique=False)
        batch_op.create_index('ix_waitlist_email', ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('waitlist', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_email')
        batch_op.drop_index('ix_waitlist_sku_id_status_id')

    op.drop_table('waitlist')
