"""ads_and_contacts: ad-set mappings and pauses, waitlist contact preferences

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 00:30:00.000000

Ads: `ad_sets`, `ad_set_skus`, `ad_pauses`. Waitlist: email becomes optional (a phone entry has none); phone,
timezone, confirmed_at (double opt-in), source, deliver_at (a notice held back by quiet hours).
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_utc = stockpilot.adapters.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('ad_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('account', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('pause_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', _utc, nullable=False),
    sa.Column('updated_at', _utc, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ad_sets')),
    sa.UniqueConstraint('platform', 'external_id', name='uq_ad_sets_platform_external_id')
    )
    op.create_table('ad_set_skus',
    sa.Column('ad_set_id', sa.Integer(), nullable=False),
    sa.Column('sku_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ad_set_id'], ['ad_sets.id'], name=op.f('fk_ad_set_skus_ad_set_id_ad_sets')),
    sa.ForeignKeyConstraint(['sku_id'], ['skus.id'], name=op.f('fk_ad_set_skus_sku_id_skus')),
    sa.PrimaryKeyConstraint('ad_set_id', 'sku_id', name=op.f('pk_ad_set_skus'))
    )
    with op.batch_alter_table('ad_set_skus', schema=None) as batch_op:
        batch_op.create_index('ix_ad_set_skus_sku_id', ['sku_id'], unique=False)
    op.create_table('ad_pauses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ad_set_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('requested_at', _utc, nullable=False),
    sa.Column('pause_sent_at', _utc, nullable=True),
    sa.Column('paused_at', _utc, nullable=True),
    sa.Column('prior_status', sa.String(length=32), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=True),
    sa.Column('daily_spend_micros', sa.BigInteger(), nullable=True),
    sa.Column('resume_attempt', sa.Integer(), nullable=False),
    sa.Column('resume_requested_at', _utc, nullable=True),
    sa.Column('resume_sent_at', _utc, nullable=True),
    sa.Column('ended_at', _utc, nullable=True),
    sa.Column('spend_saved_micros', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['ad_set_id'], ['ad_sets.id'], name=op.f('fk_ad_pauses_ad_set_id_ad_sets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ad_pauses'))
    )
    with op.batch_alter_table('ad_pauses', schema=None) as batch_op:
        batch_op.create_index('ix_ad_pauses_ad_set_id_id', ['ad_set_id', 'id'], unique=False)

    with op.batch_alter_table('waitlist', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('confirmed_at', _utc, nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('deliver_at', _utc, nullable=True))
        batch_op.create_unique_constraint('uq_waitlist_sku_id_phone', ['sku_id', 'phone'])
        batch_op.create_index('ix_waitlist_phone', ['phone'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('waitlist', schema=None) as batch_op:
        batch_op.drop_index('ix_waitlist_phone')
        batch_op.drop_constraint('uq_waitlist_sku_id_phone', type_='unique')
        for column in ('deliver_at', 'source', 'confirmed_at', 'timezone', 'phone'):
            batch_op.drop_column(column)
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
    with op.batch_alter_table('ad_pauses', schema=None) as batch_op:
        batch_op.drop_index('ix_ad_pauses_ad_set_id_id')
    op.drop_table('ad_pauses')
    with op.batch_alter_table('ad_set_skus', schema=None) as batch_op:
        batch_op.drop_index('ix_ad_set_skus_sku_id')
    op.drop_table('ad_set_skus')
    op.drop_table('ad_sets')
