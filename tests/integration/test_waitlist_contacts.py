"""Waitlist contacts end to end, on SQLite and PostgreSQL, with a real SMTP server and the real runtime:
phone entries, double opt-in, the per-contact cap, quiet hours in the contact's time zone, the embeddable form,
and a refused purchase that enrols the buyer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app
from stockpilot.runtime import decisions
from tests.integration.helpers import stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows
from tests.support.smtp_server import SmtpServer

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # the ManualClock's start: 00:00 UTC


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


def customers(n, prefix="customer"):
    return [f"{prefix}{i:03}@example.com" for i in range(n)]


def notices(smtp):
    return [m for m in smtp.messages if "back in stock" in m["Subject"]]


def recipients(smtp):
    return [m["To"] for m in notices(smtp)]


def link(message, path):
    found = re.search(rf"https://shop\.example/{path}/(\S+)", message.get_body(("plain",)).get_content())
    assert found, message
    return found.group(1)


def test_a_hundred_waiting_and_ten_units_still_tell_the_first_wave_with_every_contact_rule_on(make, smtp):
    # Double opt-in (all confirmed), a cap, quiet hours outside the contacts' night: still ceil(10 x 1.2) = 12.
    sp, rt = make(waitlist_double_opt_in=True, waitlist_cap_messages=1, waitlist_quiet_hours="22:00-06:00")
    stock(sp, "TEE", {"WH": 0})
    for email in customers(100):
        sp.waitlist.join("TEE", email, True, timezone="America/New_York")  # 19:00 there
    rt.settle()
    confirmations = [m for m in smtp.messages if m["Subject"].startswith("Confirm")]
    assert len(confirmations) == 100 and "List-Unsubscribe" not in confirmations[0]
    for message in confirmations:
        sp.waitlist.confirm(link(message, "waitlist/confirm"))
    sp.stock.adjust(sku="TEE", location="WH", delta=10, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    assert recipients(smtp) == customers(12)
    assert len(outbox_rows(sp, "waitlist.email")) == 12


def test_double_opt_in_unconfirmed_contacts_receive_nothing(make, smtp):
    sp, rt = make(waitlist_double_opt_in=True)
    stock(sp, "TEE", {"WH": 0})
    for email in customers(3):
        assert sp.waitlist.join("TEE", email, True)["status"] == "unconfirmed"
    sp.waitlist.join("TEE", customers(3)[0], True)  # joining again sends no second confirmation
    rt.settle()
    confirmations = [m for m in smtp.messages if m["Subject"].startswith("Confirm")]
    assert sorted(m["To"] for m in confirmations) == customers(3)
    first = next(m for m in confirmations if m["To"] == customers(3)[1])

    with TestClient(create_app(sp, run_worker=False)) as http:
        token = link(first, "waitlist/confirm")
        page = http.get(f"/waitlist/confirm/{token}")  # a scanner opening the link confirms nothing
        assert page.status_code == 200 and "<button" in page.text
        assert sp.waitlist.list("TEE", status="waiting") == []
        assert http.post(f"/waitlist/confirm/{token}").status_code == 200
        assert http.post(f"/waitlist/confirm/{token[:-3]}abc").status_code == 400
    sp.stock.adjust(sku="TEE", location="WH", delta=50, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    rt.advance(hours=5)
    assert recipients(smtp) == [customers(3)[1]]
    assert [e["email"] for e in sp.waitlist.list("TEE", status="unconfirmed")] == [customers(3)[0],
                                                                                 customers(3)[2]]


def test_quiet_hours_defer_to_the_end_of_the_contacts_night_never_drop(make, smtp, clock):
    sp, rt = make(waitlist_quiet_hours="21:00-08:00")
    stock(sp, "TEE", {"WH": 0})
    sp.waitlist.join("TEE", "ny@example.com", True, timezone="America/New_York")  # 19:00: awake
    sp.waitlist.join("TEE", "berlin@example.com", True, timezone="Europe/Berlin")  # 01:00: asleep until 07:00 UTC
    sp.waitlist.join("TEE", "tokyo@example.com", True, timezone="Asia/Tokyo")  # 09:00: awake
    sp.waitlist.join("TEE", "paris@example.com", True, timezone="Europe/Paris")  # asleep, then unsubscribes
    sp.stock.adjust(sku="TEE", location="WH", delta=10, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    assert sorted(recipients(smtp)) == ["ny@example.com", "tokyo@example.com"]
    (berlin,) = [e for e in sp.waitlist.list("TEE") if e["email"] == "berlin@example.com"]
    assert berlin["status"] == "notified" and berlin["deliver_at"] == "2026-01-01T07:00:00+00:00"
    with sp.db.read() as conn:
        (wave,) = [d for d in decisions.list_for(conn, "TEE") if d.kind == "waitlist_wave"]
    assert "2 held until their quiet hours end" in wave.reason

    (row,) = [r for r in outbox_rows(sp, "waitlist.email") if r["payload"]["to"] == "ny@example.com"]
    sp.waitlist.unsubscribe(re.search(r"/unsubscribe\?token=(\S+)", row["payload"]["body"]).group(1))  # ny leaves
    paris_token = None
    with sp.db.read() as conn:
        from stockpilot.adapters.notify.unsubscribe import sign_unsubscribe
        from stockpilot.services.secrets import app_secret
        (paris,) = [e for e in sp.waitlist.list("TEE") if e["email"] == "paris@example.com"]
        paris_token = sign_unsubscribe(paris["id"], app_secret(conn, "waitlist", clock.now()))
    sp.waitlist.unsubscribe(paris_token)

    rt.advance(hours=6, minutes=59)
    assert "berlin@example.com" not in recipients(smtp)
    rt.advance(minutes=1)  # 08:00 in Berlin
    assert sorted(recipients(smtp)) == ["berlin@example.com", "ny@example.com", "tokyo@example.com"]
    assert clock.now() == datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
    rt.advance(hours=24)
    assert "paris@example.com" not in recipients(smtp)  # unsubscribed while held: nothing goes out


def test_the_frequency_cap_steps_a_contact_over_and_keeps_their_place(make, smtp):
    sp, rt = make(waitlist_cap_messages=2, waitlist_cap_days=7)
    for sku in ("A", "B", "C"):
        stock(sp, sku, {"WH": 0})
        sp.waitlist.join(sku, "fan@example.com", True)
    sp.waitlist.join("C", "other@example.com", True)
    for sku in ("A", "B", "C"):
        sp.stock.adjust(sku=sku, location="WH", delta=1, kind="receive", idempotency_key=f"rcv-{sku}")
        rt.settle()
    # A: 1 unit -> 2 told (fan); B -> fan (2nd message); C: fan is at the cap, so `other` (behind) is told
    assert recipients(smtp) == ["fan@example.com", "fan@example.com", "other@example.com"]
    with sp.db.read() as conn:
        reason = [d.reason for d in decisions.list_for(conn, "C") if d.kind == "waitlist_wave"][-1]
    assert "1 over their message cap keep their place" in reason
    assert [e["email"] for e in sp.waitlist.list("C", status="waiting")] == ["fan@example.com"]
    rt.advance(hours=24)
    assert len(notices(smtp)) == 3  # hourly waves while units remain: the fan is still capped
    rt.advance(days=6)  # the first message is now older than 7 days
    assert recipients(smtp)[-1] == "fan@example.com" and len(notices(smtp)) == 4


@pytest.fixture
def client(make):
    sp, rt = make()
    token = sp.tokens.create("test")
    with TestClient(create_app(sp, run_worker=False), base_url="https://shop.example") as http:
        http.headers["Authorization"] = f"Bearer {token}"
        yield sp, rt, http


def test_phone_contacts_are_stored_and_queued_and_fail_clearly_without_an_sms_channel(client):
    sp, rt, http = client
    stock(sp, "TEE", {"WH": 0})
    joined = http.post("/api/v1/waitlist", json={"sku": "TEE", "phone": "+1 (415) 555-0100", "consent": True,
                                                 "timezone": "America/Los_Angeles"})
    assert joined.status_code == 201 and joined.json()["phone"] == "+14155550100" and joined.json()["email"] is None
    assert http.post("/api/v1/waitlist", json={"sku": "TEE", "phone": "415-555", "consent": True}).status_code == 422
    assert http.post("/api/v1/waitlist", json={"sku": "TEE", "phone": "+14155550100", "email": "a@b.example",
                                               "consent": True}).status_code == 422
    assert http.post("/api/v1/waitlist", json={"sku": "TEE", "consent": True}).status_code == 422
    assert http.post("/api/v1/waitlist", json={"sku": "TEE", "email": "a@b.example", "consent": True,
                                               "timezone": "Mars/Olympus"}).status_code == 422
    sp.stock.adjust(sku="TEE", location="WH", delta=3, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    (sms,) = outbox_rows(sp, "waitlist.sms")
    assert sms["payload"]["to"] == "+14155550100" and "/unsubscribe?token=" in sms["payload"]["body"]
    assert sms["status"] == "dead" and "sms channel not configured" in sms["last_error"]


def test_the_embeddable_form(client):
    sp, _rt, http = client
    stock(sp, "TEE", {"WH": 0})
    page = http.get("/waitlist/form", params={"sku": "TEE"}, headers={"Authorization": ""})
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors *" in csp and "form-action 'self'" in csp and "default-src 'none'" in csp
    assert "set-cookie" not in page.headers
    assert '<label for=email>' in page.text and 'action="/waitlist/form"' in page.text
    token = re.search(r'name=token value="([^"]+)"', page.text).group(1)
    form = {"sku": "TEE", "token": token, "email": "Ann@Example.com", "consent": "yes", "timezone": "Europe/Berlin"}
    own = {"Origin": "https://shop.example", "Authorization": ""}

    assert http.post("/waitlist/form", data=form, headers={**own, "Origin": "https://evil.example"}
                     ).status_code == 403
    assert http.post("/waitlist/form", data={**form, "token": token[:-2] + "xx"}, headers=own).status_code == 400
    assert http.post("/waitlist/form", data={**form, "sku": "NOPE"}, headers=own).status_code == 404
    missing = http.post("/waitlist/form", data={**form, "consent": ""}, headers=own)
    assert missing.status_code == 422 and "role=alert" in missing.text and 'value="Ann@Example.com"' in missing.text
    assert http.post("/waitlist/form", data={**form, "website": "http://spam.example"}, headers=own
                     ).status_code == 200  # the honeypot: thanked, not stored
    assert sp.waitlist.list("TEE") == []
    done = http.post("/waitlist/form", data=form, headers=own)
    assert done.status_code == 200 and "You are on the list" in done.text
    (entry,) = sp.waitlist.list("TEE")
    assert entry["email"] == "ann@example.com" and entry["source"] == "form" and entry["timezone"] == "Europe/Berlin"
    assert http.get("/waitlist/form", params={"sku": "NOPE"}).status_code == 404


def test_a_refused_purchase_with_notify_me_enrols_the_buyer(client, smtp):
    sp, rt, http = client
    stock(sp, "TEE", {"WH": 1})
    refused = http.post("/api/v1/reservations", json={
        "reference": "cart-1", "lines": [{"sku": "TEE", "quantity": 2}],
        "customer_email": "buyer@example.com", "notify_me": True})
    assert refused.status_code == 409 and refused.json()["error"] == "insufficient_stock"
    assert refused.json()["waitlist"]["status"] == "waiting"
    order = http.post("/api/v1/orders", json={"reference": "SO-1", "lines": [{"sku": "TEE", "quantity": 5}],
                                              "customer_phone": "+447700900123", "notify_me": True})
    assert order.status_code == 409 and order.json()["waitlist"]["sku"] == "TEE"
    plain = http.post("/api/v1/orders", json={"reference": "SO-2", "lines": [{"sku": "TEE", "quantity": 5}],
                                              "customer_email": "nobody@example.com"})
    assert plain.status_code == 409 and "waitlist" not in plain.json()
    bad = http.post("/api/v1/reservations", json={"reference": "cart-3", "lines": [{"sku": "TEE", "quantity": 5}],
                                                  "customer_email": "not-an-email", "notify_me": True})
    assert bad.status_code == 409 and bad.json()["waitlist"]["error"] == "invalid"
    entries = sp.waitlist.list("TEE")
    assert [(e["email"], e["phone"], e["source"]) for e in entries] == [
        ("buyer@example.com", None, "refused"), (None, "+447700900123", "refused")]
    sp.stock.adjust(sku="TEE", location="WH", delta=4, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    assert recipients(smtp) == ["buyer@example.com"]


SID, TOKEN = "AC" + "2e" * 16, "7c" * 16


def test_texts_go_through_apprises_twilio_plugin_and_unsubscribed_numbers_get_none(make):
    from tests.support.twilio_api import TwilioApi

    with TwilioApi(SID, TOKEN) as twilio:
        sp, rt = make(waitlist_sms_url=f"twilio://{SID}:{TOKEN}@15550001111", twilio_api_url=twilio.url,
                      waitlist_double_opt_in=True)
        stock(sp, "TEE", {"WH": 0})
        sp.waitlist.join("TEE", None, True, phone="+1 415 555 0100")
        sp.waitlist.join("TEE", None, True, phone="+44 7700 900123")
        rt.settle()
        asks = twilio.wait_for(2)
        assert sorted(m["To"] for m in asks) == ["+14155550100", "+447700900123"]
        assert all(m["From"] == "+15550001111" and "/waitlist/confirm/" in m["Body"] for m in asks)
        for message in asks:
            token = re.search(r"/waitlist/confirm/(\S+)", message["Body"]).group(1)
            sp.waitlist.confirm(token)
        sp.stock.adjust(sku="TEE", location="WH", delta=5, kind="receive", idempotency_key="rcv-1")
        rt.consumer.run_once()  # the wave is decided; one of them texts STOP-by-link before it goes out
        (uk,) = [r for r in outbox_rows(sp, "waitlist.sms") if r["payload"]["to"] == "+447700900123"
                 and "back in stock" in r["payload"]["body"]]
        sp.waitlist.unsubscribe(re.search(r"/unsubscribe\?token=(\S+)", uk["payload"]["body"]).group(1))
        rt.settle()
        (notice,) = twilio.wait_for(3)[2:]
        assert notice["To"] == "+14155550100" and notice["Body"].startswith("TEE is back in stock")
        assert len(twilio.messages) == 3 and twilio.refused == []
