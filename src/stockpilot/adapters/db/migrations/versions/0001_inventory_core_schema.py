"""inventory core schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:59:35.232270
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('sku', sa.String(length=128), nullable=False),
    sa.Column('location', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_sku_id', ['sku', 'id'], unique=False)

    op.create_table('locations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locations')),
    sa.UniqueConstraint('code', name=op.f('uq_locations_code'))
    )
    op.create_table('orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('reservation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('reference', name=op.f('uq_orders_reference'))
    )
    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('handle', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('vendor', sa.String(length=255), nullable=True),
    sa.Column('product_type', sa.String(length=255), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('handle', name=op.f('uq_products_handle'))
    )
    op.create_table('reservations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('expires_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_reservations_order_id_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations')),
    sa.UniqueConstraint('reference', name=op.f('uq_reservations_reference'))
    )
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.create_index('ix_reservations_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('skus',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=128), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('barcode', sa.String(length=64), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('backorder_policy', sa.String(length=16), nullable=False),
    sa.Column('backorder_cap', sa.Integer(), nullable=True),
    sa.Column('low_stock_threshold', sa.Integer(), nullable=True),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('committed', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_skus_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_skus')),
    sa.UniqueConstraint('sku', name=op.f('uq_skus_sku'))
    )
    op.create_table('channel_listings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_channel_listings_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_listings')),
    sa.UniqueConstraint('channel', 'external_id', name='uq_channel_listings_channel_external_id')
    )
    op.create_table('movements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('d_on_hand', sa.Integer(), nullable=False),
    sa.Column('d_committed', sa.Integer(), nullable=False),
    sa.Column('d_reserved', sa.Integer(), nullable=False),
    sa.Column('d_incoming', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('reference', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_movements_location_id_locations')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_movements_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_movements')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_movements_idempotency_key'))
    )
    with op.batch_alter_table('movements', schema=None) as batch_op:
        batch_op.create_index('ix_movements_sku_id_id', ['sku_id', 'id'], unique=False)

    op.create_table('order_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('fulfilled', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Integer(), nullable=False),
    sa.Column('returned', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_order_lines_location_id_locations')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_order_lines_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('reservation_lines',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reservation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(
        ['location_id'], ['locations.id'], name=op.f('fk_reservation_lines_location_id_locations')
    ),
    sa.ForeignKeyConstraint(
        ['reservation_id'], ['reservations.id'], name=op.f('fk_reservation_lines_reservation_id_reservations')
    ),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_reservation_lines_sku_id_skus')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation_lines'))
    )
    with op.batch_alter_table('reservation_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reservation_lines_reservation_id'), ['reservation_id'], unique=False)
        batch_op.create_index('ix_reservation_lines_sku_id_location_id', ['sku_id', 'location_id'], unique=False)

    op.create_table('stock_levels',
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('committed', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('committed >= 0', name=op.f('ck_stock_levels_committed_not_negative')),
    sa.CheckConstraint('incoming >= 0', name=op.f('ck_stock_levels_incoming_not_negative')),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_levels_on_hand_not_negative')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_stock_levels_reserved_not_negative')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_levels_location_id_locations')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_stock_levels_sku_id_skus')),
    sa.PrimaryKeyConstraint('sku_id', 'location_id', name=op.f('pk_stock_levels'))
    )


def downgrade() -> None:
    op.drop_table('stock_levels')
    with op.batch_alter_table('reservation_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_reservation_lines_sku_id_location_id')
        batch_op.drop_index(batch_op.f('ix_reservation_lines_reservation_id'))

    op.drop_table('reservation_lines')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('movements', schema=None) as batch_op:
        batch_op.drop_index('ix_movements_sku_id_id')

    op.drop_table('movements')
    op.drop_table('channel_listings')
    op.drop_table('skus')
    with op.batch_alter_table('reservations', schema=None) as batch_op:
        batch_op.drop_index('ix_reservations_status_expires_at')

    op.drop_table('reservations')
    op.drop_table('products')
    op.drop_table('orders')
    op.drop_table('locations')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_sku_id')

    op.drop_table('events')
    op.drop_table('api_tokens')
