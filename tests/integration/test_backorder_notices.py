"""Customer backorder notices end to end: the worker's consumers, timers and outbox against a manual clock, a real
SMTP server (aiosmtpd) and the HTTP cancel link, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from stockpilot.adapters.db.tables import consumer_positions, movements
from stockpilot.runtime import decisions
from tests.integration.backorder_helpers import CUSTOMER, cancel_token, make, smtp, supplier, text, to
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import purchase_orders
from tests.support.serve_process import api_client

__all__ = ["make", "smtp"]  # fixtures

def backordered(sp, rt, smtp, reference="SO-1", units=5):
    placed, _ = sp.orders.place(reference, [line("TEE", units)], customer_email=CUSTOMER)
    rt.settle()
    return placed


def test_an_oversell_yields_one_customer_notice_and_one_staff_alert_even_when_replayed(make, smtp, clock):
    ops = f"mailto://{smtp.host}:{smtp.port}?from=alerts@shop.example&to=ops@shop.example&mode=insecure"
    sp, rt = make(alert_routes=[{"kinds": ["oversell"], "urls": [ops]}])
    supplier(sp, "FAST", lead=2)
    backordered(sp, rt, smtp)
    smtp.wait_for(3)  # the customer, the staff alert, the PO to FAST
    (notice,) = to(smtp, CUSTOMER)
    assert notice["Subject"] == "Your order SO-1 is on backorder"
    eta = (clock.now() + timedelta(days=2)).date().isoformat()
    assert "Not in stock right now: 5 x TEE," in text(notice) and f"ship it by {eta}" in text(notice)
    assert "https://shop.example/backorders/cancel/" in text(notice)
    (alert,) = to(smtp, "ops@shop.example")
    assert alert["Subject"] == "Oversold: TEE is 5 unit(s) short"

    sp.db.write(lambda conn: conn.execute(update(consumer_positions).values(position=0)))  # replay every event
    rt.settle()
    rt.advance(minutes=30)  # past the alert's merge window: a replay must not have been counted either
    assert len(to(smtp, CUSTOMER)) == 1 and len(to(smtp, "ops@shop.example")) == 1
    assert len(purchase_orders(sp)) == 1


@pytest.mark.parametrize(("backup_lead", "updated"), [(10, True), (2, False)])
def test_an_eta_moving_beyond_the_margin_sends_an_update_and_within_it_nothing(make, smtp, clock, backup_lead,
                                                                               updated):
    sp, rt = make(backorder_eta_margin_days=2)
    supplier(sp, "FAST", lead=2)
    supplier(sp, "BACKUP", lead=backup_lead, cost="4.60")  # ranked after FAST: slower or dearer
    start = clock.now().date()
    backordered(sp, rt, smtp)
    (first,) = purchase_orders(sp)
    assert first["supplier"] == "FAST"
    assert f"ship it by {start + timedelta(days=2)}" in text(to(smtp, CUSTOMER)[0])

    rt.advance(hours=48, seconds=1)  # FAST never acknowledged: cancelled, re-routed to BACKUP
    second = next(po for po in purchase_orders(sp) if po["supplier"] == "BACKUP")
    assert second["status"] == "sent"
    new_eta = start + timedelta(days=2 + backup_lead)
    with sp.db.read() as conn:
        quiet_or_told = [d for d in decisions.list_for(conn, "SO-1") if d.kind == "backorder_notice"][-1]
    notices = to(smtp, CUSTOMER)
    if updated:  # 2 days -> 12 days: more than the 2-day margin
        assert [m["Subject"] for m in notices] == ["Your order SO-1 is on backorder",
                                                   "New expected date for your order SO-1"]
        assert f"expected to ship by {new_eta} (we said {start + timedelta(days=2)} before)" in text(notices[1])
        assert quiet_or_told.choice == {"notice": "eta_changed", "eta": new_eta.isoformat(), "by": "email"}
    else:  # 2 days -> 4 days: within the margin
        assert len(notices) == 1
        assert quiet_or_told.choice is None and "within 2 day(s): not sent" in quiet_or_told.reason


def test_the_customer_is_told_when_the_backordered_order_ships(make, smtp):
    sp, rt = make()
    supplier(sp, "FAST", lead=2)
    placed = backordered(sp, rt, smtp)
    (po,) = purchase_orders(sp)
    sp.purchasing.receive(po["number"], {"TEE": 5}, idempotency_key="slip-1")
    rt.settle()
    assert len(to(smtp, CUSTOMER)) == 1  # covered, not yet shipped
    sp.orders.fulfil(placed["id"])
    rt.settle()
    shipped = to(smtp, CUSTOMER)[-1]
    assert shipped["Subject"] == "Your order SO-1 has shipped" and "(TEE)" in text(shipped)
    sp.db.write(lambda conn: conn.execute(update(consumer_positions).values(position=0)))
    rt.settle()
    assert len(to(smtp, CUSTOMER)) == 2


def test_the_signed_link_cancels_exactly_once_and_a_tampered_link_is_refused(make, smtp):
    sp, rt = make()
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    placed = backordered(sp, rt, smtp)
    token = cancel_token(to(smtp, CUSTOMER)[0])
    with api_client(sp) as client:
        client.headers.pop("Authorization")  # the customer has no API token: the link is the credential
        page = client.get(f"/backorders/cancel/{token}")
        assert page.status_code == 200 and "Cancel order SO-1?" in page.text and "5 x TEE" not in page.text
        assert sp.orders.get(placed["id"])["status"] == "open"  # a GET changes nothing

        tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
        assert client.get(f"/backorders/cancel/{tampered}").status_code == 400
        refused = client.post(f"/backorders/cancel/{tampered}")
        assert refused.status_code == 400 and "signature does not match" in refused.text
        assert sp.orders.get(placed["id"])["status"] == "open"

        with ThreadPoolExecutor(4) as pool:  # a double click, a retry, two devices: racing on the real database
            results = list(pool.map(lambda _: sp.backorders.cancel(token), range(4)))
        assert sorted(r["cancelled"] for r in results) == [False, False, False, True]
        again = client.post(f"/backorders/cancel/{token}")
        assert again.status_code == 200 and "already cancelled" in again.text
    assert sp.orders.get(placed["id"])["status"] == "cancelled"
    assert totals(sp, "TEE")["committed"] == 0
    with sp.db.read() as conn:
        cancels = conn.execute(select(movements.c.id).where(movements.c.kind == "cancel")).all()
        chosen = [d for d in decisions.list_for(conn, "SO-1") if d.kind == "backorder_cancel"]
    assert len(cancels) == 1 and len(chosen) == 1
    assert sp.checker.run().problems == []


def test_orders_that_are_covered_or_have_no_email_send_nothing(make, smtp):
    sp, rt = make()
    stock(sp, "TEE", {"WH": 3}, backorder_policy="allow")
    sp.orders.place("SO-1", [line("TEE", 2)], customer_email=CUSTOMER)  # in stock
    sp.orders.place("SO-2", [line("TEE", 4)])  # short by 3, but no address
    sp.orders.place("SO-3", [line("TEE", 1)], customer_email="bob@customer.example")  # short by 1
    rt.settle()
    assert [m["To"] for m in smtp.messages] == ["bob@customer.example"]
    assert "Not in stock right now: 1 x TEE," in text(smtp.messages[0])
    with sp.db.read() as conn:
        (nobody,) = [d for d in decisions.list_for(conn, "SO-2") if d.kind == "backorder_notice"]
    assert "no customer email" in nobody.reason


def test_cancelling_a_bigcommerce_order_by_link_cancels_it_in_the_store_too(make, smtp, clock):
    from tests.support.bigcommerce_api import BigCommerceApi

    with BigCommerceApi(store_hash="abc123", token="bc-token", clock=clock) as bc:
        sp, rt = make()
        stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
        sp.channels.add("bigcommerce", "bc", secret="s3cret", store_hash="abc123", api_url=bc.api_url,
                        api_token="bc-token")
        bc.put_order(100, 11, [("TEE", 2, 501)])
        placed, _ = sp.orders.place("bigcommerce:abc123:100", [line("TEE", 2)], source="bc",
                                    customer_email=CUSTOMER)
        rt.settle()
        (notice,) = to(smtp, CUSTOMER)
        assert notice["Subject"] == "Your order 100 is on backorder"  # the number the customer knows
        assert sp.backorders.cancel(cancel_token(notice))["cancelled"] is True
        rt.settle()
        assert bc.updates == [(100, {"status_id": 5})] and bc.orders[100]["status"] == "Cancelled"
        assert sp.orders.get(placed["id"])["status"] == "cancelled"
        with sp.db.read() as conn:
            (decision,) = [d for d in decisions.list_for(conn, "bigcommerce:abc123:100")
                           if d.kind == "backorder_cancel"]
        assert decision.choice["channel"] == "channel.cancel_order queued for bc"


def test_a_backordered_reservation_committed_with_an_email_is_noticed(make, smtp):
    sp, rt = make()
    stock(sp, "TEE", {"WH": 1}, backorder_policy="allow")
    with api_client(sp) as client:
        held = client.post("/api/v1/reservations", json={"reference": "cart-9", "lines": [{"sku": "TEE",
                                                                                          "quantity": 3}]})
        assert held.status_code == 201, held.text
        refused = client.post(f"/api/v1/reservations/{held.json()['id']}/commit",
                              json={"order_reference": "SO-9", "customer_email": "nope"})
        assert refused.status_code == 422  # checked before anything is committed
        committed = client.post(f"/api/v1/reservations/{held.json()['id']}/commit",
                                json={"order_reference": "SO-9", "customer_email": "Cara@Customer.example"})
        assert committed.status_code == 201, committed.text
    rt.settle()
    (notice,) = smtp.wait_for(1)
    assert notice["To"] == "cara@customer.example" and notice["Subject"] == "Your order SO-9 is on backorder"
    assert "Not in stock right now: 2 x TEE," in text(notice)
