"""Backorder notices by SMS: a customer who left a phone and no email is texted (backordered with an ETA, a new
date, shipped) through Apprise's Twilio plugin against a loopback Twilio that checks the real request (basic auth,
form-encoded To / From / Body), with a short signed cancel link in one segment; phones captured from the API and
from channel payloads (national numbers read in the address's country). SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import re
from datetime import timedelta

import pytest

from stockpilot.adapters.channels import bigcommerce, shopify, woocommerce
from stockpilot.adapters.db import backorder_store
from stockpilot.adapters.notify.alert_templates import render
from stockpilot.adapters.notify.cancel_link import sign_cancel
from stockpilot.runtime import decisions
from tests.integration.backorder_helpers import CUSTOMER, make, smtp, supplier, to
from tests.integration.channel_helpers import SHOP, SHOP_SECRET, post_shopify, shopify_order
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import outbox_rows, purchase_orders
from tests.support.channel_signing import body_of, fixture, woocommerce_headers
from tests.support.serve_process import api_client
from tests.support.twilio_api import TwilioApi, sms_segments

__all__ = ["make", "smtp"]  # fixtures

SID, AUTH = "AC" + "5b" * 16, "9d" * 16
FROM = "+15550001111"
PHONE = "+14155550100"


@pytest.fixture
def twilio():
    with TwilioApi(SID, AUTH) as api:
        yield api


@pytest.fixture
def texting(make, twilio):
    def factory(**overrides):
        return make(waitlist_sms_url=f"twilio://{SID}:{AUTH}@{FROM.lstrip('+')}", twilio_api_url=twilio.url,
                    **overrides)
    return factory


def contact_of(sp, reference):
    with sp.db.read() as conn:
        order = backorder_store.order_by_reference(conn, reference)
        return backorder_store.contact(conn, order["id"])


def test_a_phone_only_customer_is_texted_backordered_new_date_and_shipped(texting, twilio, smtp, clock):
    sp, rt = texting(backorder_eta_margin_days=2)
    supplier(sp, "FAST", lead=2)
    supplier(sp, "BACKUP", lead=10, cost="4.60")
    start = clock.now().date()
    with api_client(sp) as client:
        placed = client.post("/api/v1/orders", json={"reference": "SO-1", "lines": [{"sku": "TEE", "quantity": 5}],
                                                     "customer_phone": "+1 (415) 555-0100"})
        assert placed.status_code == 201, placed.text
    rt.settle()
    (first,) = twilio.wait_for(1)
    assert first["To"] == PHONE and first["From"] == FROM  # the real form fields, accepted by the fake's checks
    assert first["Body"].startswith(f"Order SO-1 is backordered, expected {start + timedelta(days=2)}. Cancel: "
                                    "https://shop.example/backorders/cancel/")
    assert twilio.segments == [1] and twilio.refused == []
    assert smtp.messages and not to(smtp, CUSTOMER)  # only the supplier's PO went by mail

    rt.advance(hours=48, seconds=1)  # FAST never acknowledged: re-routed to BACKUP, 2 -> 12 days
    second = twilio.wait_for(2)[1]
    assert second["Body"].startswith(f"Order SO-1: now due {start + timedelta(days=12)}, "
                                     f"was {start + timedelta(days=2)}. Cancel: ")
    po = next(p for p in purchase_orders(sp) if p["supplier"] == "BACKUP")
    sp.purchasing.receive(po["number"], {"TEE": 5}, idempotency_key="slip-1")
    sp.orders.fulfil(placed.json()["id"])
    rt.settle()
    third = twilio.wait_for(3)[2]
    assert third == {"To": PHONE, "From": FROM, "Body": "Order SO-1 has shipped. Thanks for waiting."}
    assert twilio.segments == [1, 1, 1]
    with sp.db.read() as conn:
        told = [d.choice for d in decisions.list_for(conn, "SO-1") if d.kind == "backorder_notice" and d.choice]
    assert [c["by"] for c in told] == ["sms", "sms", "sms"]
    assert [r["status"] for r in outbox_rows(sp, "backorder.sms")] == ["delivered"] * 3


def test_the_texted_link_is_short_one_segment_and_cancels_once(texting, twilio):
    sp, rt = texting(public_url="https://inventory.example-shop.com")
    supplier(sp, "FAST", lead=2)  # the notice carries an expected date: the longest text
    placed, _ = sp.orders.place("shopify:x.myshopify.com:5324830114101", [line("TEE", 2)],
                                customer_phone=PHONE)  # a 13-digit Shopify order id, a longer public URL
    rt.settle()
    (text,) = twilio.wait_for(1)
    assert "expected" in text["Body"] and twilio.segments == [1] and len(text["Body"]) <= 160
    token = re.search(r"/backorders/cancel/(\S+)", text["Body"]).group(1)
    assert len(token) < 45  # the MAC cut to 16 bytes
    with api_client(sp) as client:
        client.headers.pop("Authorization")
        assert [client.post(f"/backorders/cancel/{token}").status_code for _ in range(2)] == [200, 200]
        flipped = token[:-5] + ("B" if token[-5] != "B" else "C") + token[-4:]  # a MAC byte, not padding bits
        assert client.post(f"/backorders/cancel/{flipped}").status_code == 400
    assert sp.orders.get(placed["id"])["status"] == "cancelled" and totals(sp, "TEE")["committed"] == 0


def test_an_email_wins_over_a_phone_and_bad_phones_are_refused_before_anything(texting, twilio, smtp):
    sp, rt = texting()
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    sp.orders.place("SO-1", [line("TEE", 1)], customer_email=CUSTOMER, customer_phone=PHONE)
    rt.settle()
    assert len(to(smtp, CUSTOMER)) == 1 and twilio.messages == []
    with api_client(sp) as client:
        refused = client.post("/api/v1/orders", json={"reference": "SO-2", "lines": [{"sku": "TEE", "quantity": 1}],
                                                      "customer_phone": "555-0100"})
        assert refused.status_code == 422 and "E.164" in refused.text
    with sp.db.read() as conn:
        assert backorder_store.order_by_reference(conn, "SO-2") is None  # nothing was placed
    assert totals(sp, "TEE")["committed"] == 1


def test_without_an_sms_account_the_text_is_dead_with_the_reason_and_staff_hear(make, smtp):
    sp, rt = make(alert_email="ops@shop.example")
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    sp.orders.place("SO-1", [line("TEE", 1)], customer_phone=PHONE)
    rt.settle()
    (row,) = outbox_rows(sp, "backorder.sms")
    assert row["status"] == "dead" and "sms channel not configured" in row["last_error"]
    assert "order SO-1" in row["last_error"]
    (alert,) = to(smtp, "ops@shop.example")
    assert alert["Subject"] == "A backorder.sms delivery gave up"


def test_phones_in_channel_orders_are_captured_and_texted(texting, twilio, smtp):
    sp, rt = texting()
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    sp.channels.add("shopify", "shop", secret=SHOP_SECRET, shop_domain=SHOP)
    sp.channels.add("woocommerce", "woo", secret="woo-secret", site_url="https://example.com")
    order = shopify_order(1001, quantity=1, sku="TEE")
    order["email"], order["phone"] = "", None  # no email, no order-level phone: the shipping address has one
    order["shipping_address"] = {"phone": "(206) 342-8631", "country_code": "US"}
    woo = copy.deepcopy(fixture("woocommerce/order_created_docs_example.json"))
    woo["line_items"] = [{**woo["line_items"][1], "sku": "TEE", "quantity": 1}]
    woo["billing"].update(email="", phone="020 7946 0018", country="GB")  # a London number, national format
    body = body_of(woo)
    with api_client(sp) as client:
        assert post_shopify(client, "orders/create", order).status_code == 200
        assert client.post("/webhooks/woocommerce/woo", content=body, headers=woocommerce_headers(
            "woo-secret", body, "order.created", "https://example.com/")).status_code == 200
    rt.settle()
    assert contact_of(sp, f"shopify:{SHOP}:1001") == {"email": None, "phone": "+12063428631"}
    assert contact_of(sp, "woocommerce:woo:727") == {"email": None, "phone": "+442079460018"}
    texts = twilio.wait_for(2)
    assert sorted(m["To"] for m in texts) == ["+12063428631", "+442079460018"]
    assert smtp.messages == []


@pytest.mark.parametrize(("payload", "expected"), [
    ({"phone": "+13125551212", "customer": {"phone": "+12063428631"}}, "+13125551212"),
    ({"phone": None, "customer": {"phone": "+12063428631"}}, "+12063428631"),
    ({"customer": {"phone": None}, "billing_address": {"phone": "206.342.8631", "country_code": "US"}},
     "+12063428631"),
    ({"phone": "(555) 555-5555", "billing_address": {"country_code": "US"}}, None),  # not a real number
    ({"phone": "call me", "shipping_address": {"phone": "12", "country_code": "US"}}, None),
])
def test_shopify_phone_sources_in_order(payload, expected):
    order = {**shopify_order(7, sku="TEE"), "email": "", **payload}
    (place,) = shopify.parse("orders/create", order)
    assert place.customer_phone == expected


def test_woocommerce_and_bigcommerce_billing_phones():
    woo = fixture("woocommerce/order_created_docs_example.json")  # billing.phone "(555) 555-5555": not a number
    assert woocommerce.parse("order.created", woo)[0].customer_phone is None
    woo = {**woo, "billing": {**woo["billing"], "phone": "(415) 555-0100"}}
    assert woocommerce.parse("order.created", woo)[0].customer_phone == PHONE
    order = {"id": 100, "status_id": 11, "date_modified": "Tue, 20 Nov 2012 00:00:00 +0000",
             "billing_address": {"email": "", "phone": "0412 345 678", "country_iso2": "AU"}}
    (place,) = bigcommerce.parse("store/order/created", order, [{"sku": "TEE", "quantity": 1, "variant_id": 5}])
    assert place.customer_phone == "+61412345678"


def test_a_reservation_committed_with_a_phone_is_texted(texting, twilio):
    sp, rt = texting()
    stock(sp, "TEE", {"WH": 1}, backorder_policy="allow")
    with api_client(sp) as client:
        held = client.post("/api/v1/reservations", json={"reference": "cart-9", "lines": [{"sku": "TEE",
                                                                                          "quantity": 3}]})
        assert held.status_code == 201, held.text
        bad = client.post(f"/api/v1/reservations/{held.json()['id']}/commit",
                          json={"order_reference": "SO-9", "customer_phone": "4155550100"})
        assert bad.status_code == 422  # not E.164: checked before anything is committed
        committed = client.post(f"/api/v1/reservations/{held.json()['id']}/commit",
                                json={"order_reference": "SO-9", "customer_phone": "+1 415 555 0100"})
        assert committed.status_code == 201, committed.text
    rt.settle()
    (text,) = twilio.wait_for(1)
    assert text["To"] == PHONE and text["Body"].startswith("Order SO-9 is backordered")


@pytest.mark.parametrize("template", ["backorder_placed_sms", "backorder_eta_sms", "backorder_shipped_sms"])
def test_the_longest_texts_fit_one_segment(template):
    """A 13-digit Shopify order id, a 6-digit order row id, both dates and a 33-character public URL."""
    url = "https://inventory.example-shop.com/backorders/cancel/" + sign_cancel(123456, "k" * 32, short=True)
    body, _ = render(template, {"reference": "5324830114101", "cancel_url": url, "eta": "2026-12-19",
                                "told": "2026-12-09"})
    assert sms_segments(body) == 1, (len(body), body)
