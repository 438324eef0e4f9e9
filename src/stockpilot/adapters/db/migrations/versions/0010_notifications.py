"""notifications: staff alerts (occurrences, merge windows, digest items, SKU tags), customer backorder notices

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_digest_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('destination', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('link', sa.String(length=1000), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('digest_id', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_digest_items'))
    )
    with op.batch_alter_table('alert_digest_items', schema=None) as batch_op:
        batch_op.create_index('ix_alert_digest_items_digest_id_destination', ['digest_id', 'destination'], unique=False)

    op.create_table('alert_occurrences',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_alert_occurrences'))
    )
    op.create_table('alert_windows',
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('window_no', sa.Integer(), nullable=False),
    sa.Column('opened_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('suppressed', sa.Integer(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'subject', name=op.f('pk_alert_windows'))
    )
    op.create_table('backorder_notices',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('eta', sa.Date(), nullable=True),
    sa.Column('notices', sa.Integer(), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_backorder_notices_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_backorder_notices'))
    )
    with op.batch_alter_table('backorder_notices', schema=None) as batch_op:
        batch_op.create_index('ix_backorder_notices_status', ['status'], unique=False)

    op.create_table('order_contacts',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_contacts_order_id_orders')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_order_contacts'))
    )
    op.create_table('sku_tags',
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_sku_tags_sku_id_skus')),
    sa.PrimaryKeyConstraint('sku_id', 'tag', name=op.f('pk_sku_tags'))
    )


def downgrade() -> None:
    op.drop_table('sku_tags')
    op.drop_table('order_contacts')
    with op.batch_alter_table('backorder_notices', schema=None) as batch_op:
        batch_op.drop_index('ix_backorder_notices_status')

    op.drop_table('backorder_notices')
    op.drop_table('alert_windows')
    op.drop_table('alert_occurrences')
    with op.batch_alter_table('alert_digest_items', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_digest_items_digest_id_destination')

    op.drop_table('alert_digest_items')
