"""channel_subscriptions: platform webhook subscriptions and polling state

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:30:00.000000

Amazon seller accounts (SP-API polling), poll cursors per channel and stream, and the webhook subscriptions
Stockpilot registered on each platform with their last health check.
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('amazon_accounts',
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('seller_id', sa.String(length=64), nullable=False),
    sa.Column('marketplace_id', sa.String(length=32), nullable=False),
    sa.Column('lwa_client_id', sa.String(length=255), nullable=False),
    sa.Column('lwa_url', sa.String(length=1000), nullable=False),
    sa.Column('poll_seconds', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'], name=op.f('fk_amazon_accounts_channel_id_channels')),
    sa.PrimaryKeyConstraint('channel_id', name=op.f('pk_amazon_accounts'))
    )
    op.create_table('channel_poll_cursors',
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('stream', sa.String(length=32), nullable=False),
    sa.Column('cursor', sa.String(length=64), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'],
                            name=op.f('fk_channel_poll_cursors_channel_id_channels')),
    sa.PrimaryKeyConstraint('channel_id', 'stream', name=op.f('pk_channel_poll_cursors'))
    )
    op.create_table('channel_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel_id', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=128), nullable=False),
    sa.Column('address', sa.String(length=1000), nullable=False),
    sa.Column('platform_id', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('checked_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['channel_id'], ['channels.id'],
                            name=op.f('fk_channel_subscriptions_channel_id_channels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_subscriptions')),
    sa.UniqueConstraint('channel_id', 'topic', name='uq_channel_subscriptions_channel_id_topic')
    )


def downgrade() -> None:
    op.drop_table('channel_subscriptions')
    op.drop_table('channel_poll_cursors')
    op.drop_table('amazon_accounts')
