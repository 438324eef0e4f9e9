"""The inventory table on each database: per-location figures and available-to-sell per channel (available at
the channel's locations less its buffer, never below zero; nothing for a SKU the channel does not list)."""

from __future__ import annotations

import re

from tests.integration.helpers import line, stock
from tests.integration.web_helpers import (  # noqa: F401 (fixtures by name: app, web, signed_in)
    app_fixture,
    signed_in_fixture,
    web_fixture,
)


def _cell(html: str, sku: str, channel: str) -> str:
    row = re.search(rf'<a href="/inventory/{sku}">{sku}</a></th>(.*?)</tr>', html, re.S).group(1)
    return re.sub(r"<[^>]+>", "", re.search(rf'data-ats="{channel}">(.*?)</td>', row, re.S).group(1)).strip()


def test_available_to_sell_per_channel_and_figures_per_location(app, signed_in):
    stock(app, "TEE", {"WH": 10, "STORE": 4})
    stock(app, "MUG", {"WH": 1}, backorder_policy="allow")
    stock(app, "CAP", {"WH": 5})
    app.orders.place("SO-1", [line("MUG", 3, "WH")])  # MUG oversold at WH: available -2
    app.channels.add("shopify", "shop", secret="s", shop_domain="shop.myshopify.com", buffer=2, location="WH")
    app.channels.add("woocommerce", "web", secret="w", site_url="https://web.example", buffer_percent=50)
    for channel in ("shop", "web"):
        app.catalog.map_listing(channel, f"{channel}-tee", "TEE")
        app.catalog.map_listing(channel, f"{channel}-mug", "MUG")
    page = signed_in.get("/inventory").text
    assert _cell(page, "TEE", "shop") == "8"  # WH 10 less 2
    assert _cell(page, "TEE", "web") == "7"  # both locations, 14, less 50% (rounded up: 7)
    assert _cell(page, "MUG", "shop") == "0" and _cell(page, "MUG", "web") == "0"  # oversold: never negative
    assert _cell(page, "CAP", "shop") == "—"  # not listed: nothing would be pushed
    at_store = signed_in.get("/inventory?location=STORE&sort=available&dir=desc").text
    assert ">TEE</a>" in at_store and "stock at STORE" in at_store
    row = re.search(r'<a href="/inventory/TEE">TEE</a></th>(.*?)</tr>', at_store, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', row)[:1] == ["4"]  # on hand at STORE, not the total
    assert "?location=STORE" not in signed_in.get("/inventory?location=NOWHERE").text  # unknown: totals
    sku = signed_in.get("/inventory/TEE").text
    assert re.search(r'data-ats="shop">8<', sku) and re.search(r'data-ats="web">7<', sku)
