"""Small builders shared by the integration tests."""

from __future__ import annotations

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.reservations import RequestedLine


def stock(sp: Stockpilot, sku: str, per_location: dict[str, int], **sku_fields: object) -> None:
    """Create the SKU (and any missing location) and set its on-hand counts."""
    existing = {loc["code"] for loc in sp.catalog.list_locations()}
    for priority, code in enumerate(per_location, start=1):
        if code not in existing:
            sp.catalog.create_location(code, code, "warehouse", priority * 10)
    sp.catalog.upsert_sku(sku, {"title": sku, **sku_fields})
    for code, quantity in per_location.items():
        sp.stock.adjust(sku=sku, location=code, on_hand=quantity, idempotency_key=f"seed:{sku}:{code}")


def line(sku: str, quantity: int, location: str | None = None) -> RequestedLine:
    return RequestedLine(sku, quantity, location)


def totals(sp: Stockpilot, sku: str) -> dict[str, int]:
    return sp.catalog.get_sku(sku)["totals"]


def level(sp: Stockpilot, sku: str, location: str) -> dict[str, int]:
    return next(lv for lv in sp.catalog.get_sku(sku)["levels"] if lv["location"] == location)
