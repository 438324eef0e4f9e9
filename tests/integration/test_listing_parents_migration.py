"""Revision 0016 folds the old two-row WooCommerce variation mappings (the variation, and its parent as a second
`product` listing of the SKU) into one row that names its parent, and its downgrade gives the parents back, on
SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from stockpilot.adapters.db.migrate import alembic_config, upgrade
from tests.integration.helpers import stock
from tests.integration.purchasing_helpers import Runtime
from tests.support.woocommerce_api import WooCommerceApi

CK, CS = "ck_migrate", "cs_migrate"


def listings(sp) -> dict[tuple[str, str], tuple]:
    with sp.db.engine.connect() as conn:
        columns = "channel, external_id, s.sku, role" + (
            ", parent_external_id" if _has_parent_column(conn) else "")
        return {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(text(
            f"SELECT {columns} FROM channel_listings l JOIN skus s ON s.id = l.sku_id"))}


def _has_parent_column(conn) -> bool:
    return any(c["name"] == "parent_external_id" for c in inspect(conn).get_columns("channel_listings"))


def test_old_pairs_are_folded_into_the_variation_and_given_back_on_downgrade(sp):
    for sku in ("TEE-S", "TEE-M", "MUG", "BC-TEE"):
        stock(sp, sku, {"WH": 5})
    with WooCommerceApi(consumer_key=CK, consumer_secret=CS) as woo:
        woo.add_variable(900)
        woo.add_product(1001, "TEE-S", 50, variation_of=900)
        woo.add_product(1002, "TEE-M", 50, variation_of=900)
        woo.add_product(93, "MUG", 50)
        sp.channels.add("woocommerce", "woo", secret="s", site_url=woo.site_url, api_token=f"{CK}:{CS}")
        sp.channels.add("bigcommerce", "bc", secret="b", store_hash="abc123", api_url="http://127.0.0.1:9",
                        api_token="bc-token")  # unreachable: its pushes only retry
        with sp.db.engine.connect() as conn:
            ids = dict(conn.execute(text("SELECT sku, id FROM skus")).all())
        try:
            with sp.db.engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0015")
                # What the old schema could hold: TEE-S's pair; TEE-M's variation, whose parent row TEE-S took.
                conn.execute(text("INSERT INTO channel_listings (channel, external_id, sku_id, role) VALUES "
                                  "('woo', '1001', :s, 'variation'), ('woo', '900', :s, 'product'), "
                                  "('woo', '1002', :m, 'variation'), ('woo', '93', :mug, 'product'), "
                                  "('bc', '101', :bc, 'variant'), ('bc', '55', :bc, 'product')"),
                             {"s": ids["TEE-S"], "m": ids["TEE-M"], "mug": ids["MUG"], "bc": ids["BC-TEE"]})
            upgrade(sp.db)
            assert listings(sp) == {
                ("woo", "1001"): ("TEE-S", "variation", "900"), ("woo", "1002"): ("TEE-M", "variation", None),
                ("woo", "93"): ("MUG", "product", None), ("bc", "101"): ("BC-TEE", "variant", None),
                ("bc", "55"): ("BC-TEE", "product", None)}
            rt = Runtime.build(sp)
            rt.settle()
            rt.advance(seconds=1)  # past the batch's gathering delay
            assert woo.stock(1001, variation_of=900) == 5  # the folded pair pushes under its parent
            assert woo.stock(1002, variation_of=900) == 50  # no parent known: not pushed, not guessed
            sp.catalog.map_listing("woo", "1002", "TEE-M", role="variation", parent="900")
            with sp.db.engine.begin() as conn:
                command.downgrade(alembic_config(conn), "0015")
            assert listings(sp) == {
                ("woo", "1001"): ("TEE-S", "variation"), ("woo", "1002"): ("TEE-M", "variation"),
                ("woo", "900"): ("TEE-S", "product"), ("woo", "93"): ("MUG", "product"),
                ("bc", "101"): ("BC-TEE", "variant"), ("bc", "55"): ("BC-TEE", "product")}
        finally:
            upgrade(sp.db)
