"""The dashboard in headless Chromium against a real `stockpilot serve`: sign in with a user name and password,
watch an at-risk SKU appear live, edit and approve a PO from the review queue, open its PDF, receive it in part
and see stock move, override a SKU's planning settings, see available-to-sell per channel, a waitlist and an ad
set; every page labelled, reachable by keyboard and screenshot on a laptop and a phone (390 x 844).

Debian's chromium (/usr/bin/chromium) driven by Playwright through `executable_path`; .ci/run installs it, and a
machine without it skips these tests and says why. Screenshots land in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.serve_process import CLI, serve_demo

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "night shift 2 gadgets"

playwright_api = pytest.importorskip("playwright.sync_api", reason="Python Playwright is not installed")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} "
                                "(apt-get install -y chromium; .ci/run does)")


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path):
    db = tmp_path / "stockpilot.db"
    shutil.copy(sqlite_template, db)
    env = {**os.environ, "STOCKPILOT_DATABASE_URL": f"sqlite:///{db}", "STOCKPILOT_OVERSELL_WINDOW_SECONDS": "0",
           "STOCKPILOT_EDI_DIR": str(tmp_path / "edi")}
    added = subprocess.run([*CLI, "user", "add", "ops.lead", "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    with serve_demo(env, tmp_path / "serve.log", cwd=tmp_path) as (base, token):
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        yield base, token, api
        api.close()


@pytest.fixture
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def _ok(response: httpx.Response) -> dict:
    assert response.status_code < 300, response.text
    return response.json()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _wait_for_po(api: httpx.Client, status: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        items = _ok(api.get("/api/v1/purchase-orders", params={"status": status}))["items"]
        if items:
            return items[-1]
        assert time.monotonic() < deadline, f"no {status} PO appeared"
        time.sleep(0.2)


def test_ops_lead_signs_in_reviews_approves_and_receives(server, browser):
    base, _token, api = server
    _ok(api.put("/api/v1/skus/LAMP-OAK", json={"title": "Oak Desk Lamp", "backorder_policy": "deny"}))
    _ok(api.post("/api/v1/inventory/adjustments", json={"sku": "LAMP-OAK", "location": "WH-EAST", "on_hand": 3,
                                                        "idempotency_key": "e2e-lamp"}))
    _ok(api.put("/api/v1/skus/GADGET-1", json={"title": "Pocket Gadget", "backorder_policy": "allow"}))
    _ok(api.post("/api/v1/inventory/adjustments", json={"sku": "GADGET-1", "location": "WH-EAST", "on_hand": 2,
                                                        "idempotency_key": "e2e-gadget"}))
    page = browser.new_page(viewport={"width": 1366, "height": 900})

    # Signing in: a wrong password is refused in the page, the right one lands where the reader was going.
    page.goto(f"{base}/inventory")
    assert "/signin" in page.url
    _shot(page, "01-signin")
    page.get_by_label("User name").fill("ops.lead")
    page.get_by_label("Password").fill("not it at all")
    page.get_by_role("button", name="Sign in").click()
    assert "Wrong user name or password" in page.get_by_role("alert").inner_text()
    page.get_by_role("link", name="API token").click()
    assert page.get_by_label("API token").count() == 1  # the other way in, one click away
    page.get_by_role("link", name="User name").click()
    page.get_by_label("User name").fill("ops.lead")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/inventory")
    assert "ops.lead" in page.locator(".topbar").inner_text()
    page.goto(f"{base}/")
    at_risk = page.locator('[data-live-section="at_risk"]')
    assert at_risk.locator('tr[data-sku="LAMP-OAK"]').count() == 0

    # Orders arrive (through the API, like a channel would): the overview shows them without a reload.
    _ok(api.post("/api/v1/orders", json={"reference": "SO-E2E-1", "lines": [{"sku": "LAMP-OAK", "quantity": 3}]}))
    _ok(api.post("/api/v1/orders", json={"reference": "SO-E2E-2", "lines": [{"sku": "GADGET-1", "quantity": 5}]}))
    at_risk.locator('tr[data-sku="LAMP-OAK"]').wait_for(timeout=20_000)
    page.locator('[data-live-section="oversold"] >> text=GADGET-1').wait_for(timeout=20_000)
    review = _wait_for_po(api, "needs_review")
    page.wait_for_function("document.querySelector('[data-counter=review]').textContent.trim() === '1'",
                           timeout=20_000)
    assert "Out of stock" in at_risk.locator('tr[data-sku="LAMP-OAK"]').inner_text()
    _shot(page, "02-overview")

    # The review queue: no supplier offers GADGET-1 yet; one is added, then approved with it at 10 units.
    _ok(api.post("/api/v1/suppliers", json={"code": "ACME", "name": "Acme Gadgets", "delivery_method": "edi",
                                            "edi_id": "ACME"}))
    _ok(api.put("/api/v1/suppliers/ACME/offers/GADGET-1", json={"unit_cost": "7.50", "lead_time_days": 4}))
    page.get_by_role("link", name=re.compile("Review queue")).click()
    page.wait_for_url(re.compile(r"status=needs_review"))
    _shot(page, "03-purchase-orders-review")
    page.get_by_role("link", name=review["number"]).click()
    assert "needs review" in page.locator("[data-po-status]").inner_text()
    # Edit first (the draft is saved, the edit is in the decision log under the person's name), then approve.
    page.get_by_label("Quantity of GADGET-1").fill("8")
    page.get_by_label("Supplier", exact=True).select_option("ACME")
    page.get_by_role("button", name="Save changes").click()
    assert "Draft saved" in page.get_by_role("status").first.inner_text()
    assert "edited by ops.lead: GADGET-1 3 -> 8, supplier -> ACME" in page.locator("#why-h + ol").inner_text()
    assert page.get_by_label("Quantity of GADGET-1").input_value() == "8"
    page.get_by_label("Quantity of GADGET-1").fill("10")
    _shot(page, "04-po-review")
    page.get_by_role("button", name="Approve and send").click()
    assert "approved and sent to ACME" in page.get_by_role("status").first.inner_text()
    assert "sent" in page.locator("[data-po-status]").inner_text()
    assert _ok(api.get(f"/api/v1/purchase-orders/{review['number']}"))["lines"][0]["quantity"] == 10
    # The PDF the supplier was sent, from the page's own link.
    pdf = page.request.get(base + page.locator("[data-po-pdf]").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"

    # A box arrives with 4 of them, plus an item that is not on the PO: the error is in the page, nothing moves.
    page.get_by_label("Another SKU in the box").fill("NOT-ON-PO")
    page.get_by_label("Its quantity").fill("1")
    page.get_by_label(re.compile(r"^GADGET-1")).fill("4")
    page.get_by_role("button", name="Record receipt").click()
    error = page.get_by_role("alert").inner_text()
    assert "NOT-ON-PO" in error, error
    _shot(page, "05-po-receive-error")
    assert _ok(api.get("/api/v1/skus/GADGET-1"))["totals"]["on_hand"] == 2
    page.get_by_label(re.compile(r"^GADGET-1")).fill("4")
    page.get_by_role("button", name="Record receipt").click()
    assert "partially received" in page.locator("[data-po-status]").inner_text()
    assert page.locator('[data-received="GADGET-1"]').inner_text() == "4"
    _shot(page, "06-po-received")

    page.goto(f"{base}/inventory/GADGET-1")
    assert page.locator('[data-total="on_hand"]').inner_text() == "6"
    assert page.locator('[data-total="available"]').inner_text() == "1"
    _shot(page, "07-sku")

    # A planning override from the SKU page: saved, logged, and the runtime recomputes the reorder point.
    page.get_by_label("Manual min (reorder at)").fill("12")
    page.get_by_label("Manual max (order up to)").fill("40")
    page.get_by_role("button", name="Save settings").click()
    assert "Planning settings of GADGET-1 saved" in page.get_by_role("status").first.inner_text()
    deadline = time.monotonic() + 30
    while _ok(api.get("/api/v1/plan", params={"sku": "GADGET-1"}))["items"][0]["reorder_point"] != 12:
        assert time.monotonic() < deadline, "the override was not recomputed"
        time.sleep(0.3)

    # A channel with a buffer: the inventory shows what it may sell.
    _ok(api.post("/api/v1/channels", json={"kind": "shopify", "name": "shop", "secret": "e2e-secret",
                                           "shop_domain": "e2e.myshopify.com", "buffer": 1, "location": "WH-EAST"}))
    _ok(api.put("/api/v1/channel-listings", json={"channel": "shop", "external_id": "4411", "sku": "GADGET-1"}))
    page.goto(f"{base}/inventory?q=GADGET")
    assert page.locator('td[data-ats="shop"]').first.inner_text() == "0"  # 1 available, less a buffer of 1

    # A customer waits for the lamp, and an ad set advertises the gadget (still sellable: it takes backorders).
    _ok(api.post("/api/v1/waitlist", json={"sku": "LAMP-OAK", "email": "fan@example.com", "consent": True}))
    _ok(api.post("/api/v1/ads/mappings", json={"platform": "meta", "ad_set_id": "120200000000001",
                                               "skus": ["GADGET-1"]}))
    page.get_by_role("link", name="Waitlists", exact=True).click()
    assert page.locator('tr[data-waitlist="LAMP-OAK"] [data-col="waiting"]').inner_text() == "1"
    page.get_by_role("link", name="Ads", exact=True).click()
    assert page.locator('tr[data-ad-set="meta:120200000000001"] [data-col="state"]').inner_text() == "running"

    pages = [("/", "overview"), ("/inventory?sort=available&dir=asc", "inventory"), ("/inventory/GADGET-1", "sku"),
             ("/purchase-orders", "purchase-orders"), (f"/purchase-orders/{review['number']}", "po"),
             ("/suppliers", "suppliers"), ("/suppliers/ACME", "supplier"), ("/automations", "automations"),
             ("/waitlists", "waitlists"), ("/ads", "ads")]
    unlabelled = """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name)"""
    for number, (path, name) in enumerate(pages, start=8):
        page.goto(base + path)
        assert page.locator("h1").count() == 1, path
        assert page.evaluate(unlabelled) == [], f"{path}: form fields without a label"
        _shot(page, f"{number:02d}-{name}")

    # Keyboard: the first Tab reaches the skip link, and focus is drawn.
    page.goto(f"{base}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"

    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone.context.add_cookies(page.context.cookies())
    for number, (path, name) in enumerate(pages, start=20):
        phone.goto(base + path)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        _shot(phone, f"{number:02d}-phone-{name}")
    signin = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    signin.goto(f"{base}/signin")
    _shot(signin, "19-phone-signin")

    # Signing out ends the session: the next page asks to sign in again.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/")
    assert "/signin" in page.url
