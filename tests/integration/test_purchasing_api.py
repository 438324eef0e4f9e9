"""Purchasing over HTTP: suppliers, offers, policies, the review queue, receipts, the signed ack link and EDI 855."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stockpilot.adapters.suppliers.edi import parse_850
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime
from tests.support.serve_process import api_client
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def app(db_url, clock, smtp, tmp_path):
    sp = build(Settings(database_url=db_url, smtp_url=smtp.url, mail_from="buyer@shop.example",
                        oversell_window_seconds=0, edi_dir=str(tmp_path / "edi"),
                        public_url="https://stock.shop.example"), clock=clock, migrate=False)
    yield sp
    sp.close()


@pytest.fixture
def client(app):
    with api_client(app) as test_client:
        yield test_client


def test_suppliers_and_offers_with_clear_errors(app, client):
    stock(app, "TEE", {"WH": 0})
    created = client.post("/api/v1/suppliers", json={"code": "ACME", "name": "Acme", "delivery_method": "email",
                                                     "email": "po@acme.test", "currency": "eur"})
    assert created.status_code == 201 and created.json()["currency"] == "EUR"
    assert client.post("/api/v1/suppliers", json={"code": "ACME", "name": "Again", "delivery_method": "email",
                                                  "email": "x@y.z"}).status_code == 409
    no_url = client.post("/api/v1/suppliers", json={"code": "API", "name": "Api", "delivery_method": "http"})
    assert no_url.status_code == 422 and "api_url" in no_url.json()["detail"]
    bad_method = client.post("/api/v1/suppliers", json={"code": "X", "name": "X", "delivery_method": "fax"})
    assert bad_method.status_code == 422 and bad_method.json()["error"] == "invalid"

    offer = client.put("/api/v1/suppliers/ACME/offers/TEE", json={"unit_cost": "3.25", "lead_time_days": 7,
                                                                 "moq": 12, "pack_size": 6})
    assert offer.status_code == 201 and offer.json()["unit_cost"] == "3.25"
    changed = client.put("/api/v1/suppliers/ACME/offers/TEE", json={"available": False})
    assert changed.status_code == 200 and changed.json()["available"] is False and changed.json()["moq"] == 12
    assert client.put("/api/v1/suppliers/ACME/offers/NOPE", json={"unit_cost": "1", "lead_time_days": 1}
                      ).status_code == 404
    incomplete = client.put("/api/v1/suppliers/ACME/offers/TEE2", json={"unit_cost": "1"})
    assert incomplete.status_code == 404  # unknown SKU first
    stock(app, "MUG", {"WH": 0})
    missing = client.put("/api/v1/suppliers/ACME/offers/MUG", json={"unit_cost": "1"})
    assert missing.status_code == 422 and "lead_time_days" in missing.json()["detail"]
    assert client.put("/api/v1/suppliers/ACME/offers/MUG", json={"unit_cost": "abc", "lead_time_days": 1}
                      ).status_code == 422

    listed = client.get("/api/v1/suppliers").json()["items"]
    assert listed[0]["code"] == "ACME" and "api_token" not in listed[0]
    assert listed[0]["performance"]["fill_rate"] is None  # nothing measured yet
    assert client.get("/api/v1/suppliers/ACME").json()["offers"][0]["sku"] == "TEE"


def test_policy_settings_are_validated(app, client):
    stock(app, "TEE", {"WH": 0})
    ok = client.put("/api/v1/skus/TEE/policy", json={"manual_min": 5, "manual_max": 20, "service_level": 0.97})
    assert ok.status_code == 200 and ok.json()["manual_max"] == 20
    assert client.put("/api/v1/skus/TEE/policy", json={"manual_min": 30, "manual_max": 20}).status_code == 422
    assert client.put("/api/v1/skus/TEE/policy", json={"service_level": 1.5}).status_code == 422
    cleared = client.put("/api/v1/skus/TEE/policy", json={"manual_min": None, "manual_max": None})
    assert cleared.status_code == 200 and cleared.json()["manual_min"] is None


def test_review_queue_approve_receive_and_the_signed_ack_link(app, client, smtp):
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    app.orders.place("SO-1", [line("TEE", 3)])
    Runtime.build(app).settle()
    (review,) = client.get("/api/v1/purchase-orders/review").json()["items"]
    assert "no supplier on file" in review["review_reason"]

    client.post("/api/v1/suppliers", json={"code": "ACME", "name": "Acme", "delivery_method": "email",
                                           "email": "po@acme.test"})
    client.put("/api/v1/suppliers/ACME/offers/TEE", json={"unit_cost": "2.00", "lead_time_days": 3})
    bad = client.post(f"/api/v1/purchase-orders/{review['number']}/approve", json={"quantities": {"TEE": 0}})
    assert bad.status_code == 422
    approved = client.post(f"/api/v1/purchase-orders/{review['number']}/approve",
                           json={"supplier": "ACME", "note": "new supplier agreed"})
    assert approved.status_code == 200 and approved.json()["status"] == "sent"
    assert approved.json()["lines"][0]["unit_cost"] == "2.00"
    Runtime.build(app).settle()
    (mail,) = smtp.wait_for(1)
    link = re.search(r"https://stock\.shop\.example(/ack/\S+)", mail.get_body(("plain",)).get_content()).group(1)

    page = client.get(link, headers={"Authorization": ""})  # suppliers have no API token: the link is the key
    assert page.status_code == 200 and "acknowledged" in page.text
    assert client.get(f"/api/v1/purchase-orders/{review['number']}").json()["status"] == "acknowledged"
    assert client.get(link[:-3] + "xyz").status_code == 400  # tampered

    receipt = client.post(f"/api/v1/purchase-orders/{review['number']}/receive",
                          json={"lines": {"TEE": 3}, "idempotency_key": "slip-1"})
    assert receipt.status_code == 200 and receipt.json()["status"] == "received"
    assert client.get("/api/v1/skus/TEE").json()["totals"]["available"] == 0
    wrong = client.post(f"/api/v1/purchase-orders/{review['number']}/receive",
                        json={"lines": {"MUG": 1}, "idempotency_key": "slip-2"})
    assert wrong.status_code == 409  # already fully received
    assert client.get("/api/v1/purchase-orders/PO-999999").status_code == 404
    assert client.get("/api/v1/purchase-orders?status=bogus").status_code == 422


def _855(po_number: str, quantity: int, code: str = "AD") -> str:
    """An X12 855 for our PO, in the envelope of the published sample (its ISA is exactly 106 characters)."""
    sample = (Path(__file__).resolve().parents[3] / "shared/fixtures/x12/node-x12_855.x12").read_text()
    isa, gs = sample.split("~")[:2]
    body = ["ST*855*0005", f"BAK*00*{code}*{po_number}*20260101**SUP-77***20260101",
            f"PO1*1*{quantity}*EA*2*PE*BP*TEE", f"ACK*IA*{quantity}*EA", "CTT*1"]
    body.append(f"SE*{len(body) + 1}*0005")
    return "~".join([isa, gs, *body, "GE*1*5", "IEA*1*000000005"]) + "~"


def test_an_edi_supplier_gets_an_850_file_and_its_855_acknowledges(app, client, tmp_path):
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    (tmp_path / "edi").mkdir()
    client.post("/api/v1/suppliers", json={"code": "EDIS", "name": "Edi Supply", "delivery_method": "edi",
                                           "edi_id": "123MILL"})
    client.put("/api/v1/suppliers/EDIS/offers/TEE", json={"unit_cost": "2.00", "lead_time_days": 4})
    app.orders.place("SO-1", [line("TEE", 5)])
    Runtime.build(app).settle()
    (po,) = client.get("/api/v1/purchase-orders").json()["items"]
    (dropped,) = (tmp_path / "edi").glob("*.x12")
    (parsed,) = parse_850(dropped.read_text())
    assert parsed.po_number == po["number"] and [ln.quantity for ln in parsed.lines] == [5]

    garbage = client.post("/api/v1/edi/855", content=b"not x12")
    assert garbage.status_code == 422 and "855" in garbage.json()["detail"]
    acked = client.post("/api/v1/edi/855", content=_855(po["number"], 5).encode())
    assert acked.status_code == 200 and acked.json()["acknowledged"][0]["status"] == "accepted"
    shown = client.get(f"/api/v1/purchase-orders/{po['number']}").json()
    assert shown["status"] == "acknowledged" and shown["supplier_reference"] == "SUP-77"
    assert shown["lines"][0]["confirmed"] == 5


def test_plan_and_planned_events_over_http(app, client):
    stock(app, "TEE", {"WH": 3})
    for n in range(3):
        app.orders.place(f"SO-{n}", [line("TEE", 1)])
    assert client.post("/api/v1/plan/recompute").json()["skus"] == 1
    everything = client.get("/api/v1/plan", params={"all": "true"}).json()
    assert everything["items"][0]["sku"] == "TEE" and everything["days"] == 7
    assert client.get("/api/v1/plan", params={"days": 0}).status_code == 422
    created = client.post("/api/v1/planned-events", json={"name": "Black Friday", "starts_on": "2026-11-27",
                                                          "ends_on": "2026-11-30", "multiplier": 4})
    assert created.status_code == 201 and created.json()["sku"] is None
    bad = client.post("/api/v1/planned-events", json={"name": "x", "starts_on": "tomorrow", "ends_on": "2026-01-01",
                                                      "multiplier": 2})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.json()["detail"]
    assert len(client.get("/api/v1/planned-events").json()["items"]) == 1
    assert client.delete(f"/api/v1/planned-events/{created.json()['id']}").status_code == 204
    assert client.delete(f"/api/v1/planned-events/{created.json()['id']}").status_code == 404
