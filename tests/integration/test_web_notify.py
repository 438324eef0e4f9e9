"""The dashboard's waitlist and ads pages on SQLite and PostgreSQL: figures from the real runtime (a real SMTP
server for the waitlist, the loopback Meta Marketing API fake for ads), signed-in only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.entrypoints.api.app import create_app
from tests.integration.helpers import stock
from tests.integration.purchasing_helpers import Runtime
from tests.integration.web_helpers import sign_in
from tests.support.fake_meta_ads import FakeMetaAds
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def shop(db_url, clock):
    with SmtpServer() as smtp, FakeMetaAds(token="EAAB-test", clock=clock.now) as meta:
        sp = build(Settings(database_url=db_url, db_pool_size=20, smtp_url=smtp.url, mail_from="shop@shop.example",
                            meta_graph_url=meta.url, meta_access_token="EAAB-test"), clock=clock, migrate=False)
        with TestClient(create_app(sp, run_worker=False), follow_redirects=False) as web:
            yield sp, Runtime.build(sp), web, meta
        sp.close()


def row(html, attribute, key):
    found = re.search(rf'<tr {attribute}="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {key}"
    return found.group(1)


def cell(html, column):
    return re.sub(r"<[^>]+>", "", re.search(rf'data-col="{column}">(.*?)</td>', html, re.S).group(1)).strip()


def test_the_waitlist_page_shows_waiting_told_and_the_last_wave(shop, clock):
    sp, rt, web, _meta = shop
    assert web.get("/waitlists").status_code == 303  # signed-in only
    sign_in(web, sp.tokens.create("ops"))
    assert "Nobody is waiting" in web.get("/waitlists").text
    stock(sp, "TEE", {"WH": 0})
    stock(sp, "MUG", {"WH": 0})
    for n in range(10):
        sp.waitlist.join("TEE", f"fan{n}@example.com", True)
    sp.waitlist.join("MUG", "mug@example.com", True)
    clock.advance(hours=2)
    sp.stock.adjust(sku="TEE", location="WH", delta=2, kind="receive", idempotency_key="rcv-1")
    rt.settle()  # ceil(2 x 1.2) = 3 told

    page = web.get("/waitlists")
    assert page.status_code == 200 and "<h1>Back-in-stock waitlists</h1>" in page.text
    assert "8 waiting · 3 told" in page.text
    tee = row(page.text, "data-waitlist", "TEE")
    assert (cell(tee, "waiting"), cell(tee, "notified")) == ("7", "3")
    assert cell(tee, "last-wave") == "wave 1 · 2026-01-01 02:00"
    mug = row(page.text, "data-waitlist", "MUG")
    assert (cell(mug, "waiting"), cell(mug, "notified"), cell(mug, "last-wave")) == ("1", "0", "none yet")
    assert page.text.index('data-waitlist="TEE"') < page.text.index('data-waitlist="MUG"')  # most waiting first
    assert 'href="/waitlists" aria-current="page"' in page.text


def test_the_ads_page_shows_what_stockpilot_paused_and_the_spend_saved(shop, clock):
    sp, rt, web, meta = shop
    sign_in(web, sp.tokens.create("ops"))
    assert "No ad sets mapped" in web.get("/ads").text
    stock(sp, "TEE", {"WH": 3})
    meta.add_ad_set("1001", daily_spend="20.00")
    meta.add_ad_set("1002", status="PAUSED")  # a person paused it: never ours
    sp.ads.map("meta", "1001", ["TEE"])
    sp.ads.map("meta", "1002", ["TEE"])
    sp.stock.adjust(sku="TEE", location="WH", on_hand=0, idempotency_key="sold-out")
    rt.settle()
    rt.advance(hours=3)

    page = web.get("/ads").text
    ours, theirs = row(page, "data-ad-set", "meta:1001"), row(page, "data-ad-set", "meta:1002")
    assert (cell(ours, "state"), cell(ours, "paused"), cell(ours, "saved")) == ("paused", "1", "2.50 so far")
    assert (cell(theirs, "state"), cell(theirs, "paused"), cell(theirs, "saved")) == ("left", "0", "-")
    assert "1 paused by Stockpilot" in page and '<strong data-spend-saved>2.50</strong>' in page

    sp.stock.adjust(sku="TEE", location="WH", delta=10, kind="receive", idempotency_key="rcv-1")
    rt.settle()
    rt.advance(minutes=15)  # the hold: then resumed, 20.00/day x 3 h 15 min
    page = web.get("/ads").text
    ours = row(page, "data-ad-set", "meta:1001")
    assert (cell(ours, "state"), cell(ours, "paused"), cell(ours, "saved")) == ("running", "1", "2.71")
    assert '<strong data-spend-saved>2.71</strong>' in page
