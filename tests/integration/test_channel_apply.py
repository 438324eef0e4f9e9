"""The cheaper channel apply path (one savepoint statement per delivery, the order reference claimed first, a line's
SKU resolved in one statement, the overdue check folded into routing): each delivery is still applied whole or
not at all, even when deliveries of one batch share SKUs, and nothing it half-did survives it."""

from __future__ import annotations

import copy
from typing import Any

from stockpilot.adapters.db import placement_store
from stockpilot.services.webhook_intake import PROCESS_TOPIC
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify, shopify_order
from tests.integration.helpers import line, stock, totals


def two_line_order(order_id: int, first: tuple[str, int], second: tuple[str, int]) -> dict[str, Any]:
    order = shopify_order(order_id, first[1], first[0])
    extra = copy.deepcopy(order["line_items"][0])
    extra["id"], extra["variant_id"] = extra["id"] + 1, None  # no listing: resolved by its SKU string
    extra["sku"], extra["quantity"], extra["fulfillable_quantity"] = second[0], second[1], second[1]
    order["line_items"].append(extra)
    return order


def movements_of(app: Any, sku: str) -> list[dict[str, Any]]:
    return [m for m in app.stock.movements(sku=sku) if m["kind"] == "commit"]


def test_a_delivery_that_fails_after_taking_a_shared_sku_gives_it_back_to_the_rest_of_its_batch(app, client, rt):
    stock(app, "MUG", {"WH": 3})  # deny: the third order fits only if the failed one's unit came back
    stock(app, "TEE", {"WH": 1})
    add_shopify(client)
    orders = [shopify_order(1, 2, "MUG"),
              two_line_order(2, ("MUG", 1), ("TEE", 5)),  # takes a MUG, then cannot have 5 TEE: rolled back
              shopify_order(3, 1, "MUG")]
    for order in orders:
        assert post_shopify(client, "orders/create", order).status_code == 200
    seen: list[int] = []
    batch = rt.dispatcher.batch_handlers[PROCESS_TOPIC]
    rt.dispatcher.batch_handlers[PROCESS_TOPIC] = lambda items: seen.append(len(items)) or batch(items)
    rt.dispatcher.run_once()
    assert seen == [3]  # one batch, one write transaction
    statuses = sorted((row["status"], row["reason"]) for row in deliveries(client))
    assert statuses == [("parked", "insufficient_stock"), ("processed", None), ("processed", None)]
    assert totals(app, "MUG")["committed"] == 3 and totals(app, "TEE")["committed"] == 0
    # Nothing of order 2 survives: no order row, no movement, no event of its MUG unit.
    assert [m["reference"] for m in movements_of(app, "MUG")] == ["shopify:activepieces-test.myshopify.com:1",
                                                                  "shopify:activepieces-test.myshopify.com:3"]
    references = {ev["payload"].get("reference") for ev in app.stock.events(sku="MUG")}
    assert {f"shopify:activepieces-test.myshopify.com:{n}" for n in (1, 3)} <= references
    assert "shopify:activepieces-test.myshopify.com:2" not in references
    assert app.checker.run().problems == []
    # Once stock arrives, the parked order applies whole, with its claim made anew.
    app.stock.adjust(sku="TEE", location="WH", delta=4, kind="receive", idempotency_key="receipt-tee")
    app.stock.adjust(sku="MUG", location="WH", delta=1, kind="receive", idempotency_key="receipt-mug")
    (parked,) = deliveries(client, "parked")
    client.post(f"/api/v1/webhook-deliveries/{parked['id']}/retry")
    rt.settle()
    assert totals(app, "MUG")["committed"] == 4 and totals(app, "TEE")["committed"] == 5
    assert {row["status"] for row in deliveries(client)} == {"processed"}
    assert app.checker.run().problems == []


def test_a_redelivered_order_is_recognised_before_its_lines_are_resolved(app, client, rt):
    stock(app, "TEE", {"WH": 5})
    add_shopify(client)
    post_shopify(client, "orders/create", shopify_order(7, 2, "TEE"))
    rt.settle()
    # The same order again (another subscription), its SKU renamed on the platform meanwhile: still one order,
    # and not parked for an unknown SKU, since nothing of it is applied twice.
    post_shopify(client, "orders/create", shopify_order(7, 2, "RENAMED"))
    rt.settle()
    rows = deliveries(client)
    assert [row["status"] for row in rows] == ["processed", "processed"]
    replay = next(row for row in rows if row["effect"][0].get("placed") is False)
    assert replay["effect"] == [{"order": "shopify:activepieces-test.myshopify.com:7", "placed": False,
                                 "status": "open"}]
    assert totals(app, "TEE")["committed"] == 2


def test_a_line_resolves_to_its_first_listed_id_then_to_its_sku_string(app, client):
    for sku in ("A", "B", "C"):
        stock(app, sku, {"WH": 1})
    add_shopify(client)
    for external_id, sku in (("v-1", "A"), ("v-2", "B")):
        answer = client.put("/api/v1/channel-listings", json={"channel": "shop", "external_id": external_id,
                                                              "sku": sku})
        assert answer.status_code in (200, 201), answer.text
    with app.db.read() as conn:
        def found(ids: tuple[str, ...], sku: str | None) -> str | None:
            ref = placement_store.line_sku_ref(conn, "shop", ids, sku)
            return ref.sku if ref else None

        assert found(("v-1", "v-2"), "C") == "A"  # an explicit mapping wins over the SKU string
        assert found(("v-2", "v-1"), "C") == "B"  # the line's ids in their order
        assert found(("v-9", "v-2"), None) == "B"
        assert found(("v-9",), "C") == "C"  # no listing: the SKU string
        assert found(("v-9",), "NOPE") is None
        assert found((), None) is None
        assert placement_store.line_sku_ref(conn, "other-channel", ("v-1",), None) is None


def test_an_expired_hold_is_freed_before_a_channel_order_takes_its_units(app, client, rt, clock):
    stock(app, "LAMP", {"WH": 3}, backorder_policy="allow")  # would be taken as a backorder if not freed
    add_shopify(client)
    app.reservations.reserve("slow-cart", [line("LAMP", 3)], ttl_seconds=60)
    clock.advance(seconds=61)
    post_shopify(client, "orders/create", shopify_order(9, 3, "LAMP"))
    rt.settle()
    assert {row["status"] for row in deliveries(client)} == {"processed"}
    lamp = totals(app, "LAMP")
    assert (lamp["reserved"], lamp["committed"], lamp["available"]) == (0, 3, 0)  # freed, then taken: no backorder
    assert [m["kind"] for m in app.stock.movements(sku="LAMP")].count("expire") == 1
    assert app.checker.run().problems == []


def test_an_order_with_many_lines_keeps_them_in_order(app):
    skus = [f"S{n:03}" for n in range(250)]  # more than one multi-row INSERT holds
    stock(app, skus[0], {"WH": 10})
    for sku in skus[1:]:
        app.catalog.upsert_sku(sku, {"title": sku})
        app.stock.adjust(sku=sku, location="WH", on_hand=10, idempotency_key=f"seed:{sku}")
    lines = [line(sku, 1 + n % 3) for n, sku in enumerate(skus)]
    placed, created = app.orders.place("big-order", lines)
    assert created
    assert [(ln["sku"], ln["quantity"]) for ln in placed["lines"]] == [(ln.sku, ln.quantity) for ln in lines]
    again, created = app.orders.place("big-order", lines)
    assert not created and again["lines"] == placed["lines"]
    assert app.checker.run().problems == []


def test_routing_read_with_a_line_is_read_again_once_an_expiry_freed_units_of_it(app, client, rt, clock):
    # Two locations of equal priority: the one with more available comes first. A multi-SKU hold on A and B
    # has expired; the order's A line expires it, which frees B's units at L1. B's routing, read with B's line
    # before that, said L1 had none: B must be routed on the figures as they are after the expiry (L1 first).
    for code in ("L1", "L2"):
        app.catalog.create_location(code, code, "warehouse", 5)
    for sku, counts in (("A", {"L1": 1}), ("B", {"L1": 3, "L2": 2})):
        app.catalog.upsert_sku(sku, {"title": sku})
        for code, units in counts.items():
            app.stock.adjust(sku=sku, location=code, on_hand=units, idempotency_key=f"seed:{sku}:{code}")
    held, _ = app.reservations.reserve("cart", [line("A", 1), line("B", 3)], ttl_seconds=60)
    assert {(ln["sku"], ln["location"]) for ln in held["lines"]} == {("A", "L1"), ("B", "L1")}
    clock.advance(seconds=61)
    add_shopify(client)
    post_shopify(client, "orders/create", two_line_order(11, ("A", 1), ("B", 2)))
    rt.settle()
    (row,) = deliveries(client)
    assert row["status"] == "processed", row
    placed = {ln["sku"]: ln["location"] for ln in row["effect"][0]["lines"]}
    assert placed == {"A": "L1", "B": "L1"}
    assert app.checker.run().problems == []


def test_a_missed_create_is_placed_and_shipped_by_its_fulfilment_in_one_delivery(app, client, rt):
    # The place's order lines and events are held back to share a round trip (PostgreSQL); the fulfilment then
    # reads the lines through Core in the same delivery, so they must be there by then.
    stock(app, "sku-hosted-1", {"WH": 10})
    add_shopify(client)
    post_shopify(client, "orders/fulfilled", shopify_order(order_id=21, quantity=3))
    rt.settle()
    (row,) = deliveries(client)
    assert row["status"] == "processed", row
    after = totals(app, "sku-hosted-1")
    assert (after["on_hand"], after["committed"]) == (7, 0)
    (order,) = [o for o in app.stock.movements(sku="sku-hosted-1") if o["kind"] == "fulfil"]
    assert order["reference"] == "shopify:activepieces-test.myshopify.com:21"
    assert app.checker.run().problems == []
