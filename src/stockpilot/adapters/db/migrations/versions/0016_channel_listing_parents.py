"""channel_listing_parents: a variation listing carries its parent product's id

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 10:45:00.000000

A WooCommerce variation is addressed under its parent (`/products/{parent}/variations/{id}`). The parent used to be
a second listing of the SKU (role `product`), but listings are unique per (channel, external id), so one parent id
could belong to one SKU only: a T-shirt in three sizes could not have all three variations listed. Now the
variation's own row names its parent (`parent_external_id`), and any number of variations share one parent.

Upgrade folds the old pairs: on WooCommerce channels, a `variation` listing takes as its parent the `product`
listing of the same SKU, and that `product` row is removed (a variable parent holds no stock of its own).
Downgrade gives each parent back as a `product` row of one of its SKUs (the lowest SKU id; the old schema cannot
hold more than one) where the id is not listed otherwise, then drops the column.
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_WOO = "channel IN (SELECT name FROM channels WHERE kind = 'woocommerce')"


def upgrade() -> None:
    with op.batch_alter_table('channel_listings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_external_id', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_channel_listings_channel_parent_external_id', ['channel', 'parent_external_id'],
                              unique=False)
    op.execute(
        "UPDATE channel_listings SET parent_external_id = ("
        " SELECT p.external_id FROM channel_listings p WHERE p.channel = channel_listings.channel"
        " AND p.sku_id = channel_listings.sku_id AND p.role = 'product' ORDER BY p.id LIMIT 1)"
        f" WHERE role = 'variation' AND parent_external_id IS NULL AND {_WOO}")
    op.execute(
        "DELETE FROM channel_listings WHERE role = 'product' AND EXISTS ("
        " SELECT 1 FROM channel_listings v WHERE v.channel = channel_listings.channel"
        " AND v.sku_id = channel_listings.sku_id AND v.role = 'variation'"
        f" AND v.parent_external_id = channel_listings.external_id) AND {_WOO}")


def downgrade() -> None:
    op.execute(
        "INSERT INTO channel_listings (channel, external_id, sku_id, role)"
        " SELECT v.channel, v.parent_external_id, MIN(v.sku_id), 'product' FROM channel_listings v"
        " WHERE v.role = 'variation' AND v.parent_external_id IS NOT NULL AND NOT EXISTS ("
        "  SELECT 1 FROM channel_listings x WHERE x.channel = v.channel AND x.external_id = v.parent_external_id)"
        " GROUP BY v.channel, v.parent_external_id")
    with op.batch_alter_table('channel_listings', schema=None) as batch_op:
        batch_op.drop_index('ix_channel_listings_channel_parent_external_id')
        batch_op.drop_column('parent_external_id')
