"""The back-in-stock waitlist end to end on the real runtime and a real SMTP server, on SQLite and PostgreSQL.

Waves are driven by the worker's own consumer, timers and outbox dispatcher against a manual clock.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from stockpilot.adapters.db.tables import consumer_positions
from stockpilot.adapters.notify.unsubscribe import sign_unsubscribe
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app
from stockpilot.runtime import decisions
from stockpilot.services.secrets import app_secret
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows, purchase_orders
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def make(db_url, clock, smtp):
    apps = []

    def factory(**overrides):
        settings = Settings(database_url=db_url, db_pool_size=20, smtp_url=smtp.url, mail_from="shop@shop.example",
                            public_url="https://shop.example", **overrides)
        app = build(settings, clock=clock, migrate=False)
        apps.append(app)
        return app, Runtime.build(app)

    yield factory
    for app in apps:
        app.close()


def customers(n):
    return [f"customer{i:03}@example.com" for i in range(n)]


def notices(smtp):
    return [m for m in smtp.messages if "back in stock" in m["Subject"]]


def recipients(smtp):
    return [m["To"] for m in notices(smtp)]


def waiting_list(sp, n, sku="TEE"):
    stock(sp, sku, {"WH": 0})
    for email in customers(n):
        sp.waitlist.join(sku, email, True)


def test_ten_units_for_a_hundred_waiting_tell_the_first_twelve_then_the_next_wave_if_units_remain(make, smtp):
    sp, rt = make()
    waiting_list(sp, 100)
    rt.settle()
    assert notices(smtp) == []  # nothing to sell yet

    sp.stock.adjust(sku="TEE", location="WH", delta=10, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    assert recipients(smtp) == customers(12)  # ceil(10 x 1.2), oldest first
    with sp.db.read() as conn:
        (decision,) = decisions.list_for(conn, "TEE")
    assert decision.kind == "waitlist_wave" and "notified 12" in decision.reason and "88 wait" in decision.reason

    sp.stock.adjust(sku="TEE", location="WH", delta=5, kind="receive", idempotency_key="rcv-2")
    rt.settle()
    assert len(notices(smtp)) == 12  # a wave is out: more units wait for its interval, not a second wave now

    rt.advance(minutes=59)
    assert len(notices(smtp)) == 12
    rt.advance(minutes=1)  # 15 units still available: ceil(15 x 1.2) = 18 more
    assert recipients(smtp) == customers(30)
    assert [e["wave"] for e in sp.waitlist.list("TEE", status="notified")] == [1] * 12 + [2] * 18

    sp.stock.adjust(sku="TEE", location="WH", on_hand=0, idempotency_key="sold-out")
    rt.advance(minutes=60)  # the next wave finds no units: nobody is told
    rt.advance(minutes=600)
    assert len(notices(smtp)) == 30
    assert len(sp.waitlist.list("TEE", status="waiting", limit=1000)) == 70

    body = notices(smtp)[0].get_body(("plain",)).get_content()
    assert re.search(r"https://shop\.example/unsubscribe\?token=v1\.\S+", body)
    keys = [r["idempotency_key"] for r in outbox_rows(sp, "waitlist.email")]
    assert len(keys) == len(set(keys)) == 30


def test_a_replayed_event_history_sends_nothing_twice(make, smtp):
    sp, rt = make()
    waiting_list(sp, 20)
    sp.stock.adjust(sku="TEE", location="WH", delta=5, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    assert len(notices(smtp)) == 6

    sp.db.write(lambda conn: conn.execute(update(consumer_positions).values(position=0)))  # replay everything
    rt.settle()
    assert recipients(smtp) == customers(6)
    assert len(outbox_rows(sp, "waitlist.email")) == 6


def test_an_unsubscribed_contact_receives_nothing(make, smtp):
    sp, rt = make()
    waiting_list(sp, 3)
    sp.stock.adjust(sku="TEE", location="WH", delta=1, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    first = notices(smtp)
    assert recipients(smtp) == customers(2)
    link = re.search(r"/unsubscribe\?token=(\S+)", first[0].get_body(("plain",)).get_content())
    assert link
    assert sp.waitlist.unsubscribe(link.group(1))["status"] == "unsubscribed"

    stock(sp, "CAP", {"WH": 0})
    sp.waitlist.join("CAP", customers(1)[0], True)  # already unsubscribed: the address stays unsubscribed
    sp.waitlist.join("CAP", customers(3)[2], True)
    sp.stock.adjust(sku="CAP", location="WH", delta=4, kind="receive", idempotency_key="rcv-cap")
    rt.settle()
    assert recipients(smtp)[2:] == [customers(3)[2]]
    assert customers(1)[0] not in recipients(smtp)[1:]


def test_an_unsubscribe_after_the_wave_is_decided_still_stops_the_email(make, smtp):
    sp, rt = make()
    waiting_list(sp, 2)
    sp.stock.adjust(sku="TEE", location="WH", delta=5, kind="receive", idempotency_key="rcv-1")
    rt.consumer.run_once()  # the wave is decided and queued, not yet sent
    (row, _) = outbox_rows(sp, "waitlist.email")
    token = re.search(r"/unsubscribe\?token=(\S+)", row["payload"]["body"])
    assert token
    sp.waitlist.unsubscribe(token.group(1))
    rt.settle()
    assert recipients(smtp) == [customers(2)[1]]


def test_a_po_sent_notifies_nobody_only_received_units_do(make, smtp):
    sp, rt = make(oversell_window_seconds=0)
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    sp.suppliers.add("ACME", {"name": "ACME Ltd", "delivery_method": "email", "email": "orders@acme.test"})
    sp.suppliers.set_offer("ACME", "TEE", {"unit_cost": "4.00", "lead_time_days": 5})
    for email in customers(10):
        sp.waitlist.join("TEE", email, True)
    sp.orders.place("SO-1", [line("TEE", 3)])  # oversold: a PO for 3 goes to ACME
    rt.settle()
    (po,) = purchase_orders(sp, "sent")
    assert sp.catalog.get_sku("TEE")["totals"]["incoming"] == 3
    assert notices(smtp) == []  # incoming is not stock to sell

    sp.purchasing.receive(po["number"], {"TEE": 5}, idempotency_key="rcv-po")  # 5 in, 3 backordered: 2 to sell
    rt.settle()
    assert recipients(smtp) == customers(3)  # ceil(2 x 1.2)


@pytest.fixture
def client(db_url, clock):
    sp = build(Settings(database_url=db_url), clock=clock, migrate=False)
    token = sp.tokens.create("test")
    with TestClient(create_app(sp, run_worker=False)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield sp, test_client
    sp.close()


def test_the_waitlist_api(client):
    sp, http = client
    stock(sp, "TEE", {"WH": 0})
    joined = http.post("/api/v1/waitlist", json={"sku": "TEE", "email": "Ann@Example.com", "consent": True})
    assert joined.status_code == 201 and joined.json()["email"] == "ann@example.com"
    again = http.post("/api/v1/waitlist", json={"sku": "TEE", "email": "ann@example.com", "consent": True})
    assert again.json()["id"] == joined.json()["id"]
    assert http.post("/api/v1/waitlist", json={"sku": "TEE", "email": "bob@example.com"}).status_code == 422
    assert http.post("/api/v1/waitlist",
                     json={"sku": "TEE", "email": "bob@example.com", "consent": False}).status_code == 422
    assert http.post("/api/v1/waitlist", json={"sku": "TEE", "email": "bob", "consent": True}).status_code == 422
    assert http.post("/api/v1/waitlist",
                     json={"sku": "NOPE", "email": "bob@example.com", "consent": True}).status_code == 404
    listed = http.get("/api/v1/waitlist", params={"sku": "TEE"}).json()
    assert [e["email"] for e in listed] == ["ann@example.com"] and listed[0]["status"] == "waiting"
    assert http.get("/api/v1/waitlist", params={"sku": "TEE"}, headers={"Authorization": ""}).status_code == 401

    secret = sp.db.write(lambda conn: app_secret(conn, "waitlist", sp.ctx.clock.now()))
    token = sign_unsubscribe(listed[0]["id"], secret)
    assert http.get(f"/unsubscribe/{token[:-2]}xx", headers={"Authorization": ""}).status_code == 400
    page = http.get(f"/unsubscribe/{token}", headers={"Authorization": ""})
    assert page.status_code == 200 and "ann@example.com" in page.text
    assert http.get("/api/v1/waitlist", params={"sku": "TEE"}).json()[0]["status"] == "waiting"  # a GET: a page
    done = http.post(f"/unsubscribe/{token}", headers={"Authorization": ""})
    assert done.status_code == 200 and "ann@example.com" in done.text
    assert http.get("/api/v1/waitlist", params={"sku": "TEE"}).json()[0]["status"] == "unsubscribed"
