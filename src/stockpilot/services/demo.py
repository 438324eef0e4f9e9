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


# Two suppliers that work with no outside set-up: EDI files dropped in STOCKPILOT_EDI_DIR (./edi-outbox). Email
# suppliers need STOCKPILOT_SMTP_URL; until it is set their deliveries fail with that reason in `outbox list`.
SUPPLIERS = [
    ("THREADWORKS", "Threadworks Apparel", {"TEE-BLK-S": ("4.10", 6), "TEE-BLK-M": ("4.10", 6),
                                            "TEE-BLK-L": ("4.25", 6), "TOTE-NAT": ("2.80", 10)}),
    ("KILNCO", "Kiln & Co Homeware", {"MUG-WHT": ("3.40", 9), "MUG-BLU": ("3.40", 9),
                                      "TEE-BLK-L": ("4.90", 3)}),
]


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
    for code, name, offers in SUPPLIERS:
        with contextlib.suppress(Conflict):
            sp.suppliers.add(code, {"name": name, "delivery_method": "edi", "edi_id": code[:15]})
        for sku, (cost, lead) in offers.items():
            sp.suppliers.set_offer(code, sku, {"unit_cost": cost, "lead_time_days": lead, "pack_size": 6
                                               if sku.startswith("TEE") else 1})
    sp.planning.set_policy("TEE-BLK-L", {"manual_min": 10, "manual_max": 40})
