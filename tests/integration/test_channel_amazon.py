"""Amazon by polling, against a loopback SP-API (tests/support/amazon_sp_api.py) through the real runtime, on SQLite
and PostgreSQL: LWA tokens, usage plans and 429s, paging, FBA counts as ledger entries (watermark, echo) and
orders through the same path as webhooks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stockpilot.adapters.db import channel_store
from tests.integration.channel_helpers import deliveries
from tests.integration.helpers import level, stock
from tests.integration.purchasing_helpers import outbox_rows
from tests.support.amazon_sp_api import AmazonSpApi

FAST = {"getInventorySummaries": (50.0, 5.0), "getOrders": (50.0, 20.0), "getOrderItems": (50.0, 30.0)}


@pytest.fixture
def amazon():
    with AmazonSpApi(plans=FAST) as api:
        yield api


def add_amazon(client, amazon, **changes):
    body = {"kind": "amazon", "name": "amzn", "secret": amazon.client_secret, "api_token": amazon.refresh_token,
            "api_url": amazon.url, "lwa_url": amazon.lwa_url, "lwa_client_id": amazon.client_id,
            "seller_id": amazon.seller_id, "marketplace_id": amazon.marketplace_id, "location": "FBA-US",
            "poll_seconds": 300, **changes}
    created = client.post("/api/v1/channels", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def seed(app):
    stock(app, "AMZ-1", {"WH": 4, "FBA-US": 10})  # WH first: routing prefers it for merchant-shipped orders
    stock(app, "AMZ-2", {"FBA-US": 3})


def test_a_poll_turns_fba_counts_and_orders_into_ledger_entries(app, client, rt, amazon, clock):
    seed(app)
    now = clock.now()
    amazon.put_summary("AMZ-1", 7, pending_orders=1, updated=now - timedelta(minutes=3))  # count 8
    amazon.put_summary("AMZ-2", 3, updated=now - timedelta(minutes=3))  # unchanged
    amazon.put_summary("NOT-OURS", 5, updated=now - timedelta(minutes=3))
    amazon.put_order("111-0000001-0000001", "Unshipped", now - timedelta(minutes=2), [("AMZ-1", 2)])
    amazon.put_order("111-0000001-0000002", "Pending", now - timedelta(minutes=1), [("AMZ-1", 1)], channel="MFN")
    amazon.put_order("111-0000001-0000003", "Shipped", now - timedelta(minutes=1), [("AMZ-2", 1)])
    add_amazon(client, amazon)
    rt.settle()

    fba = level(app, "AMZ-1", "FBA-US")
    assert fba["on_hand"] == 8  # fulfillable 7 + 1 promised to a customer order
    assert fba["committed"] == 2  # the AFN order is taken at the FBA location ...
    assert level(app, "AMZ-1", "WH")["committed"] == 1  # ... the merchant-fulfilled one wherever routing puts it
    assert level(app, "AMZ-2", "FBA-US")["on_hand"] == 2  # shipped by Amazon: placed, then fulfilled
    count = next(m for m in app.stock.movements(sku="AMZ-1") if m["source"] == "amzn")
    assert count["kind"] == "set" and count["delta"]["on_hand"] == -2
    (parked,) = deliveries(client, "parked")
    assert parked["reason"] == "unknown_sku" and parked["topic"] == "fba/inventory/summary"
    # The wire: one LWA grant, the token on every call, both paging schemes followed, details asked for.
    assert amazon.token_grants == 1
    summaries = amazon.calls("getInventorySummaries")
    assert len(summaries) == 2 and "nextToken" in summaries[1]["query"]  # 3 summaries, pages of 2
    assert summaries[0]["query"]["details"] == "true" and "startDateTime" not in summaries[0]["query"]
    assert len(amazon.calls("getOrders")) == 2 and len(amazon.calls("getOrderItems")) == 3
    (decision,) = client.get("/api/v1/decisions", params={"subject": "channel:amzn"}).json()["items"]
    assert decision["kind"] == "amazon_poll" and decision["choice"]["new"] == 6  # 3 summaries, 3 orders
    assert app.checker.run().problems == []


def test_the_next_poll_reads_only_changes_and_applies_a_cancel(app, client, rt, amazon, clock):
    seed(app)
    start = clock.now()
    amazon.put_summary("AMZ-1", 10, updated=start - timedelta(minutes=3))
    amazon.put_order("111-0000002-0000001", "Unshipped", start - timedelta(minutes=2), [("AMZ-1", 3)])
    add_amazon(client, amazon)
    rt.settle()
    assert level(app, "AMZ-1", "FBA-US")["committed"] == 3

    rt.advance(seconds=299)
    assert len(amazon.calls("getOrders")) == 1  # not yet: the poll timer is due every 300 s
    amazon.put_order("111-0000002-0000001", "Canceled", clock.now(), [("AMZ-1", 3)])
    rt.advance(seconds=1)
    assert level(app, "AMZ-1", "FBA-US")["committed"] == 0
    second_inventory, second_orders = amazon.calls("getInventorySummaries")[-1], amazon.calls("getOrders")[-1]
    assert second_inventory["query"]["startDateTime"] == start.isoformat().replace("+00:00", "Z")
    assert second_orders["query"]["LastUpdatedAfter"] < start.isoformat()  # the newest seen, minus the overlap
    assert [d["status"] for d in deliveries(client)].count("processed") == 3  # count, order, cancel: once each


def test_an_fba_count_equal_to_our_push_is_an_echo(app, client, rt, amazon, clock):
    seed(app)
    start = clock.now()
    amazon.put_summary("AMZ-1", 9, updated=start - timedelta(minutes=1))
    channel = add_amazon(client, amazon)
    rt.settle()
    assert level(app, "AMZ-1", "FBA-US")["on_hand"] == 9
    with app.db.read() as conn:
        channel_id = channel_store.channel_where(conn, name=channel["name"])["id"]
    app.db.write(lambda conn: channel_store.record_push(conn, channel_id, "fba:AMZ-1@ATVPDKIKX0DER", 6, start))
    amazon.put_summary("AMZ-1", 6, updated=start + timedelta(minutes=1))  # the value Stockpilot pushed: an echo
    rt.advance(seconds=300)
    assert level(app, "AMZ-1", "FBA-US")["on_hand"] == 9
    amazon.put_summary("AMZ-1", 5, updated=start + timedelta(minutes=6))  # a change made on Amazon's side
    rt.advance(seconds=300)
    # The echo showed the channel holding the pushed 6, so 5 is one unit gone from there.
    assert level(app, "AMZ-1", "FBA-US")["on_hand"] == 8
    assert [d["status"] for d in deliveries(client)] == ["processed", "ignored", "processed"]


def test_throttling_and_a_revoked_token_are_ridden_out(app, client, rt, amazon, clock):
    seed(app)
    amazon.put_summary("AMZ-1", 5)
    amazon.throttle_next("getInventorySummaries", 2)  # 429 QuotaExceeded twice, then served
    add_amazon(client, amazon)
    rt.settle()
    assert level(app, "AMZ-1", "FBA-US")["on_hand"] == 5
    assert len(amazon.calls("getInventorySummaries")) == 3
    amazon.revoke_tokens()  # 403 Unauthorized: one fresh LWA grant, then the call again
    amazon.put_summary("AMZ-1", 4, updated=clock.now() + timedelta(seconds=200))
    rt.advance(seconds=300)
    assert level(app, "AMZ-1", "FBA-US")["on_hand"] == 4 and amazon.token_grants == 2
    assert {r["status"] for r in outbox_rows(app, "amazon.poll")} == {"delivered"}


def test_a_refused_refresh_token_gives_up_at_once_and_says_why(app, client, rt, amazon):
    seed(app)
    add_amazon(client, amazon, api_token="Atzr|wrong")
    rt.settle()
    (row,) = outbox_rows(app, "amazon.poll")
    assert row["status"] == "dead" and "invalid_grant" in row["last_error"]
    assert amazon.calls("getInventorySummaries") == []


def test_an_amazon_channel_needs_its_account_options(client, amazon):
    missing = client.post("/api/v1/channels", json={"kind": "amazon", "name": "amzn", "secret": "s",
                                                    "api_token": "Atzr|x"})
    assert missing.status_code == 422 and "--seller-id" in missing.json()["detail"]
    wrong = client.post("/api/v1/channels", json={"kind": "shopify", "name": "s", "secret": "s",
                                                  "shop_domain": "a.myshopify.com", "seller_id": "A1"})
    assert wrong.status_code == 422
