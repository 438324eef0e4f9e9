"""Replenishment and purchasing end to end on the real runtime: a real SMTP server and a loopback supplier API.

Every test runs on SQLite and PostgreSQL and drives the worker's own pieces (consumer, timers, outbox dispatcher)
against a manual clock, so 24- and 48-hour escalations take no wall time.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from stockpilot.adapters.db.tables import consumer_positions
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.errors import Conflict, ValidationFailed
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import Runtime, outbox_rows, purchase_orders
from tests.support.smtp_server import SmtpServer
from tests.support.supplier_api import SupplierApi


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def make(db_url, clock, smtp):
    """build(...) with purchasing settings; every app made is closed at the end."""
    apps = []

    def factory(**overrides):
        settings = Settings(database_url=db_url, db_pool_size=20, smtp_url=smtp.url,
                            mail_from="buyer@shop.example", alert_email="ops@shop.example", **overrides)
        app = build(settings, clock=clock, migrate=False)
        apps.append(app)
        return app, Runtime.build(app)

    yield factory
    for app in apps:
        app.close()


def email_supplier(sp, code="ACME", cost="4.00", lead=5, **offer):
    sp.suppliers.add(code, {"name": f"{code} Ltd", "delivery_method": "email", "email": f"orders@{code.lower()}.test"})
    sp.suppliers.set_offer(code, "TEE", {"unit_cost": cost, "lead_time_days": lead, **offer})


def po_messages(smtp, count):
    return [m for m in smtp.wait_for(count) if m["To"] != "ops@shop.example"]


def test_an_oversell_from_three_channels_within_a_minute_yields_exactly_one_po(make, smtp, clock):
    sp, rt = make(oversell_window_seconds=10)
    stock(sp, "TEE", {"WH": 2}, backorder_policy="allow")
    email_supplier(sp, pack_size=6)
    for seconds, channel in ((0, "shopify"), (3, "woocommerce"), (5, "bigcommerce")):
        clock.advance(seconds=seconds)
        sp.orders.place(f"{channel}-1001", [line("TEE", 4)], source=channel)
        rt.settle()
    assert purchase_orders(sp) == []  # still inside the window: the three signals wait together

    rt.advance(seconds=10)
    (po,) = purchase_orders(sp)
    assert po["status"] == "sent" and po["supplier"] == "ACME" and po["trigger"] == "oversell"
    assert [(ln["sku"], ln["quantity"]) for ln in po["lines"]] == [("TEE", 12)]  # deficit 10, packs of 6
    assert totals(sp, "TEE")["incoming"] == 12

    (message,) = po_messages(smtp, 1)
    assert "orders@acme.test" in message["To"] and po["number"] in message["Subject"]
    (attachment,) = [p for p in message.iter_attachments()]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF")
    assert re.search(r"/ack/\S+", message.get_body(("plain",)).get_content())

    decision = next(d for d in sp.purchasing.get(po["number"])["decisions"] if d["kind"] == "purchase_order")
    assert "without review" in decision["reason"]
    with sp.db.read() as conn:
        from stockpilot.runtime.decisions import list_for
        (why,) = [d for d in list_for(conn, "TEE") if d.kind != "staff_alert"]  # oversell alerts have their own
    assert why.inputs["signals"] == 3 and why.inputs["position"] == -10
    assert set(why.inputs["sources"]) == {"shopify-1001", "woocommerce-1001", "bigcommerce-1001"}
    assert why.options[0]["supplier"] == "ACME" and why.options[0]["score"] is not None
    assert sp.checker.run().problems == []


def test_a_replayed_oversell_event_orders_nothing_twice(make, smtp):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    email_supplier(sp)
    sp.orders.place("SO-1", [line("TEE", 3)])
    rt.settle()
    assert len(purchase_orders(sp)) == 1
    sp.db.write(lambda conn: conn.execute(update(consumer_positions).values(position=0)))  # replay everything
    rt.settle()
    (po,) = purchase_orders(sp)
    assert po["lines"][0]["quantity"] == 3
    assert len(po_messages(smtp, 1)) == 1


def test_counts_bouncing_around_the_reorder_point_yield_one_po(make, smtp):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 15})
    email_supplier(sp)
    sp.planning.set_policy("TEE", {"manual_min": 10, "manual_max": 40})
    for i, count in enumerate((11, 10, 11, 9, 12, 10, 8, 11)):
        sp.stock.adjust(sku="TEE", location="WH", on_hand=count, idempotency_key=f"count-{i}")
        rt.settle()
    (po,) = purchase_orders(sp)
    assert po["trigger"] == "reorder"
    assert po["lines"][0]["quantity"] == 30  # 40 - position 10 at the first touch of the reorder point
    assert len(po_messages(smtp, 1)) == 1


def test_a_supplier_that_never_acknowledges_is_escalated_then_replaced(make, smtp):
    with SupplierApi(token="t0k", acknowledge=False) as api:
        sp, rt = make(oversell_window_seconds=0)
        stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
        email_supplier(sp, "FAST", cost="4.00", lead=2)
        sp.suppliers.add("BACKUP", {"name": "Backup Co", "delivery_method": "http", "api_url": api.url,
                                    "api_token": "t0k"})
        sp.suppliers.set_offer("BACKUP", "TEE", {"unit_cost": "4.10", "lead_time_days": 6})
        sp.orders.place("SO-1", [line("TEE", 5)])
        rt.settle()
        (first,) = purchase_orders(sp)
        assert first["supplier"] == "FAST"
        po_messages(smtp, 1)

        rt.advance(hours=23)
        assert all(m["To"] != "ops@shop.example" for m in smtp.messages)
        rt.advance(hours=1, seconds=1)
        alerts = [m for m in smtp.wait_for(2) if m["To"] == "ops@shop.example"]
        assert len(alerts) == 1 and first["number"] in alerts[0]["Subject"]
        assert sp.purchasing.get(first["number"])["status"] == "sent"

        rt.advance(hours=24)
        first_now = sp.purchasing.get(first["number"])
        assert first_now["status"] == "cancelled"
        (replacement,) = [p for p in purchase_orders(sp) if p["number"] != first["number"]]
        assert replacement["supplier"] == "BACKUP" and replacement["trigger"] == "reroute"
        assert replacement["parent_id"] == first["id"] and replacement["status"] == "sent"
        (order,) = api.wait_for(1).values()
        assert order["po_number"] == replacement["number"] and order["lines"][0]["quantity"] == 5
        cancellations = [m for m in smtp.wait_for(3) if m["Subject"].startswith("Cancellation")]
        assert len(cancellations) == 1 and "orders@fast.test" in cancellations[0]["To"]
        assert totals(sp, "TEE")["incoming"] == 5  # the cancelled PO's units are no longer expected
        assert sp.checker.run().problems == []


def test_a_cost_jump_lands_in_review_and_a_person_approves_it(make, smtp):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    email_supplier(sp, cost="10.00")
    sp.orders.place("SO-1", [line("TEE", 2)])
    rt.settle()
    (first,) = purchase_orders(sp)
    sp.purchasing.receive(first["number"], {"TEE": 2}, idempotency_key="r1")
    sp.suppliers.set_offer("ACME", "TEE", {"unit_cost": "11.60"})  # +16%
    sp.orders.place("SO-2", [line("TEE", 4)])
    rt.settle()

    (review,) = sp.purchasing.list(status="needs_review")
    assert "16% above the last PO's 10.00" in review["review_reason"]
    assert totals(sp, "TEE")["incoming"] == 0  # not sent: not incoming
    assert len(po_messages(smtp, 1)) == 1  # only the first PO reached the supplier

    approved = sp.purchasing.approve(review["number"], quantities={"TEE": 6}, note="price rise agreed by phone")
    assert approved["status"] == "sent" and approved["lines"][0]["quantity"] == 6
    rt.settle()
    assert len(po_messages(smtp, 2)) == 2
    assert totals(sp, "TEE")["incoming"] == 6
    with pytest.raises(Conflict):
        sp.purchasing.approve(review["number"])


def test_a_sku_without_supplier_goes_to_review_with_a_draft_and_can_be_rejected(make):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 1}, backorder_policy="allow")
    sp.orders.place("SO-1", [line("TEE", 4)])
    rt.settle()
    (draft,) = sp.purchasing.list(status="needs_review")
    assert draft["supplier"] is None and "no supplier on file" in draft["review_reason"]
    with pytest.raises(ValidationFailed):
        sp.purchasing.approve(draft["number"])  # nowhere to send it
    rejected = sp.purchasing.reject(draft["number"], "discontinued")
    assert rejected["status"] == "cancelled"


def test_receipt_moves_incoming_on_hand_partially_and_over_and_a_retry_is_one_receipt(make):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    email_supplier(sp)
    sp.orders.place("SO-1", [line("TEE", 10)])
    rt.settle()
    (po,) = purchase_orders(sp)
    assert totals(sp, "TEE") == {"on_hand": 0, "committed": 10, "reserved": 0, "available": -10, "incoming": 10}

    part = sp.purchasing.receive(po["number"], {"TEE": 4}, idempotency_key="dock-1")
    assert part["status"] == "partially_received"
    again = sp.purchasing.receive(po["number"], {"TEE": 4}, idempotency_key="dock-1")
    assert again["replayed"] and again["lines"][0]["received"] == 4
    assert totals(sp, "TEE")["on_hand"] == 4 and totals(sp, "TEE")["incoming"] == 6

    done = sp.purchasing.receive(po["number"], {"TEE": 8}, idempotency_key="dock-2")  # 2 more than ordered
    assert done["status"] == "received" and done["lines"][0]["received"] == 12
    assert totals(sp, "TEE") == {"on_hand": 12, "committed": 10, "reserved": 0, "available": 2, "incoming": 0}
    with pytest.raises(Conflict):
        sp.purchasing.receive(po["number"], {"TEE": 1}, idempotency_key="dock-3")
    assert sp.checker.run().problems == []


def test_a_growing_deficit_amends_the_sent_po_then_tops_up_once_acknowledged(make, smtp):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    email_supplier(sp)
    sp.orders.place("SO-1", [line("TEE", 3)])
    rt.settle()
    sp.orders.place("SO-2", [line("TEE", 2)])
    rt.settle()
    (po,) = purchase_orders(sp)
    assert po["revision"] == 1 and po["lines"][0]["quantity"] == 5
    subjects = [m["Subject"] for m in po_messages(smtp, 2)]
    assert subjects[1].startswith("Change order")
    assert totals(sp, "TEE")["incoming"] == 5

    sp.purchasing.acknowledge(po["number"], supplier_reference="SO-991")
    sp.orders.place("SO-3", [line("TEE", 4)])
    rt.settle()
    pos = purchase_orders(sp)
    assert len(pos) == 2
    top_up = pos[1]
    assert top_up["trigger"] == "top_up" and top_up["parent_id"] == po["id"]
    assert top_up["lines"][0]["quantity"] == 4
    assert totals(sp, "TEE")["incoming"] == 9


def test_a_delivery_that_keeps_failing_moves_to_the_next_supplier(make):
    with SupplierApi(token="right") as good, SupplierApi(token="right") as bad:
        sp, rt = make(oversell_window_seconds=0)
        stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
        sp.suppliers.add("BROKEN", {"name": "Broken", "delivery_method": "http", "api_url": bad.url,
                                    "api_token": "wrong"})
        sp.suppliers.set_offer("BROKEN", "TEE", {"unit_cost": "3.00", "lead_time_days": 2})
        sp.suppliers.add("GOOD", {"name": "Good", "delivery_method": "http", "api_url": good.url,
                                  "api_token": "right"})
        sp.suppliers.set_offer("GOOD", "TEE", {"unit_cost": "3.50", "lead_time_days": 4})
        sp.orders.place("SO-1", [line("TEE", 2)])
        rt.settle()
        first, second = purchase_orders(sp)
        assert first["supplier"] == "BROKEN" and first["status"] == "delivery_failed"
        assert "401" in first["delivery_error"]
        assert second["supplier"] == "GOOD" and second["trigger"] == "reroute"
        (order,) = good.wait_for(1).values()
        assert order["po_number"] == second["number"]
        # the supplier's API acknowledged in its answer: no escalation will follow
        assert second["status"] == "acknowledged" and second["supplier_reference"] == "SO-00001"
        assert [r.status for r in bad.requests] == [401]  # a refusal is not retried
        assert totals(sp, "TEE")["incoming"] == 2
        assert sp.checker.run().problems == []


def test_window_zero_sends_the_po_in_the_signalling_pass(make, smtp):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 1}, backorder_policy="allow")
    email_supplier(sp)
    sp.orders.place("SO-1", [line("TEE", 2)])
    rt.consumer.run_once()
    (po,) = purchase_orders(sp)
    assert po["status"] == "sent"
    assert len(outbox_rows(sp, "po.email")) == 1


def test_workers_book_a_daily_recompute_that_fills_the_policies_the_triggers_read(make, clock):
    sp, rt = make(oversell_window_seconds=0, plan_every_hours=24)
    stock(sp, "TEE", {"WH": 40})
    email_supplier(sp, lead=7)
    for day in range(30):
        sp.orders.place(f"SO-{day}", [line("TEE", 1)])
        clock.advance(days=1)
    assert sp.purchasing.schedule_planning() and not sp.purchasing.schedule_planning()  # booked once
    rt.settle()
    (view,) = sp.plan.view(sku="TEE")
    assert view["mean_daily"] == pytest.approx(1.0, abs=0.05) and view["reorder_point"] >= 7
    assert view["explanation"]["supplier"] == "ACME" and view["explanation"]["lead_time_days"] == 7
    assert len(outbox_rows(sp, "plan.recompute")) == 1
    rt.advance(hours=24)
    assert len(outbox_rows(sp, "plan.recompute")) == 2  # and again a day later


def test_skus_of_one_supplier_triggering_within_the_window_share_one_po(make, smtp, clock):
    sp, rt = make(oversell_window_seconds=10)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    stock(sp, "MUG", {"WH": 12})
    email_supplier(sp)
    sp.suppliers.set_offer("ACME", "MUG", {"unit_cost": "2.50", "lead_time_days": 4})
    sp.planning.set_policy("MUG", {"manual_min": 10, "manual_max": 24})
    sp.orders.place("SO-1", [line("TEE", 2)])  # an oversell
    rt.settle()
    clock.advance(seconds=4)
    sp.orders.place("SO-2", [line("MUG", 3)])  # and a reorder point, 4 s later
    rt.settle()
    rt.advance(seconds=7)
    (po,) = purchase_orders(sp)
    assert po["trigger"] == "oversell" and po["supplier"] == "ACME"
    assert sorted((ln["sku"], ln["quantity"]) for ln in po["lines"]) == [("MUG", 15), ("TEE", 2)]
    assert len(po_messages(smtp, 1)) == 1


def test_receipt_releases_backorders_oldest_first_and_a_short_shipment_can_be_closed(make, clock):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 1}, backorder_policy="allow")
    email_supplier(sp)
    for n, quantity in enumerate((3, 2, 4), start=1):  # SO-1 partly covered by the 1 on hand; all backordered
        sp.orders.place(f"SO-{n}", [line("TEE", quantity)])
        clock.advance(seconds=1)
    rt.settle()
    (po,) = purchase_orders(sp)
    assert po["lines"][0]["quantity"] == 8
    sp.purchasing.receive(po["number"], {"TEE": 4}, idempotency_key="r1")  # on hand 5: SO-1 (3) and SO-2 (2)
    with sp.db.read() as conn:
        from stockpilot.runtime.decisions import list_for
        released = [d for d in list_for(conn, "TEE") if d.kind == "backorder_release"]
    assert [d.choice for d in released] == [["SO-1", "SO-2"]]
    events = sp.stock.events(kind="BackorderReleased")
    assert [(e["payload"]["reference"], e["payload"]["quantity"]) for e in events] == [("SO-1", 3), ("SO-2", 2)]

    closed = sp.purchasing.close(po["number"], "supplier shipped 4 of 8, rest discontinued")
    assert closed["status"] == "closed" and totals(sp, "TEE")["incoming"] == 0
    with pytest.raises(Conflict):
        sp.purchasing.cancel(po["number"], "too late")  # a closed PO stays closed
    assert sp.checker.run().problems == []


def test_approving_with_another_supplier_takes_its_lead_time_for_the_eta(make, clock):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    sp.orders.place("SO-1", [line("TEE", 2)])
    rt.settle()
    (draft,) = sp.purchasing.list(status="needs_review")
    assert draft["eta"] is None
    email_supplier(sp, "SLOWCO", lead=9)
    approved = sp.purchasing.approve(draft["number"], supplier="SLOWCO")
    assert approved["eta"] == "2026-01-10"  # 2026-01-01 + 9 days
