"""Unsubscribing from back-in-stock messages, on SQLite and PostgreSQL with a real SMTP server (aiosmtpd): the
headers a notice carries (RFC 8058 one-click), a GET that only shows a page (mail scanners open links), the POST
that unsubscribes, the form's POST, and tampered links.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from stockpilot.adapters.notify.notice_email import NoticeEmail
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app
from tests.integration.helpers import stock
from tests.integration.purchasing_helpers import Runtime
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def shop(db_url, clock, smtp):
    app = build(settings(db_url, smtp), clock=clock, migrate=False)
    with TestClient(create_app(app, run_worker=False)) as http:  # no API token: these pages are public
        yield app, Runtime.build(app), http
    app.close()


def settings(db_url, smtp, **overrides):
    return Settings(database_url=db_url, db_pool_size=20, smtp_url=smtp.url, mail_from="shop@shop.example",
                    public_url="https://shop.example", **overrides)


def notified(sp, rt, smtp, emails, sku="TEE", units=10):
    stock(sp, sku, {"WH": 0})
    for email in emails:
        sp.waitlist.join(sku, email, True)
    sp.stock.adjust(sku=sku, location="WH", delta=units, kind="receive", idempotency_key=f"rcv-{sku}")
    rt.settle()
    return [m for m in smtp.messages if m["Subject"] == f"{sku} is back in stock"]


def header_url(message):
    found = re.fullmatch(r"<(https://shop\.example/unsubscribe\?token=(v1\.[\w-]+\.[\w-]+))>",
                         message["List-Unsubscribe"])
    assert found, message["List-Unsubscribe"]
    return found.group(1), found.group(2)


def status_of(sp, email, sku="TEE"):
    (entry,) = [e for e in sp.waitlist.list(sku) if e["email"] == email]
    return entry["status"]


def test_a_notice_carries_one_click_headers_and_a_get_of_the_link_changes_nothing(shop, smtp):
    sp, rt, http = shop
    (message,) = notified(sp, rt, smtp, ["ann@example.com"])
    url, token = header_url(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    assert url in message.get_body(("plain",)).get_content()  # the body's link is the same URL

    path = urlsplit(url)
    for _ in range(3):  # Safe Links, a gateway and the person opening it: each a GET
        page = http.get(f"{path.path}?{path.query}")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "<form method=post action='/unsubscribe'>" in page.text and f"value='{token}'" in page.text
        assert "ann@example.com" in page.text
    assert http.get(f"/unsubscribe/{token}").status_code == 200  # the older link form: a page too
    assert status_of(sp, "ann@example.com") == "notified"

    # The mailbox provider's one-click POST: exactly RFC 8058's body, no cookies, straight to the header's URL.
    done = http.post(f"{path.path}?{path.query}", content=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "Unsubscribed" in done.text
    assert status_of(sp, "ann@example.com") == "unsubscribed"
    assert http.post(f"{path.path}?{path.query}", content=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200  # again: same

    later = notified(sp, rt, smtp, ["ann@example.com", "bob@example.com"], sku="MUG")
    assert [m["To"] for m in later] == ["bob@example.com"]  # the whole contact stopped, on every SKU


def test_the_pages_button_posts_the_token_in_the_form(shop, smtp):
    sp, rt, http = shop
    (message,) = notified(sp, rt, smtp, ["cy@example.com"])
    _url, token = header_url(message)
    page = http.get("/unsubscribe", params={"token": token})
    carried = re.search(r"name=token value='([^']+)'", page.text).group(1)
    assert carried == token
    done = http.post("/unsubscribe", data={"token": carried})  # what the browser sends when the button is pressed
    assert done.status_code == 200 and "cy@example.com will receive no more" in done.text
    assert status_of(sp, "cy@example.com") == "unsubscribed"


def test_multipart_one_click_and_the_older_link_form_unsubscribe_too(shop, smtp):
    sp, rt, http = shop
    first, second = notified(sp, rt, smtp, ["di@example.com", "ed@example.com"])
    _url, token = header_url(first)
    done = http.post("/unsubscribe", params={"token": token}, files={"List-Unsubscribe": (None, "One-Click")})
    assert done.status_code == 200 and status_of(sp, first["To"]) == "unsubscribed"
    _url, token = header_url(second)
    assert http.post(f"/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
    assert status_of(sp, second["To"]) == "unsubscribed"


def test_tampered_or_missing_tokens_are_refused_and_change_nothing(shop, smtp):
    sp, rt, http = shop
    (message,) = notified(sp, rt, smtp, ["fay@example.com"])
    _url, token = header_url(message)
    forged = token[:-3] + ("abc" if not token.endswith("abc") else "abd")
    assert http.get("/unsubscribe", params={"token": forged}).status_code == 400
    refused = http.post("/unsubscribe", params={"token": forged}, content=b"List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 400 and "signature does not match" in refused.text
    assert http.post("/unsubscribe", content=b"List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 400
    assert http.post("/unsubscribe", params={"token": token}, content=b"x" * 5000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    assert status_of(sp, "fay@example.com") == "notified"


def test_a_confirmation_request_and_a_backorder_notice_carry_no_unsubscribe_header(db_url, clock, smtp):
    # A confirmation request has nothing to leave yet; a backorder notice is about the customer's own order
    # (transactional mail: stopping it would hide the shipping notice). Both are marked auto-generated.
    NoticeEmail(smtp.url, "shop@shop.example")({"to": "gus@example.com", "subject": "Order 1001: backordered",
                                                "body": "..."}, "backorder:1001:1")
    (notice,) = smtp.wait_for(1)
    assert notice["Auto-Submitted"] == "auto-generated" and "List-Unsubscribe" not in notice
    sp = build(settings(db_url, smtp, waitlist_double_opt_in=True), clock=clock, migrate=False)
    try:
        stock(sp, "TEE", {"WH": 0})
        sp.waitlist.join("TEE", "hal@example.com", True)
        Runtime.build(sp).settle()
    finally:
        sp.close()
    (ask,) = [m for m in smtp.messages if m["Subject"].startswith("Confirm")]
    assert "List-Unsubscribe" not in ask and "List-Unsubscribe-Post" not in ask
    assert ask["Auto-Submitted"] == "auto-generated"
