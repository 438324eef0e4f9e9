"""channel_push_batches: outbound pushes carry many SKUs per platform request

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 03:45:00.000000

A batch per channel gathers the (channel, SKU) coalescing rows that need a push, up to the platform's request limit
(Shopify 250 quantities, WooCommerce 100 updates, BigCommerce 2,000 items); `channel_push_state.batch_id` names the
batch a queued row belongs to.
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_push_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('limit', sa.Integer(), nullable=False),
    sa.Column('due_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('sealed_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('lines', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'],
                            name=op.f('fk_channel_push_batches_channel_id_channels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_push_batches'))
    )
    with op.batch_alter_table('channel_push_batches', schema=None) as batch_op:
        batch_op.create_index('ix_channel_push_batches_channel_id_sealed_at', ['channel_id', 'sealed_at'],
                              unique=False)
    with op.batch_alter_table('channel_push_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batch_id', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_channel_push_state_batch_id', ['batch_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('channel_push_state', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_push_state_batch_id')
        batch_op.drop_column('batch_id')
    with op.batch_alter_table('channel_push_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_push_batches_channel_id_sealed_at')
    op.drop_table('channel_push_batches')
