"""Resolving codes to references inside a transaction, with the errors a caller should see."""

from __future__ import annotations

from sqlalchemy import Connection

from stockpilot.adapters.db import catalog_store as store
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.domain.errors import NotFound


def require_sku(conn: Connection, sku: str) -> SkuRef:
    ref = store.sku_ref(conn, sku)
    if ref is None:
        raise NotFound(f"unknown SKU {sku!r}", sku=sku)
    return ref


def require_location(conn: Connection, code: str) -> LocationRef:
    ref = store.location_ref(conn, code)
    if ref is None:
        raise NotFound(f"unknown location {code!r}", location=code)
    return ref
