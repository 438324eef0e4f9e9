"""Use cases for the catalog: locations, SKUs (with their backorder policy) and channel listings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import catalog_store as store
from stockpilot.adapters.db import channel_store
from stockpilot.domain.channel_listings import check_listing, check_listing_on
from stockpilot.domain.errors import Conflict, NotFound, ValidationFailed
from stockpilot.domain.model import BackorderPolicy, Levels, LocationKind
from stockpilot.services.channel_listings import put_listing
from stockpilot.services.context import Context

SKU_FIELDS = ("title", "barcode", "options", "backorder_policy", "backorder_cap", "low_stock_threshold")


class CatalogService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create_location(self, code: str, name: str | None = None, kind: str = "warehouse",
                        priority: int = 100) -> dict[str, Any]:
        code = _required_text("code", code)
        try:
            kind_value = LocationKind(kind)
        except ValueError:
            raise ValidationFailed(
                f"kind must be one of {', '.join(k.value for k in LocationKind)}, got {kind!r}"
            ) from None

        def work(conn: Connection) -> dict[str, Any]:
            if store.location_ref(conn, code) is not None:
                raise Conflict(f"location {code!r} already exists")
            values = {"code": code, "name": name or code, "kind": kind_value.value, "priority": priority}
            store.insert_location(conn, values, self.ctx.clock.now())
            return {"code": code, "name": values["name"], "kind": kind_value.value, "priority": priority}

        return self.ctx.db.write(work)

    def list_locations(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            return store.list_locations(conn)

    def upsert_sku(self, sku: str, fields: dict[str, Any], product: dict[str, Any] | None = None
                   ) -> tuple[dict[str, Any], bool]:
        """Create or update a SKU; returns (the SKU with its levels, created?)."""
        sku = _required_text("sku", sku)
        values = validate_sku_fields(fields)

        def work(conn: Connection) -> bool:
            now = self.ctx.clock.now()
            if product and product.get("handle"):
                values["product_id"] = store.upsert_product(
                    conn, product["handle"], product.get("title"), product.get("vendor"),
                    product.get("product_type"), now,
                )
            ref = store.sku_ref(conn, sku)
            if ref is None:
                store.insert_sku(conn, {"sku": sku, "title": "", "options": {}, "backorder_policy": "deny",
                                        **values}, now)
                return True
            store.update_sku(conn, ref.id, values, now)
            return False

        created = self.ctx.db.write(work)
        return self.get_sku(sku), created

    def get_sku(self, sku: str) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            row = store.sku_row(conn, sku)
            if row is None:
                raise NotFound(f"unknown SKU {sku!r}")
            levels = store.levels_by_location(conn, row["id"])
        return describe_sku(row, levels)

    def list_skus(self, *, after: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            rows = store.list_sku_rows(conn, after=after, limit=limit)
        return [describe_sku(row, None) for row in rows]

    def map_listing(self, channel: str, external_id: str, sku: str, role: str | None = None,
                    parent: str | None = None) -> None:
        """role: what the id is on the channel (inventory_item, variant, product, variation...): the id an
        outbound push addresses; a `variation` names its parent product (`parent`), which any number of
        variations share. Inbound matching uses the id whatever its role."""
        channel, external_id = _required_text("channel", channel), _required_text("external_id", external_id)
        parent = parent.strip() if isinstance(parent, str) and parent.strip() else None
        check_listing(external_id, role, parent)

        def work(conn: Connection) -> None:
            ref = store.sku_ref(conn, sku)
            if ref is None:
                raise NotFound(f"unknown SKU {sku!r}")
            registered = channel_store.channel_where(conn, name=channel)
            check_listing_on(registered["kind"] if registered else None, external_id, role)
            put_listing(conn, channel, external_id, ref.id, sku, role, parent)

        self.ctx.db.write(work)

    def resolve_listing(self, channel: str, external_id: str) -> str | None:
        with self.ctx.db.read() as conn:
            return store.listing_sku(conn, channel, external_id)


def validate_sku_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(SKU_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown SKU field(s): {', '.join(sorted(unknown))}")
    values = {k: v for k, v in fields.items() if v is not None}
    if "backorder_policy" in values:
        try:
            values["backorder_policy"] = BackorderPolicy(values["backorder_policy"]).value
        except ValueError:
            raise ValidationFailed(
                "backorder_policy must be one of deny, allow, allow_notify, "
                f"got {values['backorder_policy']!r}"
            ) from None
    for name in ("backorder_cap", "low_stock_threshold"):
        if name in values and (type(values[name]) is not int or values[name] < 0):  # bool is an int: refuse it
            raise ValidationFailed(f"{name} must be a non-negative integer, got {values[name]!r}")
    if "options" in values and not isinstance(values["options"], dict):
        raise ValidationFailed("options must be an object of option name to value")
    return values


def describe_sku(row: dict[str, Any], levels: list[tuple[str, Levels]] | None) -> dict[str, Any]:
    totals = Levels(row["on_hand"], row["committed"], row["reserved"], row["incoming"])
    described: dict[str, Any] = {
        "sku": row["sku"],
        "title": row["title"],
        "barcode": row["barcode"],
        "options": row["options"] or {},
        "product": row.get("product_handle"),
        "backorder_policy": row["backorder_policy"],
        "backorder_cap": row["backorder_cap"],
        "low_stock_threshold": row["low_stock_threshold"],
        "totals": totals.as_dict(),
    }
    if levels is not None:
        described["levels"] = [{"location": code, **lv.as_dict()} for code, lv in levels]
    return described


def _required_text(name: str, value: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{name} is required")
    return value.strip()
