"""channel_outbound: outbound available-to-sell pushes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:30:00.000000

Percent buffers on channels, a role on channel listings (which id a push addresses), the channel location
mapping and the per-(channel, SKU) coalescing state of pushes.
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('buffer_percent', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('channel_listings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_channel_listings_channel_sku_id', ['channel', 'sku_id'], unique=False)
    with op.batch_alter_table('channel_pushes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_value', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('confirmed_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('recent_values', sa.JSON(), nullable=True))
    op.create_table('channel_locations',
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('location_id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_channel_locations_channel_id_channels')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'],
                            name=op.f('fk_channel_locations_location_id_locations')),
    sa.PrimaryKeyConstraint('channel_id', 'location_id', name=op.f('pk_channel_locations'))
    )
    op.create_table('channel_push_state',
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.Column('pushed_generation', sa.BigInteger(), nullable=False),
    sa.Column('queued', sa.Boolean(), nullable=False),
    sa.Column('pushes', sa.Integer(), nullable=False),
    sa.Column('last_pushed_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_channel_push_state_channel_id_channels')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_channel_push_state_sku_id_skus')),
    sa.PrimaryKeyConstraint('channel_id', 'sku_id', name=op.f('pk_channel_push_state'))
    )


def downgrade() -> None:
    op.drop_table('channel_push_state')
    op.drop_table('channel_locations')
    with op.batch_alter_table('channel_pushes', schema=None) as batch_op:
        batch_op.drop_column('recent_values')
        batch_op.drop_column('confirmed_at')
        batch_op.drop_column('confirmed_value')
    with op.batch_alter_table('channel_listings', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_listings_channel_sku_id')
        batch_op.drop_column('role')
    with op.batch_alter_table('channels', schema=None) as batch_op:
        batch_op.drop_column('buffer_percent')
