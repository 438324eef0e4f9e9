"""A small sample catalog so `stockpilot serve --demo` has something to show. Safe to run twice."""

from __future__ import annotations

import contextlib

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import Conflict

LOCATIONS = [
    ("WH-EAST", "East warehouse", "warehouse", 10),
    ("3PL-WEST", "West 3PL", "3pl", 20),
    ("STORE-NYC", "New York store", "store", 30),
]

PRODUCTS = [
    ("classic-tee", "Classic Tee", [("TEE-BLK-S", "Black / S"), ("TEE-BLK-M", "Black / M"),
                                    ("TEE-BLK-L", "Black / L")]),
    ("canvas-tote", "Canvas Tote", [("TOTE-NAT", "Natural")]),
    ("enamel-mug", "Enamel Mug", [("MUG-WHT", "White"), ("MUG-BLU", "Blue")]),
]

STOCK = {
    "TEE-BLK-S": {"WH-EAST": 40, "3PL-WEST": 15, "STORE-NYC": 4},
    "TEE-BLK-M": {"WH-EAST": 55, "3PL-WEST": 20, "STORE-NYC": 6},
    "TEE-BLK-L": {"WH-EAST": 3, "STORE-NYC": 1},
    "TOTE-NAT": {"WH-EAST": 120},
    "MUG-WHT": {"WH-EAST": 0, "3PL-WEST": 2},
    "MUG-BLU": {"3PL-WEST": 25},
}


def seed_demo(sp: Stockpilot) -> None:
    for code, name, kind, priority in LOCATIONS:
        with contextlib.suppress(Conflict):  # already seeded
            sp.catalog.create_location(code, name, kind, priority)
    for handle, title, variants in PRODUCTS:
        for sku, option in variants:
            policy = "allow_notify" if handle == "enamel-mug" else "deny"
            sp.catalog.upsert_sku(
                sku,
                {"title": f"{title} - {option}", "options": {"Variant": option}, "backorder_policy": policy,
                 "low_stock_threshold": 5},
                {"handle": handle, "title": title},
            )
    for sku, per_location in STOCK.items():
        for location, quantity in per_location.items():
            sp.stock.adjust(sku=sku, location=location, on_hand=quantity, idempotency_key=f"demo:{sku}:{location}",
                            reason="demo seed", source="demo")
