"""Staff alerts end to end: Apprise URLs to a real loopback webhook receiver and a real SMTP server, driven by the
worker's own consumer, timers and outbox dispatcher against a manual clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from stockpilot.adapters.db.tables import consumer_positions
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import decisions, outbox
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows
from tests.support.receiver import Receiver
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def make(db_url, clock):
    apps = []

    def factory(**overrides):
        settings = Settings(database_url=db_url, db_pool_size=20, public_url="https://ops.shop.example",
                            oversell_window_seconds=0, **overrides)
        app = build(settings, clock=clock, migrate=False)
        apps.append(app)
        return app, Runtime.build(app)

    yield factory
    for app in apps:
        app.close()


def hook(receiver: Receiver) -> str:
    return receiver.url.replace("http://", "json://")


def mailto(smtp: SmtpServer, to: str) -> str:
    return f"mailto://{smtp.host}:{smtp.port}?from=alerts@shop.example&to={to}&mode=insecure"


def titles(receiver: Receiver) -> list[str]:
    return [body["title"] for body in receiver.effects.values()]


def oversell(sp, sku: str, orders: int, start: int = 0) -> None:
    for n in range(start, start + orders):
        sp.orders.place(f"SO-{sku}-{n}", [line(sku, 1)])


def test_an_oversell_alert_goes_to_its_route_once_even_when_the_event_is_replayed(make, receiver):
    sp, rt = make(alert_routes=[{"kinds": ["oversell"], "urls": [hook(receiver)]}])
    stock(sp, "MUG", {"WH": 0}, backorder_policy="allow")
    oversell(sp, "MUG", 1)
    rt.settle()
    assert receiver.wait_for(1)
    (body,) = receiver.effects.values()
    assert body["title"] == "Oversold: MUG is 1 unit(s) short"
    assert "https://ops.shop.example/inventory/MUG" in body["message"]
    assert "SO-MUG-0" in body["message"]

    sp.db.write(lambda conn: conn.execute(update(consumer_positions).values(position=0)))  # replay every event
    rt.settle()
    assert len(receiver.effects) == 1 and sum(receiver.raw.values()) == 1
    assert len(outbox_rows(sp, "alert.apprise")) == 1
    with sp.db.read() as conn:
        (decision,) = [d for d in decisions.list_for(conn, "MUG") if d.kind == "staff_alert"]
    assert decision.choice["outcome"] == "sent" and decision.choice["immediate"] == ["json://127.0.0.1:" +
                                                                                      receiver.url.split(":")[2]]


def test_a_storm_of_fifty_oversells_of_one_sku_is_one_message_and_one_summary(make, smtp):
    sp, rt = make(alert_routes=[{"kinds": ["oversell"], "urls": [mailto(smtp, "ops@shop.example")]}],
                  alert_merge_minutes=15)
    stock(sp, "MUG", {"WH": 0}, backorder_policy="allow")
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    oversell(sp, "MUG", 50)
    oversell(sp, "TEE", 1)  # another subject: its own message
    rt.settle()
    first = smtp.wait_for(2)
    assert sorted(m["Subject"] for m in first) == ["Oversold: MUG is 1 unit(s) short",
                                                  "Oversold: TEE is 1 unit(s) short"]
    rt.advance(minutes=14)
    assert len(smtp.messages) == 2  # the window is still open
    rt.advance(minutes=1)
    messages = smtp.wait_for(3)
    summary = messages[2]
    assert summary["Subject"] == "49 more: Oversold: MUG is 1 unit(s) short"
    assert "49 more \"oversell\" alert(s) for MUG" in summary.get_body(("plain",)).get_content()
    rt.advance(minutes=30)
    assert len(smtp.messages) == 3  # TEE had nothing merged: no summary for it

    oversell(sp, "MUG", 1, start=50)  # after the window: a new alert goes out at once
    rt.settle()
    assert smtp.wait_for(4)[3]["Subject"] == "Oversold: MUG is 51 unit(s) short"


def test_low_priority_alerts_wait_for_one_digest(make, receiver):
    sp, rt = make(alert_routes=[{"urls": [hook(receiver)]}], alert_digest_minutes=60)
    for sku in ("A", "B", "C"):
        stock(sp, sku, {"WH": 10}, low_stock_threshold=3)
    for sku in ("A", "B", "C"):
        sp.stock.adjust(sku=sku, location="WH", delta=-8, idempotency_key=f"sale-{sku}")
    rt.settle()
    rt.advance(minutes=59)
    assert receiver.effects == {}  # nothing yet: low stock is a digest kind
    rt.advance(minutes=1)
    assert receiver.wait_for(1)
    (body,) = receiver.effects.values()
    assert body["title"] == "Stockpilot digest: 3 alert(s)"
    for sku in ("A", "B", "C"):
        assert f"Low stock: {sku} at 2" in body["message"]
        assert f"https://ops.shop.example/inventory/{sku}" in body["message"]
    rt.advance(minutes=120)
    assert len(receiver.effects) == 1  # nothing new: no second digest


def test_routes_by_sku_tag_and_the_staff_email_fallback_for_escalations(make, smtp):
    fragile = mailto(smtp, "fragile@shop.example")
    sp, rt = make(smtp_url=smtp.url, mail_from="stockpilot@shop.example", alert_email="ops@shop.example",
                  alert_routes=[{"kinds": ["oversell"], "tags": ["fragile"], "urls": [fragile]}])
    stock(sp, "VASE", {"WH": 0}, backorder_policy="allow")
    stock(sp, "MUG", {"WH": 0}, backorder_policy="allow")
    assert sp.alerts.set_tags("VASE", ["Fragile", "fragile"]) == {"sku": "VASE", "tags": ["fragile"]}
    oversell(sp, "VASE", 1)
    oversell(sp, "MUG", 1)  # no tag: no route; an oversell is not an escalation, so not the staff address either
    sp.db.write(lambda conn: outbox.enqueue(conn, "webhook.post", {"url": "http://127.0.0.1:9/closed"}, "hook-1",
                                            sp.ctx.clock.now(), max_attempts=1))  # gives up at once: dead
    rt.settle()
    by_to = {m["To"]: m["Subject"] for m in smtp.wait_for(2)}
    assert by_to == {"fragile@shop.example": "Oversold: VASE is 1 unit(s) short",
                     "ops@shop.example": "A webhook.post delivery gave up"}
    with sp.db.read() as conn:
        (unrouted,) = [d for d in decisions.list_for(conn, "MUG") if d.kind == "staff_alert"]
    assert unrouted.choice is None and "nobody told" in unrouted.reason


def test_a_route_naming_an_unknown_kind_stops_start_up_with_its_position(db_url, clock):
    from stockpilot.domain.alerts import RouteError

    with pytest.raises(RouteError, match=r"alert_routes\[2\]\.kinds: unknown kind\(s\) oversold"):
        build(Settings(database_url=db_url, alert_routes='[{"urls": ["json://h/x"]}, '
                                                          '{"kinds": ["oversold"], "urls": ["json://h/y"]}]'),
              clock=clock, migrate=False)


def test_sku_tags_over_the_api(make):
    from tests.support.serve_process import api_client

    sp, _rt = make()
    stock(sp, "VASE", {"WH": 1})
    with api_client(sp) as client:
        assert client.put("/api/v1/skus/VASE/tags", json={"tags": ["Fragile", "gift"]}).json() == {
            "sku": "VASE", "tags": ["fragile", "gift"]}
        assert client.get("/api/v1/skus/VASE/tags").json()["tags"] == ["fragile", "gift"]
        refused = client.put("/api/v1/skus/VASE/tags", json={"tags": ["no spaces"]})
        assert refused.status_code == 422 and "'no spaces' is not a tag" in refused.json()["detail"]
        assert client.put("/api/v1/skus/NOPE/tags", json={"tags": []}).status_code == 404


SID, TOKEN = "AC" + "1f" * 16, "9a" * 16


def test_sms_through_apprises_twilio_url_reaches_the_messages_api(make):
    from tests.support.twilio_api import TwilioApi

    with TwilioApi(SID, TOKEN) as twilio:
        sp, rt = make(alert_routes=[{"kinds": ["oversell"], "urls": [f"twilio://{SID}:{TOKEN}@15550001111/15550002222"]}],
                      twilio_api_url=twilio.url)
        stock(sp, "MUG", {"WH": 0}, backorder_policy="allow")
        oversell(sp, "MUG", 1)
        rt.settle()
        (sms,) = twilio.wait_for(1)
        assert sms["From"] == "+15550001111" and sms["To"] == "+15550002222"
        assert sms["Body"].startswith("Oversold: MUG is 1 unit(s) short")
        assert twilio.refused == []
        (row,) = outbox_rows(sp, "alert.apprise")
        assert row["status"] == "delivered" and TOKEN not in str(row["payload"])  # only the destination's hash


def test_a_refused_sms_stays_in_the_outbox_to_retry(make):
    from tests.support.twilio_api import TwilioApi

    with TwilioApi(SID, "0b" * 16) as twilio:  # the shop's token is wrong: Twilio answers 401
        sp, rt = make(alert_routes=[{"kinds": ["oversell"], "urls": [f"twilio://{SID}:{TOKEN}@15550001111/15550002222"]}],
                      twilio_api_url=twilio.url)
        stock(sp, "MUG", {"WH": 0}, backorder_policy="allow")
        oversell(sp, "MUG", 1)
        rt.settle(rounds=1)
        assert twilio.messages == [] and twilio.refused == [401]
        (row,) = outbox_rows(sp, "alert.apprise")
        assert row["status"] == "pending" and row["attempts"] == 1 and "twilio://***@" in row["last_error"]


def test_racing_raisers_of_one_subject_send_one_alert_and_count_the_rest(make, receiver):
    import threading

    from stockpilot.domain.alerts import OVERSELL
    from stockpilot.services.staff_alerts import Alert

    sp, rt = make(alert_routes=[{"kinds": ["oversell"], "urls": [hook(receiver)]}], alert_merge_minutes=15)
    stock(sp, "MUG", {"WH": 0})
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def raiser(n: int) -> None:
        alert = Alert(OVERSELL, "MUG", f"race:{n}", sku="MUG", path="/inventory/MUG",
                      values={"sku": "MUG", "oversold_units": n, "available": -n, "reference": f"SO-{n}"})
        start.wait()
        outcomes.append(sp.db.write(lambda conn: sp.alerts.raise_alert(conn, alert)))

    threads = [threading.Thread(target=raiser, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["merged"] * 7 + ["sent"]
    rt.advance(minutes=15)
    assert receiver.wait_for(2)
    assert len(receiver.effects) == 2 and titles(receiver)[1].startswith("7 more: Oversold: MUG")


def test_every_outbox_topic_but_the_alerts_themselves_tells_staff_when_it_gives_up(make):
    from stockpilot.runtime.handlers import automations

    sp, _rt = make()
    auto = automations(sp)
    silent = sorted(t for t in auto.outbox_handlers if t not in auto.outcomes)
    assert silent == ["alert.apprise", "alert.email"]  # an alert about a failed alert would loop
    sp.db.write(lambda conn: auto.outcomes["waitlist.sms"].dead(conn, {}, "waitlist-sms:7:1", "Twilio said 401",
                                                                sp.ctx.clock.now()))
    with sp.db.read() as conn:
        (decision,) = decisions.list_for(conn, "waitlist.sms")
    assert decision.kind == "staff_alert" and decision.inputs["kind"] == "delivery_dead"
