"""The dashboard through FastAPI's test client, on each database: sign-in, sessions, CSRF, the forms (PRG) and
that every page renders from real data."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from stockpilot.adapters.db.tables import api_tokens
from stockpilot.runtime import outbox
from stockpilot.services.sku_history import daily_history
from tests.integration.helpers import line, stock, totals
from tests.integration.purchasing_helpers import Runtime
from tests.integration.web_helpers import (  # noqa: F401 (fixtures by name: app, web, signed_in)
    app_fixture,
    csrf_of,
    sign_in,
    signed_in_fixture,
    web_fixture,
)


def test_pages_ask_for_sign_in_and_a_token_signs_in(app, web):
    redirect = web.get("/inventory?q=tee")
    assert redirect.status_code == 303 and redirect.headers["location"] == "/signin?next=/inventory%3Fq%3Dtee"
    assert web.get("/live/overview").status_code == 401
    form = web.get("/signin")
    wrong = web.post("/signin", data={"csrf": csrf_of(form.text), "method": "token", "token": "sp_nope", "next": "/"})
    assert wrong.status_code == 303 and "sp_session" not in wrong.headers.get("set-cookie", "")
    assert "not valid" in web.get(wrong.headers["location"]).text
    forged = web.post("/signin", data={"csrf": "guess", "method": "token", "token": app.tokens.create("x"),
                                       "next": "/"})
    assert "sp_session" not in forged.headers.get("set-cookie", "")
    # An off-site `next` is ignored: sign-in only ever lands on this site.
    form = web.get("/signin?next=//evil.example/")
    assert 'name="next" value="/"' in form.text
    sign_in(web, app.tokens.create("ops"), "/suppliers")
    cookie = next(c for c in web.cookies.jar if c.name == "sp_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert web.get("/suppliers").status_code == 200


def test_every_page_renders_real_figures(app, signed_in):
    stock(app, "TEE", {"WH": 2}, backorder_policy="allow")
    stock(app, "MUG", {"WH": 40})
    app.orders.place("SO-1", [line("TEE", 5)])
    Runtime.build(app).settle()
    overview = signed_in.get("/").text
    assert 'data-sku="TEE"' in overview and "Oversold" in overview
    assert re.search(r'data-counter="review">\s*1<', overview)
    live = signed_in.get("/live/overview").json()
    assert 'data-sku="TEE"' in live["sections"]["at_risk"] and "MUG" not in live["sections"]["at_risk"]
    inventory = signed_in.get("/inventory?q=mu&sort=available&dir=desc").text
    assert "MUG" in inventory and ">TEE<" not in inventory
    sku = signed_in.get("/inventory/TEE").text
    assert "<svg" in sku and "polyline" in sku and "SO-1" in sku
    assert signed_in.get("/inventory/NOPE").status_code == 404
    number = app.purchasing.list(status="needs_review")[0]["number"]
    assert number in signed_in.get("/purchase-orders?status=needs_review").text
    assert "no supplier on file" in signed_in.get(f"/purchase-orders/{number}").text
    assert signed_in.get("/suppliers").status_code == 200
    assert "TEE" in signed_in.get("/automations?subject=TEE").text


def test_a_post_without_the_session_csrf_token_changes_nothing(app, signed_in):
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    app.orders.place("SO-1", [line("TEE", 3)])
    Runtime.build(app).settle()
    number = app.purchasing.list(status="needs_review")[0]["number"]
    refused = signed_in.post(f"/purchase-orders/{number}/reject", data={"reason": "no"})
    assert refused.status_code == 403
    wrong = signed_in.post(f"/purchase-orders/{number}/reject", data={"reason": "no", "csrf": "x" * 64})
    assert wrong.status_code == 403
    assert app.purchasing.get(number)["status"] == "needs_review"
    csrf = csrf_of(signed_in.get(f"/purchase-orders/{number}").text)
    done = signed_in.post(f"/purchase-orders/{number}/reject", data={"reason": "discontinued", "csrf": csrf})
    assert done.status_code == 303 and app.purchasing.get(number)["status"] == "cancelled"
    assert "rejected" in signed_in.get(done.headers["location"]).text


def test_review_approve_receive_through_the_forms(app, signed_in):
    stock(app, "TEE", {"WH": 0}, backorder_policy="allow")
    app.orders.place("SO-1", [line("TEE", 3)])
    Runtime.build(app).settle()
    number = app.purchasing.list(status="needs_review")[0]["number"]
    page = signed_in.get(f"/purchase-orders/{number}").text
    csrf = csrf_of(page)
    # Approving without a supplier is an error shown in the page; nothing is sent.
    failed = signed_in.post(f"/purchase-orders/{number}/approve", data={"csrf": csrf, "qty:TEE": "3"})
    assert failed.status_code == 303
    shown = signed_in.get(failed.headers["location"]).text
    assert 'role="alert"' in shown and app.purchasing.get(number)["status"] == "needs_review"
    bad = signed_in.post(f"/purchase-orders/{number}/edit", data={"csrf": csrf, "qty:TEE": "-2"})
    assert "whole number" in signed_in.get(bad.headers["location"]).text
    app.suppliers.add("ACME", {"name": "Acme", "delivery_method": "edi", "edi_id": "ACME"})
    app.suppliers.set_offer("ACME", "TEE", {"unit_cost": "2.00", "lead_time_days": 3})
    saved = signed_in.post(f"/purchase-orders/{number}/edit", data={"csrf": csrf, "qty:TEE": "12"})
    assert "Draft saved" in signed_in.get(saved.headers["location"]).text
    signed_in.post(f"/purchase-orders/{number}/approve", data={"csrf": csrf, "qty:TEE": "12", "supplier": "ACME"})
    po = app.purchasing.get(number)
    assert po["status"] == "sent" and po["supplier"] == "ACME" and po["lines"][0]["quantity"] == 12

    unknown = signed_in.post(f"/purchase-orders/{number}/receive",
                             data={"csrf": csrf, "key": "box-1", "qty:TEE": "5", "extra_sku": "nope", "extra_qty": "1"})
    assert "not on " + number in signed_in.get(unknown.headers["location"]).text
    assert totals(app, "TEE")["on_hand"] == 0
    for _ in range(2):  # the same form sent twice (a double click) is one receipt
        signed_in.post(f"/purchase-orders/{number}/receive", data={"csrf": csrf, "key": "box-1", "qty:TEE": "5"})
    assert totals(app, "TEE")["on_hand"] == 5
    assert app.purchasing.get(number)["status"] == "partially_received"


def test_dead_outbox_rows_are_retried_or_discarded(app, signed_in, clock):
    def work(conn):
        ids = [outbox.enqueue(conn, "nobody.listens", {"n": n}, f"web-test-{n}", clock.now(), max_attempts=1)
               for n in range(2)]
        conn.execute(update(outbox.outbox).where(outbox.outbox.c.id.in_(ids)).values(status="dead",
                                                                                    last_error="boom"))
        return ids

    first, second = app.db.write(work)
    page = signed_in.get("/automations").text
    assert "boom" in page and "nobody.listens" in page
    csrf = csrf_of(page)
    signed_in.post(f"/automations/outbox/{first}/retry", data={"csrf": csrf})
    signed_in.post(f"/automations/outbox/{second}/discard", data={"csrf": csrf})
    with app.db.read() as conn:
        assert [r.id for r in outbox.list_by_status(conn, "pending")] == [first]
        assert [r.id for r in outbox.list_by_status(conn, "discarded")] == [second]
    again = signed_in.post(f"/automations/outbox/{second}/discard", data={"csrf": csrf})
    assert "not dead" in signed_in.get(again.headers["location"]).text


def test_sessions_end_on_sign_out_revocation_and_expiry(app, web, clock):
    token = app.tokens.create("ops")
    sign_in(web, token)
    csrf = csrf_of(web.get("/").text)
    web.post("/signout", data={"csrf": csrf})
    assert web.get("/").status_code == 303
    sign_in(web, token)
    app.db.write(lambda conn: conn.execute(update(api_tokens).values(revoked_at=clock.now())))
    assert web.get("/").status_code == 303
    sign_in(web, app.tokens.create("ops-2"))
    assert web.get("/").status_code == 200
    clock.advance(seconds=timedelta(hours=25).total_seconds())
    assert web.get("/").status_code == 303


def test_a_skus_daily_history_folds_the_ledger_back_and_counts_demand(app, clock):
    stock(app, "TEE", {"WH": 10})
    clock.advance(days=1)
    app.orders.place("SO-1", [line("TEE", 3)])
    app.stock.adjust(sku="TEE", location="WH", delta=-1, idempotency_key="shrink")
    clock.advance(days=2)
    app.orders.place("SO-2", [line("TEE", 2)])
    with app.db.read() as conn:
        h = daily_history(conn, "TEE", clock.now().date(), days=60, mean_daily=1.0,
                          open_pos=[{"quantity": 5, "eta": (clock.now().date() + timedelta(days=2)).isoformat()}])
    assert len(h.days) == 14 and h.days[-1] == clock.now().date()  # a young SKU: the shortest chart
    assert h.on_hand[-4:] == [10, 9, 9, 9]  # orders commit, they do not take on_hand; the -1 adjustment does
    assert h.demand[-4:] == [0.0, 3.0, 0.0, 2.0] and h.demand[0] is None  # before it existed: not observed
    available = 9 - 5
    assert h.projected_available[:4] == [available, available - 1, available - 2 + 5, available - 3 + 5]
