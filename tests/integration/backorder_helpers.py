"""What the backorder notice tests share: a real SMTP server, an app factory on the test database and manual clock,
and reading the notices back."""

from __future__ import annotations

import re

import pytest

from stockpilot.bootstrap import build
from stockpilot.config import Settings
from tests.integration.helpers import stock
from tests.integration.purchasing_helpers import Runtime
from tests.support.smtp_server import SmtpServer

CUSTOMER = "ann@customer.example"


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def make(db_url, clock, smtp):
    apps = []

    def factory(**overrides):
        values = {"public_url": "https://shop.example", **overrides}
        settings = Settings(database_url=db_url, db_pool_size=20, smtp_url=smtp.url, mail_from="shop@shop.example",
                            oversell_window_seconds=0, **values)
        app = build(settings, clock=clock, migrate=False)
        apps.append(app)
        return app, Runtime.build(app)

    yield factory
    for app in apps:
        app.close()


def supplier(sp, code, lead, sku="TEE", cost="4.00"):
    if not any(s["sku"] == sku for s in sp.catalog.list_skus()):
        stock(sp, sku, {"WH": 0}, backorder_policy="allow")
    sp.suppliers.add(code, {"name": f"{code} Ltd", "delivery_method": "email", "email": f"orders@{code.lower()}.test"})
    sp.suppliers.set_offer(code, sku, {"unit_cost": cost, "lead_time_days": lead})


def to(smtp, address):
    return [m for m in smtp.messages if m["To"] == address]


def text(message):
    return message.get_body(("plain",)).get_content()


def cancel_token(message):
    return re.search(r"/backorders/cancel/(\S+)", text(message)).group(1)
