"""Reads and writes of the catalog: locations, products, SKUs and channel listings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, literal, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.ledger import LocationRef, SkuRef
from stockpilot.adapters.db.tables import channel_listings, locations, products, skus, stock_levels
from stockpilot.domain.model import BackorderPolicy, Levels

_SKU_REF = select(
    skus.c.id, skus.c.sku, skus.c.backorder_policy, skus.c.backorder_cap, skus.c.low_stock_threshold
).where(skus.c.sku == bindparam("p_sku"))

_SKU_REF_BY_ID = select(
    skus.c.id, skus.c.sku, skus.c.backorder_policy, skus.c.backorder_cap, skus.c.low_stock_threshold
).where(skus.c.id == bindparam("p_id"))

_LOCATION_REF = select(locations.c.id, locations.c.code, locations.c.priority).where(
    locations.c.code == bindparam("p_code")
)


def sku_ref(conn: Connection, sku: str) -> SkuRef | None:
    row = conn.execute(_SKU_REF, {"p_sku": sku}).first()
    if row is None:
        return None
    return SkuRef(row.id, row.sku, BackorderPolicy(row.backorder_policy), row.backorder_cap,
                  row.low_stock_threshold)


def sku_ref_by_id(conn: Connection, sku_id: int) -> SkuRef:
    row = conn.execute(_SKU_REF_BY_ID, {"p_id": sku_id}).one()
    return SkuRef(row.id, row.sku, BackorderPolicy(row.backorder_policy), row.backorder_cap,
                  row.low_stock_threshold)


def location_ref(conn: Connection, code: str) -> LocationRef | None:
    row = conn.execute(_LOCATION_REF, {"p_code": code}).first()
    return LocationRef(row.id, row.code, row.priority) if row else None


def all_location_refs(conn: Connection) -> list[LocationRef]:
    rows = conn.execute(select(locations.c.id, locations.c.code, locations.c.priority)).all()
    return [LocationRef(r.id, r.code, r.priority) for r in rows]


_ROUTING_OPTIONS = (
    select(
        locations.c.id,
        locations.c.code,
        locations.c.priority,
        func.coalesce(stock_levels.c.on_hand - stock_levels.c.committed - stock_levels.c.reserved, 0).label(
            "available"
        ),
    )
    .select_from(
        locations.outerjoin(
            stock_levels,
            (stock_levels.c.location_id == locations.c.id) & (stock_levels.c.sku_id == bindparam("p_sku")),
        )
    )
)


def routing_options(conn: Connection, sku_id: int) -> list[tuple[LocationRef, int]]:
    rows = conn.execute(_ROUTING_OPTIONS, {"p_sku": sku_id}).all()
    return [(LocationRef(r.id, r.code, r.priority), int(r.available)) for r in rows]


def insert_location(conn: Connection, values: dict[str, Any], now: datetime) -> int:
    location_id = conn.execute(
        insert(locations).values(**values, created_at=now).returning(locations.c.id)
    ).scalar_one()
    # Every SKU gets its zero row here, so the hot path never has to create one.
    conn.execute(
        insert(stock_levels).from_select(
            ["sku_id", "location_id", "on_hand", "committed", "reserved", "incoming", "updated_at"],
            select(skus.c.id, literal(location_id), literal(0), literal(0), literal(0), literal(0),
                   literal(now, type_=stock_levels.c.updated_at.type)),
        )
    )
    return location_id


def list_locations(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(locations).order_by(locations.c.priority, locations.c.code)).mappings().all()
    return [
        {"code": r["code"], "name": r["name"], "kind": r["kind"], "priority": r["priority"]} for r in rows
    ]


def upsert_product(conn: Connection, handle: str, title: str | None, vendor: str | None, product_type: str | None,
                   now: datetime) -> int:
    """Create the product, or update only the fields given (None leaves a field as it is)."""
    existing = conn.execute(select(products.c.id).where(products.c.handle == handle)).scalar()
    if existing is not None:
        given = {k: v for k, v in {"title": title, "vendor": vendor, "product_type": product_type}.items()
                 if v is not None}
        if given:
            conn.execute(update(products).where(products.c.id == existing).values(**given))
        return int(existing)
    return int(
        conn.execute(
            insert(products)
            .values(handle=handle, title=title or handle, vendor=vendor, product_type=product_type, created_at=now)
            .returning(products.c.id)
        ).scalar_one()
    )


def insert_sku(conn: Connection, values: dict[str, Any], now: datetime) -> int:
    sku_id = conn.execute(
        insert(skus)
        .values(**values, on_hand=0, committed=0, reserved=0, incoming=0, created_at=now, updated_at=now)
        .returning(skus.c.id)
    ).scalar_one()
    location_ids = conn.execute(select(locations.c.id)).scalars().all()
    if location_ids:
        conn.execute(
            insert(stock_levels),
            [
                {"sku_id": sku_id, "location_id": lid, "on_hand": 0, "committed": 0, "reserved": 0,
                 "incoming": 0, "updated_at": now}
                for lid in location_ids
            ],
        )
    return int(sku_id)


def update_sku(conn: Connection, sku_id: int, values: dict[str, Any], now: datetime) -> None:
    if values:
        conn.execute(update(skus).where(skus.c.id == sku_id).values(**values, updated_at=now))


def sku_row(conn: Connection, sku: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(skus, products.c.handle.label("product_handle"), products.c.title.label("product_title"))
        .select_from(skus.outerjoin(products, products.c.id == skus.c.product_id))
        .where(skus.c.sku == sku)
    ).mappings().first()
    return dict(row) if row else None


def levels_by_location(conn: Connection, sku_id: int) -> list[tuple[str, Levels]]:
    rows = conn.execute(
        select(locations.c.code, stock_levels.c.on_hand, stock_levels.c.committed, stock_levels.c.reserved,
               stock_levels.c.incoming)
        .join(locations, locations.c.id == stock_levels.c.location_id)
        .where(stock_levels.c.sku_id == sku_id)
        .order_by(locations.c.priority, locations.c.code)
    ).all()
    return [(r.code, Levels(r.on_hand, r.committed, r.reserved, r.incoming)) for r in rows]


def list_sku_rows(conn: Connection, *, after: str | None, limit: int) -> list[dict[str, Any]]:
    stmt = select(skus).order_by(skus.c.sku).limit(limit)
    if after:
        stmt = stmt.where(skus.c.sku > after)
    return [dict(r) for r in conn.execute(stmt).mappings().all()]


def upsert_listing(conn: Connection, channel: str, external_id: str, sku_id: int, role: str | None = None,
                   parent_external_id: str | None = None) -> None:
    ins = insert_or_ignore(conn, channel_listings).values(channel=channel, external_id=external_id, sku_id=sku_id,
                                                          role=role, parent_external_id=parent_external_id)
    conn.execute(
        ins.on_conflict_do_update(
            index_elements=[channel_listings.c.channel, channel_listings.c.external_id],
            set_={"sku_id": sku_id, "role": role, "parent_external_id": parent_external_id},
        )
    )


def listing_row(conn: Connection, channel: str, external_id: str) -> dict[str, Any] | None:
    """The listing of one channel id: its SKU (id and name), role and parent."""
    row = conn.execute(
        select(channel_listings.c.sku_id, skus.c.sku, channel_listings.c.role, channel_listings.c.parent_external_id)
        .join(skus, skus.c.id == channel_listings.c.sku_id)
        .where(channel_listings.c.channel == channel, channel_listings.c.external_id == external_id)
    ).mappings().first()
    return dict(row) if row else None


def variations_of(conn: Connection, channel: str, parent_external_id: str) -> list[tuple[str, str]]:
    """(variation id, SKU) of every listing on the channel whose parent is `parent_external_id`."""
    return [(r.external_id, r.sku) for r in conn.execute(
        select(channel_listings.c.external_id, skus.c.sku)
        .join(skus, skus.c.id == channel_listings.c.sku_id)
        .where(channel_listings.c.channel == channel, channel_listings.c.parent_external_id == parent_external_id)
        .order_by(channel_listings.c.id))]


def delete_listing(conn: Connection, channel: str, external_id: str) -> None:
    conn.execute(delete(channel_listings).where(channel_listings.c.channel == channel,
                                                channel_listings.c.external_id == external_id))


def listing_sku(conn: Connection, channel: str, external_id: str) -> str | None:
    return conn.execute(
        select(skus.c.sku)
        .join(channel_listings, channel_listings.c.sku_id == skus.c.id)
        .where(channel_listings.c.channel == channel, channel_listings.c.external_id == external_id)
    ).scalar()
