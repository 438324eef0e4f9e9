"""Backorder notices, pure parts: ETA from the queue and open POs, the margin rule, the customer email in channel
payloads (the platforms' own documented / captured order bodies)."""

from __future__ import annotations

from datetime import date

from stockpilot.adapters.channels import bigcommerce, shopify, woocommerce
from stockpilot.adapters.notify.cancel_link import CancelTokenInvalid, sign_cancel, verify_cancel
from stockpilot.adapters.notify.unsubscribe import sign_unsubscribe
from stockpilot.domain.backorders import eta_for_units, order_eta, worth_an_update
from tests.support.channel_signing import fixture

TODAY = date(2026, 12, 2)
SUPPLY = [(date(2026, 12, 5), 4), (date(2026, 12, 9), 10)]


def test_eta_is_the_po_that_reaches_this_orders_place_in_the_queue():
    assert eta_for_units(3, SUPPLY, TODAY, 7) == date(2026, 12, 5)
    assert eta_for_units(4, SUPPLY, TODAY, 7) == date(2026, 12, 5)
    assert eta_for_units(5, SUPPLY, TODAY, 7) == date(2026, 12, 9)
    assert eta_for_units(15, SUPPLY, TODAY, 6.5) == date(2026, 12, 9)  # beyond what is on order: lead time
    assert eta_for_units(15, [], TODAY, None) is None  # nobody supplies it
    assert eta_for_units(0, SUPPLY, TODAY, None) == TODAY


def test_the_order_ships_with_its_last_line_and_the_margin_decides_updates():
    assert order_eta([date(2026, 12, 5), date(2026, 12, 9)]) == date(2026, 12, 9)
    assert order_eta([date(2026, 12, 5), None]) is None
    assert not worth_an_update(date(2026, 12, 5), date(2026, 12, 7), 2)
    assert worth_an_update(date(2026, 12, 5), date(2026, 12, 8), 2)
    assert worth_an_update(date(2026, 12, 5), date(2026, 12, 2), 2)  # earlier counts too
    assert worth_an_update(None, date(2026, 12, 5), 2) and worth_an_update(date(2026, 12, 5), None, 2)
    assert not worth_an_update(None, None, 2)


def test_the_customer_email_comes_from_each_platforms_order_body():
    (place,) = shopify.parse("orders/create", fixture("shopify/sdk_fixture_order.json")["order"])
    assert place.customer_email == "bob.norman@hostmail.com"
    captured = fixture("shopify/orders_create_captured_activepieces.json")  # email "" and no customer: none
    assert all(getattr(c, "customer_email", None) is None for c in shopify.parse("orders/create", captured))
    (woo,) = woocommerce.parse("order.created", fixture("woocommerce/order_created_docs_example.json"))
    assert woo.customer_email == "john.doe@example.com"
    order = {"id": 100, "status_id": 11, "date_modified": "Tue, 20 Nov 2012 00:00:00 +0000",
             "billing_address": {"first_name": "Jane", "email": "Jane@Example.com"}}
    (bc,) = bigcommerce.parse("store/order/created", order, [{"quantity": 1, "sku": "TEE", "product_id": 7}])
    assert bc.customer_email == "jane@example.com"
    order["billing_address"]["email"] = "not an address"
    (bc,) = bigcommerce.parse("store/order/created", order, [{"quantity": 1, "sku": "TEE", "product_id": 7}])
    assert bc.customer_email is None  # applied all the same; nobody is emailed


def test_cancel_links_verify_only_their_own_signature():
    token = sign_cancel(42, "secret")
    assert verify_cancel(token, "secret") == 42
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), sign_cancel(42, "other"), "v1.x", "",
                sign_unsubscribe(42, "secret")):
        try:
            verify_cancel(bad, "secret")
        except CancelTokenInvalid:
            continue
        raise AssertionError(f"{bad!r} verified")
