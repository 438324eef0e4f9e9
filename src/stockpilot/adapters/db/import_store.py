"""Set-based reads and the product writes of the CSV import: one query per batch of rows, not one per row."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stockpilot.adapters.db.ledger import LocationRef
from stockpilot.adapters.db.tables import locations, movements, products, skus

SKU_COLUMNS = ("title", "barcode", "options", "backorder_policy", "backorder_cap", "low_stock_threshold",
               "product_id")
PRODUCT_COLUMNS = ("title", "vendor", "product_type")


def named_locations(conn: Connection) -> list[tuple[LocationRef, str]]:
    """Every location with its display name, which is how Shopify's files refer to locations."""
    rows = conn.execute(
        select(locations.c.id, locations.c.code, locations.c.priority, locations.c.name).order_by(locations.c.id)
    ).all()
    return [(LocationRef(r.id, r.code, r.priority), r.name) for r in rows]


def skus_by_code(conn: Connection, codes: Collection[str]) -> dict[str, dict[str, Any]]:
    if not codes:
        return {}
    columns = [skus.c.id, skus.c.sku, *(skus.c[name] for name in SKU_COLUMNS)]
    rows = conn.execute(select(*columns).where(skus.c.sku.in_(list(codes)))).mappings().all()
    return {row["sku"]: dict(row) for row in rows}


def products_by_handle(conn: Connection, handles: Collection[str]) -> dict[str, dict[str, Any]]:
    if not handles:
        return {}
    columns = [products.c.id, products.c.handle, *(products.c[name] for name in PRODUCT_COLUMNS)]
    rows = conn.execute(select(*columns).where(products.c.handle.in_(list(handles)))).mappings().all()
    return {row["handle"]: dict(row) for row in rows}


def existing_movement_keys(conn: Connection, keys: Collection[str]) -> set[str]:
    if not keys:
        return set()
    found = conn.execute(
        select(movements.c.idempotency_key).where(movements.c.idempotency_key.in_(list(keys)))
    ).scalars()
    return set(found)


def insert_product(conn: Connection, values: dict[str, Any], now: datetime) -> int:
    return int(
        conn.execute(insert(products).values(**values, created_at=now).returning(products.c.id)).scalar_one()
    )


def update_product(conn: Connection, product_id: int, values: dict[str, Any]) -> None:
    """Set only the given columns (catalog_store.upsert_product would blank a vendor the file does not carry)."""
    if values:
        conn.execute(update(products).where(products.c.id == product_id).values(**values))
