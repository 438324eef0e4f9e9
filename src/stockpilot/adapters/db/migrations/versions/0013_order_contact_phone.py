"""order contacts and backorder notices carry a phone: backorder notices by SMS when there is no email

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 03:45:00.000000

order_contacts.email becomes nullable beside a new nullable phone (E.164), with a check that at least one is set;
backorder_notices keeps the phone it texts as it keeps the email it writes to (either may be null).
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)
        batch_op.create_check_constraint(op.f('ck_order_contacts_email_or_phone'),
                                         'email IS NOT NULL OR phone IS NOT NULL')
    with op.batch_alter_table('backorder_notices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone', sa.String(length=16), nullable=True))
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)


def downgrade() -> None:
    # Phone-only rows cannot keep a NOT NULL email: they go (their notices were texts).
    op.execute('DELETE FROM backorder_notices WHERE email IS NULL')
    op.execute('DELETE FROM order_contacts WHERE email IS NULL')
    with op.batch_alter_table('backorder_notices', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
        batch_op.drop_column('phone')
    with op.batch_alter_table('order_contacts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_order_contacts_email_or_phone'), type_='check')
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
        batch_op.drop_column('phone')
