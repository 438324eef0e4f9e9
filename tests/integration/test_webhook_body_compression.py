"""Revision 0017: on PostgreSQL a stored webhook body is lz4-compressed and read back byte for byte; the
downgrade returns the column to pglz and the upgrade comes back to lz4."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from stockpilot.adapters.db.migrate import alembic_config, upgrade
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.support.channel_signing import body_of, fixture, shopify_headers

SHOP, SECRET = "tees.myshopify.com", "shpss_compression"


def _column_compression(conn) -> str:
    return str(conn.execute(text("SELECT attcompression FROM pg_attribute WHERE attrelid = "
                                 "'webhook_deliveries'::regclass AND attname = 'body'")).scalar_one())


def _store_one(sp, order_id: int) -> tuple[bytes, str | None]:
    payload = fixture("shopify/orders_create_captured_activepieces.json")
    payload["id"] = order_id
    body = body_of(payload)
    assert len(body) > 2048  # over the TOAST threshold: the row's body is compressed
    headers = {k.lower(): v for k, v in shopify_headers(SECRET, body, "orders/create", SHOP).items()}  # as in ASGI
    accepted = sp.webhook_intake.receive("shopify", None, headers, body)
    with sp.db.engine.connect() as conn:
        stored, method = conn.execute(text("SELECT body, pg_column_compression(body) FROM webhook_deliveries "
                                           "WHERE id = :id"), {"id": accepted.delivery_id}).one()
    assert bytes(stored) == body
    return bytes(stored), method


def test_bodies_are_stored_with_lz4_and_the_downgrade_returns_to_pglz(pg_url):
    sp = build(Settings(database_url=pg_url), migrate=False)
    try:
        sp.channels.add("shopify", "shop", secret=SECRET, shop_domain=SHOP)
        with sp.db.engine.connect() as conn:
            assert _column_compression(conn) == "l"
        assert _store_one(sp, 1001)[1] == "lz4"
        with sp.db.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0016")
        with sp.db.engine.connect() as conn:
            assert _column_compression(conn) == "p"
        assert _store_one(sp, 1002)[1] == "pglz"
    finally:
        upgrade(sp.db)
        with sp.db.engine.connect() as conn:
            assert _column_compression(conn) == "l"
        sp.close()
