"""event consumers: consumer_positions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

import stockpilot.adapters.db.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consumer_positions',
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('leased_by', sa.String(length=128), nullable=True),
    sa.Column('leased_until', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('gap_upto', sa.BigInteger(), nullable=True),
    sa.Column('gap_horizon', sa.BigInteger(), nullable=True),
    sa.Column('failing_event_id', sa.BigInteger(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', stockpilot.adapters.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_consumer_positions'))
    )


def downgrade() -> None:
    op.drop_table('consumer_positions')
