"""The dashboard's purchasing pages on each database: the PO's PDF is the email attachment byte for byte, review
edits are logged with who and what, supplier basics and SKU planning overrides are saved through the services
(bad input shown in the page, nothing half-applied) and acted on."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from stockpilot.adapters.db.tables import sku_policies, skus
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app
from stockpilot.runtime import decisions
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime, outbox_rows
from tests.integration.web_helpers import (  # noqa: F401 (fixtures by name: app, web, signed_in)
    app_fixture,
    csrf_of,
    sign_in,
    sign_in_user,
    signed_in_fixture,
    web_fixture,
)
from tests.support.smtp_server import SmtpServer


def _notice(client, response) -> str:
    assert response.status_code == 303, response.text
    return client.get(response.headers["location"]).text


def test_the_po_pdf_is_the_attachment_the_supplier_received(db_url, clock, tmp_path):
    with SmtpServer() as smtp:
        sp = build(Settings(database_url=db_url, oversell_window_seconds=0, smtp_url=smtp.url,
                            edi_dir=str(tmp_path / "edi")), clock=clock, migrate=False)
        try:
            stock(sp, "MUG", {"WH": 1}, backorder_policy="allow")
            sp.suppliers.add("KILN", {"name": "Kiln & Co", "delivery_method": "email", "email": "po@kiln.example"})
            sp.suppliers.set_offer("KILN", "MUG", {"unit_cost": "3.20", "lead_time_days": 5})
            sp.orders.place("SO-1", [line("MUG", 6)])
            Runtime.build(sp).settle()
            (message,) = smtp.wait_for(1)
            (attachment,) = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
            number = sp.purchasing.list()[0]["number"]
            with TestClient(create_app(sp, run_worker=False), follow_redirects=False) as web:
                assert web.get(f"/purchase-orders/{number}/documents/r1-new.pdf").status_code == 303  # signed out
                sign_in(web, sp.tokens.create("ops"))
                page = web.get(f"/purchase-orders/{number}").text
                href = re.search(r'href="([^"]+\.pdf)" data-po-pdf', page).group(1)
                pdf = web.get(href)
                assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
                assert pdf.content == attachment.get_payload(decode=True)  # byte for byte what the supplier got
                assert attachment.get_filename() in pdf.headers["content-disposition"]
                assert "delivered" in page and "email" in page
                assert web.get(f"/purchase-orders/{number}/documents/r9-new.pdf").status_code == 404
        finally:
            sp.close()


def test_a_review_edit_is_logged_with_who_and_what(app, web):
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    app.orders.place("SO-1", [line("TEE", 3)])
    Runtime.build(app).settle()
    app.suppliers.add("ACME", {"name": "Acme", "delivery_method": "edi", "edi_id": "ACME"})
    app.suppliers.set_offer("ACME", "TEE", {"unit_cost": "2.00", "lead_time_days": 3})
    app.users.add("dana", "a long enough password")
    sign_in_user(web, "dana", "a long enough password")
    number = app.purchasing.list(status="needs_review")[0]["number"]
    csrf = csrf_of(web.get(f"/purchase-orders/{number}").text)
    web.post(f"/purchase-orders/{number}/edit", data={"csrf": csrf, "qty:TEE": "12"})
    web.post(f"/purchase-orders/{number}/approve", data={"csrf": csrf, "qty:TEE": "12", "supplier": "ACME"})
    with app.db.read() as conn:
        reviews = [d for d in decisions.list_for(conn, number) if d.kind == "review"]
    assert [d.choice["action"] for d in reviews] == ["edit", "approve"]
    assert reviews[0].reason == "edited by dana: TEE 3 -> 12" and reviews[0].inputs["by"] == "dana"
    assert reviews[1].reason == "approved by dana after editing: supplier -> ACME"
    po = app.purchasing.get(number)
    assert po["status"] == "sent" and po["lines"][0]["quantity"] == 12
    assert "edited by dana" in web.get(f"/purchase-orders/{number}").text


def test_supplier_basics_are_edited_through_the_service(app, signed_in, clock):
    app.suppliers.add("ACME", {"name": "Acme", "delivery_method": "edi", "edi_id": "ACME"})
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    app.suppliers.set_offer("ACME", "TEE", {"unit_cost": "2.00", "lead_time_days": 3})
    app.orders.place("SO-1", [line("TEE", 4)])
    Runtime.build(app).settle()
    number = app.purchasing.list()[0]["number"]
    clock.advance(days=5)
    app.purchasing.receive(number, {"TEE": 4}, idempotency_key="box")
    sign_in(signed_in, app.tokens.create("ops"))  # five days on: yesterday's session has expired
    page = signed_in.get("/suppliers/ACME").text
    assert "2 d late" in page  # quoted 3 days, arrived after 5
    assert re.search(r'data-score="fill_rate">100%<', page) and re.search(r'data-score="on_time_rate">0%<', page)
    csrf = csrf_of(page)
    form = {"csrf": csrf, "name": "Acme Gadgets Ltd", "contact": "Jo", "email": "orders@acme.example",
            "delivery_method": "edi", "currency": "EUR", "edi_id": "ACME", "active": "on"}
    saved = _notice(signed_in, signed_in.post("/suppliers/ACME", data=form))
    assert "ACME saved" in saved
    described = app.suppliers.get("ACME")
    assert (described["name"], described["contact"], described["currency"]) == ("Acme Gadgets Ltd", "Jo", "EUR")
    # Bad input: shown in the page with its reason; nothing of the form is applied.
    bad = _notice(signed_in, signed_in.post("/suppliers/ACME", data={**form, "name": "Renamed", "currency": "EURO"}))
    assert 'role="alert"' in bad and "currency" in bad
    assert app.suppliers.get("ACME")["name"] == "Acme Gadgets Ltd"
    switched = _notice(signed_in, signed_in.post("/suppliers/ACME", data={**form, "delivery_method": "http"}))
    assert "api_url" in switched and app.suppliers.get("ACME")["delivery_method"] == "edi"
    off = {k: v for k, v in form.items() if k != "active"}
    signed_in.post("/suppliers/ACME", data=off)
    assert app.suppliers.get("ACME")["active"] is False
    assert signed_in.get("/suppliers/NOPE").status_code == 404


def test_a_planning_override_is_saved_logged_and_recomputed(app, signed_in):
    stock(app, "TEE", {"WH": 50})
    app.plan.recompute()
    page = signed_in.get("/inventory/TEE").text
    csrf = csrf_of(page)
    bad = _notice(signed_in, signed_in.post("/inventory/TEE/policy", data={
        "csrf": csrf, "manual_min": "40", "manual_max": "10", "service_level": "", "target_cover_days": ""}))
    assert 'role="alert"' in bad and "manual_min 40 is above manual_max 10" in bad
    typo = _notice(signed_in, signed_in.post("/inventory/TEE/policy", data={"csrf": csrf, "manual_min": "4x"}))
    assert "Manual min: expected a whole number" in typo
    with app.db.read() as conn:
        sku_id = conn.execute(select(skus.c.id).where(skus.c.sku == "TEE")).scalar_one()
        assert conn.execute(select(sku_policies.c.manual_min).where(sku_policies.c.sku_id == sku_id)
                            ).scalar_one() is None
    saved = _notice(signed_in, signed_in.post("/inventory/TEE/policy", data={
        "csrf": csrf, "manual_min": "30", "manual_max": "80", "service_level": "97.5", "target_cover_days": "",
        "policy": "stockpilot"}))
    assert "Planning settings of TEE saved" in saved
    with app.db.read() as conn:
        (d,) = [d for d in decisions.list_for(conn, "TEE") if d.kind == "policy_override"]
    assert d.choice == {"service_level": 0.975, "manual_min": 30, "manual_max": 80} and "token ops" in d.reason
    assert [r["topic"] for r in outbox_rows(app, "plan.recompute")] == ["plan.recompute"]
    Runtime.build(app).settle()  # the runtime runs the recompute it was asked for
    forecast = app.plan.view(sku="TEE", limit=1)[0]
    assert forecast["reorder_point"] == 30 and forecast["manual_min"] == 30
    page = signed_in.get("/inventory/TEE").text
    assert 'value="97.5"' in page and 'value="30"' in page
    again = _notice(signed_in, signed_in.post("/inventory/TEE/policy", data={
        "csrf": csrf, "manual_min": "30", "manual_max": "80", "service_level": "97.5", "policy": "stockpilot"}))
    assert "Nothing changed" in again and len(outbox_rows(app, "plan.recompute")) == 1
