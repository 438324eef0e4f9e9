"""WooCommerce variable products: a T-shirt in three sizes is one parent product with three variations, each its
own SKU. Each is listed with its parent (`parent_external_id`), pushed under it, sold through order lines that name
the parent and the variation, counted through product.updated, and reconciled from the parent's variation pages,
against the loopback WooCommerce REST v3 fake, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.channel_helpers import deliveries
from tests.integration.helpers import level, line, stock, totals
from tests.integration.push_helpers import pushed_values
from tests.support.channel_signing import body_of, fixture, woocommerce_headers
from tests.support.woocommerce_api import WooCommerceApi

CK, CS = "ck_1f2e3d4c5b6a79880716253443526170", "cs_0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d"
SECRET = "wc-variations-secret"
TEE, HOODIE = 900, 960  # variable products
SIZES = {"TEE-S": 1001, "TEE-M": 1002, "TEE-L": 1250}  # TEE-L sits on the second page of the variations
FILLERS = range(1100, 1210)  # 110 sizes and colours the merchant sells without Stockpilot
ON_HAND = {"TEE-S": 10, "TEE-M": 11, "TEE-L": 12, "HOODIE-BLUE": 4, "MUG": 6}


@pytest.fixture
def woo():
    with WooCommerceApi(consumer_key=CK, consumer_secret=CS) as api:
        api.add_product(93, "MUG", 50)
        api.add_variable(TEE, "TEE")
        for sku, variation in SIZES.items():
            api.add_product(variation, sku, 50, variation_of=TEE)
        for n in FILLERS:
            api.add_product(n, "", 5, variation_of=TEE)
        api.add_variable(HOODIE, "HOODIE")
        api.add_product(9601, "HOODIE-BLUE", 50, variation_of=HOODIE)
        yield api


def put_listing(client, external_id: str, sku: str, role: str, parent: str | None = None):
    body = {"channel": "woo", "external_id": external_id, "sku": sku, "role": role}
    return client.put("/api/v1/channel-listings", json={**body, "parent_external_id": parent} if parent else body)


@pytest.fixture
def listed(app, client, woo):
    """Every SKU stocked at WH and listed on the store (over HTTP), nothing pushed yet."""
    for sku, on_hand in ON_HAND.items():
        stock(app, sku, {"WH": on_hand})
    app.channels.add("woocommerce", "woo", secret=SECRET, site_url=woo.site_url, api_token=f"{CK}:{CS}",
                     location="WH")
    for sku, variation in SIZES.items():
        answer = put_listing(client, str(variation), sku, "variation", str(TEE))
        assert answer.status_code == 200 and answer.json()["parent_external_id"] == str(TEE), answer.text
    assert put_listing(client, "9601", "HOODIE-BLUE", "variation", str(HOODIE)).status_code == 200
    assert put_listing(client, "93", "MUG", "product").status_code == 200
    return woo


def post_woo(client, topic: str, payload: dict[str, Any]):
    raw = body_of(payload)
    answer = client.post("/webhooks/woocommerce/woo", content=raw,
                         headers=woocommerce_headers(SECRET, raw, topic, "https://tees.example/"))
    assert answer.status_code == 200, answer.text
    return answer


def order(order_id: int, lines: list[tuple[int, int, str, int]]) -> dict[str, Any]:
    """The docs' order.created body with line items (product_id, variation_id, sku, quantity)."""
    body = copy.deepcopy(fixture("woocommerce/order_created_docs_example.json"))
    template = body["line_items"][1]  # the docs' own variation line: product_id 22, variation_id 23
    body["id"], body["number"] = order_id, str(order_id)
    body["line_items"] = [{**template, "id": 5000 + n, "product_id": product, "variation_id": variation, "sku": sku,
                           "quantity": quantity} for n, (product, variation, sku, quantity) in enumerate(lines)]
    return body


def test_three_sizes_of_one_product_are_each_pushed_under_their_parent(app, rt, listed):
    woo = listed
    rt.settle()
    sent = {path: sorted((i["id"], i["stock_quantity"]) for i in body["update"]) for path, body in woo.batches}
    # One request per parent: the three sizes together, the hoodie's colour under its own product.
    assert sent == {
        "/wp-json/wc/v3/products/batch": [(93, 6)],
        f"/wp-json/wc/v3/products/{TEE}/variations/batch": [(1001, 10), (1002, 11), (1250, 12)],
        f"/wp-json/wc/v3/products/{HOODIE}/variations/batch": [(9601, 4)],
    }
    assert {sku: woo.stock(v, variation_of=TEE) for sku, v in SIZES.items()} == {"TEE-S": 10, "TEE-M": 11,
                                                                                 "TEE-L": 12}
    app.orders.place("SO-1", [line("TEE-M", 2, "WH")])
    rt.advance(seconds=1)
    # One size sold: one PUT of that variation under its parent, the other sizes untouched.
    assert woo.puts == [(f"{TEE}/1002", {"manage_stock": True, "stock_quantity": 9})]
    assert {sku: woo.stock(v, variation_of=TEE) for sku, v in SIZES.items()} == {"TEE-S": 10, "TEE-M": 9,
                                                                                 "TEE-L": 12}
    assert {woo.parent_of(v) for v in SIZES.values()} == {TEE} and woo.parent_of(9601) == HOODIE
    assert {k: v for k, v in pushed_values(app).items() if k.startswith("variation:")} == {
        "variation:1001": (10, 10), "variation:1002": (9, 9), "variation:1250": (12, 12), "variation:9601": (4, 4)}


def test_order_lines_naming_the_parent_and_a_variation_sell_that_size(app, client, rt, listed):
    post_woo(client, "order.created", order(727, [(TEE, 1002, "", 2), (TEE, 1250, "TEE-L", 1)]))
    rt.settle()
    assert {sku: totals(app, sku)["committed"] for sku in SIZES} == {"TEE-S": 0, "TEE-M": 2, "TEE-L": 1}
    # A size Stockpilot does not list is not sold as one of its siblings that share the parent.
    post_woo(client, "order.created", order(728, [(TEE, FILLERS[0], "", 1)]))
    rt.settle()
    [parked] = deliveries(client, "parked")
    assert parked["reason"] == "unknown_sku"
    assert {sku: totals(app, sku)["committed"] for sku in SIZES} == {"TEE-S": 0, "TEE-M": 2, "TEE-L": 1}
    assert listed.stock(1002, variation_of=TEE) == 9 and listed.stock(1250, variation_of=TEE) == 11


def test_product_updated_for_a_variation_is_that_sizes_own_count(app, client, rt, listed):
    woo = listed
    rt.settle()  # every size pushed: S 10, M 11, L 12
    # In WooCommerce's admin: TEE-M counted down to 7 (4 sold in the shop), TEE-S saved unchanged (the echo).
    woo.products[f"{TEE}/1002"]["stock_quantity"] = 7
    body = woo.webhook_body(1002)
    assert (body["type"], body["parent_id"]) == ("variation", TEE)  # /products/{id}'s shape for a variation
    post_woo(client, "product.updated", body)
    post_woo(client, "product.updated", woo.webhook_body(1001))
    # The variations endpoint's older shape (the REST docs' example): no type, no parent_id, only the up link.
    docs = copy.deepcopy(fixture("woocommerce/product_variation_updated_docs_example.json"))
    docs.update(id=1250, sku="", manage_stock=True, stock_quantity=15, date_modified_gmt="2026-12-03T12:00:00")
    post_woo(client, "product.updated", docs)
    rt.settle()
    assert {sku: level(app, sku, "WH")["on_hand"] for sku in SIZES} == {"TEE-S": 10, "TEE-M": 7, "TEE-L": 15}
    effects = {e["item"]: e for d in deliveries(client) for e in d["effect"] or []}
    assert effects["variation:1002"]["sku"] == "TEE-M" and effects["variation:1002"]["delta"] == -4
    assert effects["variation:1250"]["sku"] == "TEE-L" and effects["variation:1250"]["delta"] == 3
    assert "echo" in effects["variation:1001"]["ignored"]


def test_reconciliation_reads_each_parents_variation_pages_and_attributes_each_count(app, rt, listed):
    woo = listed
    rt.settle()
    woo.products[f"{TEE}/1001"]["stock_quantity"] = 3  # edited in WooCommerce, no webhook told us
    woo.products[f"{TEE}/1250"]["stock_quantity"] = 14
    requests_before, pages_before = len(woo.puts) + len(woo.batches), woo.list_pages
    report = {r["sku"]: r for r in app.channel_reconcile.drift("woo")}
    assert {sku: (r["item_key"], r["available_to_sell"], r["channel"], r["drift"]) for sku, r in report.items()} == {
        "TEE-S": ("variation:1001", 10, 3, -7), "TEE-M": ("variation:1002", 11, 11, 0),
        "TEE-L": ("variation:1250", 12, 14, 2), "HOODIE-BLUE": ("variation:9601", 4, 4, 0),
        "MUG": ("product:93", 6, 6, 0)}
    # /products (1 page), the tee's 113 variations (2 pages of 100), the hoodie's (1 page); nothing written.
    assert woo.list_pages - pages_before == 4 and len(woo.puts) + len(woo.batches) == requests_before
    app.channel_reconcile.fix("woo")
    rt.advance(seconds=1)
    assert woo.stock(1001, variation_of=TEE) == 10 and woo.stock(1250, variation_of=TEE) == 12
    assert {woo.parent_of(v) for v in SIZES.values()} == {TEE}


def test_a_variation_is_listed_with_its_parent_and_the_parent_is_no_listing_of_its_own(app, client):
    for sku in ("TEE-S", "TEE-M", "MUG"):
        stock(app, sku, {"WH": 1})
    app.channels.add("woocommerce", "woo", secret=SECRET, site_url="https://tees.example")
    no_parent = put_listing(client, "1001", "TEE-S", "variation")
    assert no_parent.status_code == 422 and "needs its parent product's id" in no_parent.json()["detail"]
    not_a_variation = put_listing(client, "93", "MUG", "product", "900")
    assert not_a_variation.status_code == 422 and "only a variation has a parent" in not_a_variation.json()["detail"]
    not_an_id = put_listing(client, "1001", "TEE-S", "variation", "tee-shirt")
    assert not_an_id.status_code == 422 and "whole number" in not_an_id.json()["detail"]
    assert app.catalog.resolve_listing("woo", "1001") is None  # nothing half-written
    # The old way (the parent as a `product` listing of the SKU) is folded when the variation names its parent.
    assert put_listing(client, "900", "TEE-S", "product").status_code == 200
    assert put_listing(client, "1001", "TEE-S", "variation", "900").status_code == 200
    assert put_listing(client, "1002", "TEE-M", "variation", "900").status_code == 200  # a sibling, same parent
    assert app.catalog.resolve_listing("woo", "900") is None
    assert {app.catalog.resolve_listing("woo", v) for v in ("1001", "1002")} == {"TEE-S", "TEE-M"}
    parent_as_product = put_listing(client, "900", "MUG", "product")
    assert parent_as_product.status_code == 409
    assert "parent product of listed variations 1001 (TEE-S), 1002 (TEE-M)" in parent_as_product.json()["detail"]
    assert put_listing(client, "93", "MUG", "product").status_code == 200
    simple_as_parent = put_listing(client, "1003", "TEE-M", "variation", "93")
    assert simple_as_parent.status_code == 409 and "93 is listed as product of MUG" in simple_as_parent.json()["detail"]


def test_the_cli_lists_a_variation_with_parent_and_refuses_one_without(app, db_url):
    from tests.e2e.test_serve_process import _cli

    stock(app, "TEE-S", {"WH": 1})
    app.channels.add("woocommerce", "woo", secret=SECRET, site_url="https://tees.example")
    refused = _cli(db_url, "channel", "listing", "woo", "1001", "TEE-S", "--role", "variation", check=False)
    assert refused.returncode == 1 and "--parent PARENT_ID" in refused.stderr
    done = _cli(db_url, "channel", "listing", "woo", "1001", "TEE-S", "--role", "variation", "--parent", "900")
    assert done.stdout.strip() == "woo variation 1001 (of product 900) -> TEE-S"
    assert app.catalog.resolve_listing("woo", "1001") == "TEE-S"


def test_a_variation_whose_stock_the_parent_manages_is_not_read_as_its_own_count(app, rt, listed):
    woo = listed
    rt.settle()
    # WooCommerce answers `manage_stock: "parent"` for a variation drawing on its parent's pool; the quantity
    # shown is the parent's, so it is no count of this size.
    woo.products[f"{TEE}/1002"].update(manage_stock="parent", stock_quantity=40)
    report = {r["sku"]: r for r in app.channel_reconcile.drift("woo")}
    assert (report["TEE-M"]["channel"], report["TEE-M"]["drift"]) == (None, None)
    assert report["TEE-M"]["problem"] == "the channel does not track this item"
    assert (report["TEE-S"]["channel"], report["TEE-S"]["drift"]) == (10, 0)  # its siblings are read as before


def test_a_woocommerce_product_id_must_be_a_number_where_a_shopify_one_need_not(app, client):
    stock(app, "MUG", {"WH": 1})
    app.channels.add("woocommerce", "woo", secret=SECRET, site_url="https://tees.example")
    app.channels.add("shopify", "shop", secret="s", shop_domain="mugs.myshopify.com")
    refused = put_listing(client, "mug-classic", "MUG", "product")
    assert refused.status_code == 422 and "WooCommerce product's id must be a whole number" in refused.json()["detail"]
    assert app.catalog.resolve_listing("woo", "mug-classic") is None
    answer = client.put("/api/v1/channel-listings", json={"channel": "shop", "external_id": "gid-like-7",
                                                          "sku": "MUG", "role": "inventory_item"})
    assert answer.status_code == 200, answer.text
