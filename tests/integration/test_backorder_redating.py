"""Backorder ETAs follow supply changes that are not stock movements, on SQLite and PostgreSQL with a real SMTP
server: a supplier's lead time changing, and a sent PO's expected date moved by the supplier's acknowledgement
(API, X12 855). The margin rule is the same as for PO events."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.runtime import decisions
from tests.integration.backorder_helpers import CUSTOMER, smtp, supplier, text, to
from tests.integration.helpers import line
from tests.integration.purchasing_helpers import Runtime, purchase_orders
from tests.support.serve_process import api_client

__all__ = ["smtp"]  # fixtures


@pytest.fixture
def make(db_url, clock, smtp):
    apps = []

    def factory(**overrides):
        settings = Settings(**{"database_url": db_url, "db_pool_size": 20, "smtp_url": smtp.url,
                               "mail_from": "shop@shop.example", "public_url": "https://shop.example",
                               "oversell_window_seconds": 0, **overrides})
        app = build(settings, clock=clock, migrate=False)
        apps.append(app)
        return app, Runtime.build(app)

    yield factory
    for app in apps:
        app.close()


def backordered(sp, rt):
    sp.orders.place("SO-1", [line("TEE", 5)], customer_email=CUSTOMER)
    rt.settle()


def last_decision(sp):
    with sp.db.read() as conn:
        return [d for d in decisions.list_for(conn, "SO-1") if d.kind == "backorder_notice"][-1]


@pytest.mark.parametrize(("new_lead", "updated"), [(10, True), (4, False)])
def test_a_lead_time_change_re_dates_what_is_not_on_order(make, smtp, clock, new_lead, updated):
    # A long oversell window: the PO is not placed yet, so the date is today + the shortest lead time.
    sp, rt = make(oversell_window_seconds=3600, backorder_eta_margin_days=2)
    supplier(sp, "FAST", lead=2)
    start = clock.now().date()
    backordered(sp, rt)
    assert f"ship it by {start + timedelta(days=2)}" in text(to(smtp, CUSTOMER)[0])

    sp.suppliers.set_offer("FAST", "TEE", {"unit_cost": "4.00", "lead_time_days": 2})  # unchanged: no event
    rt.settle()
    assert last_decision(sp).choice == {"notice": "backordered", "eta": (start + timedelta(days=2)).isoformat(),
                                        "by": "email"}

    sp.suppliers.set_offer("FAST", "TEE", {"lead_time_days": new_lead})
    rt.settle()
    notices = to(smtp, CUSTOMER)
    decided = last_decision(sp)
    if updated:  # 2 -> 10 days: beyond the margin
        assert [m["Subject"] for m in notices][1:] == ["New expected date for your order SO-1"]
        assert f"expected to ship by {start + timedelta(days=10)}" in text(notices[1])
        assert decided.choice == {"notice": "eta_changed", "eta": (start + timedelta(days=10)).isoformat(),
                                  "by": "email"}
        assert "SupplyRedated" in decided.inputs["trigger"]
    else:  # 2 -> 4 days: within it, said in the decision log only
        assert len(notices) == 1
        assert decided.choice is None and "within 2 day(s): not sent" in decided.reason


def test_a_supplier_acknowledgement_with_a_later_date_re_dates_the_order(make, smtp, clock):
    sp, rt = make(backorder_eta_margin_days=2)
    supplier(sp, "FAST", lead=2)
    start = clock.now().date()
    backordered(sp, rt)
    (po,) = purchase_orders(sp)
    assert po["status"] == "sent" and len(to(smtp, CUSTOMER)) == 1

    with api_client(sp) as http:
        bad = http.post(f"/api/v1/purchase-orders/{po['number']}/acknowledge", json={"eta": "next week"})
        assert bad.status_code == 422 and "eta" in bad.json()["detail"]
        later = (start + timedelta(days=3)).isoformat()  # within the margin: quiet
        ok = http.post(f"/api/v1/purchase-orders/{po['number']}/acknowledge", json={"eta": later})
        assert ok.status_code == 200 and ok.json()["status"] == "acknowledged" and ok.json()["eta"] == later
    rt.settle()
    assert len(to(smtp, CUSTOMER)) == 1 and "within 2 day(s): not sent" in last_decision(sp).reason

    slipped = start + timedelta(days=9)  # a second acknowledgement reschedules again: now beyond the margin
    sp.purchasing.acknowledge(po["number"], via="phone", eta=slipped)
    rt.settle()
    update = to(smtp, CUSTOMER)[-1]
    assert update["Subject"] == "New expected date for your order SO-1"
    assert f"expected to ship by {slipped} (we said {start + timedelta(days=2)} before)" in text(update)
    assert sp.purchasing.get(po["number"])["eta"] == slipped.isoformat()

    sp.purchasing.acknowledge(po["number"], via="phone", eta=slipped)  # the same date again: nothing more
    rt.settle()
    assert len(to(smtp, CUSTOMER)) == 2


def test_an_855_with_a_schedule_date_reschedules_the_po(make, smtp, clock):
    sp, rt = make(backorder_eta_margin_days=2)
    supplier(sp, "FAST", lead=2)
    start = clock.now().date()
    backordered(sp, rt)
    (po,) = purchase_orders(sp)
    promised = start + timedelta(days=12)
    ymd = promised.strftime("%Y%m%d")
    segments = ["ISA*00*          *00*          *ZZ*FAST           *ZZ*STOCKPILOT     *260101*0000*U*00401*"
                "000000001*0*P*>", "GS*PR*FAST*STOCKPILOT*20260101*0000*1*X*004010", "ST*855*0001",
                f"BAK*00*AC*{po['number']}*20260101", "PO1*1*5*EA*4.00**VP*TEE", f"ACK*IA*5*EA*068*{ymd}",
                "CTT*1", "SE*6*0001", "GE*1*1", "IEA*1*000000001"]
    with api_client(sp) as http:
        answer = http.post("/api/v1/edi/855", content="~".join(segments) + "~")
        assert answer.status_code == 200, answer.text
    rt.settle()
    assert sp.purchasing.get(po["number"])["eta"] == promised.isoformat()
    assert f"expected to ship by {promised}" in text(to(smtp, CUSTOMER)[-1])
