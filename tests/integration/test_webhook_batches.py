"""Deliveries applied several to a transaction (WebhookProcessor.batch, the outbox's batch handler): each one is
still applied whole or not at all, one that cannot be applied is parked alone, and a replay changes nothing."""

from __future__ import annotations

from stockpilot.runtime import outbox as ob
from stockpilot.services import webhook_processing
from stockpilot.services.webhook_intake import PROCESS_TOPIC
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify, shopify_order
from tests.integration.helpers import stock, totals


def test_one_batch_applies_the_good_deliveries_and_parks_the_bad_one_alone(app, client, rt):
    stock(app, "TEE", {"WH": 5})
    stock(app, "MUG", {"WH": 1}, backorder_policy="deny")
    add_shopify(client)
    orders = [shopify_order(1, 2, "TEE"), shopify_order(2, 1, "NO-SUCH-SKU"), shopify_order(3, 3, "MUG"),
              shopify_order(4, 1, "TEE")]
    for order in orders:
        assert post_shopify(client, "orders/create", order).status_code == 200
    seen: list[int] = []
    batch = rt.dispatcher.batch_handlers[PROCESS_TOPIC]
    rt.dispatcher.batch_handlers[PROCESS_TOPIC] = lambda items: seen.append(len(items)) or batch(items)
    report = rt.dispatcher.run_once()
    assert seen == [4] and report.delivered == 4  # one call for the four; each row delivered
    by_order = {row["delivery_key"]: row for row in deliveries(client)}
    assert len(by_order) == 4
    statuses = sorted((row["status"], row["reason"]) for row in by_order.values())
    assert statuses == [("parked", "insufficient_stock"), ("parked", "unknown_sku"), ("processed", None),
                        ("processed", None)]
    assert totals(app, "TEE")["committed"] == 3  # orders 1 and 4, nothing of the parked ones
    assert totals(app, "MUG")["committed"] == 0  # the order for 3 of 1 (deny) rolled back alone
    assert app.checker.run().problems == []


def test_a_budget_spent_commits_what_was_applied_and_goes_on_in_the_next_transaction(app, client, rt, monkeypatch):
    stock(app, "TEE", {"WH": 50})
    add_shopify(client)
    for n in range(1, 6):
        assert post_shopify(client, "orders/create", shopify_order(n, 1, "TEE")).status_code == 200
    monkeypatch.setattr(webhook_processing, "APPLY_BUDGET_SECONDS", 0.0)  # one delivery per transaction
    writes = []
    write = app.db.write
    monkeypatch.setattr(app.db, "write", lambda work, **kw: writes.append(work) or write(work, **kw))
    rt.dispatcher.run_once()
    applied = [w for w in writes if "WebhookProcessor.batch" in getattr(w, "__qualname__", "")]
    assert len(applied) == 5
    assert totals(app, "TEE")["committed"] == 5
    assert {row["status"] for row in deliveries(client)} == {"processed"}


def test_a_replayed_batch_changes_nothing(app, client, rt):
    stock(app, "TEE", {"WH": 5})
    add_shopify(client)
    for n in (1, 2):
        assert post_shopify(client, "orders/create", shopify_order(n, 1, "TEE")).status_code == 200
    rt.settle()
    items = [({"delivery_id": row["id"]}, f"webhook-delivery:{row['id']}") for row in deliveries(client)]
    outcomes = rt.dispatcher.batch_handlers[PROCESS_TOPIC](items)  # at-least-once: the outbox ran them again
    assert [o["skipped"] for o in outcomes] == ["processed", "processed"]
    assert totals(app, "TEE")["committed"] == 2
    with app.db.read() as conn:
        assert ob.stats(conn, app.ctx.clock.now()).counts["dead"] == 0
