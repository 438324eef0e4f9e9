"""Reads of the append-only history: ledger movements and domain events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from stockpilot.adapters.db.tables import events, locations, movements, skus


def _movement_query():  # noqa: ANN202 - a Select with joined codes
    return select(
        movements.c.id,
        movements.c.idempotency_key,
        skus.c.sku,
        locations.c.code.label("location"),
        movements.c.kind,
        movements.c.d_on_hand,
        movements.c.d_committed,
        movements.c.d_reserved,
        movements.c.d_incoming,
        movements.c.source,
        movements.c.reference,
        movements.c.reason,
        movements.c.created_at,
    ).join(skus, skus.c.id == movements.c.sku_id).join(locations, locations.c.id == movements.c.location_id)


def movement_by_key(conn: Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(_movement_query().where(movements.c.idempotency_key == key)).mappings().first()
    return describe_movement(dict(row)) if row else None


def list_movements(conn: Connection, *, sku: str | None, after: int, limit: int) -> list[dict[str, Any]]:
    stmt = _movement_query().where(movements.c.id > after).order_by(movements.c.id).limit(limit)
    if sku is not None:
        stmt = stmt.where(skus.c.sku == sku)
    return [describe_movement(dict(r)) for r in conn.execute(stmt).mappings().all()]


def describe_movement(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "idempotency_key": row["idempotency_key"],
        "sku": row["sku"],
        "location": row["location"],
        "kind": row["kind"],
        "delta": {
            "on_hand": row["d_on_hand"],
            "committed": row["d_committed"],
            "reserved": row["d_reserved"],
            "incoming": row["d_incoming"],
        },
        "source": row["source"],
        "reference": row["reference"],
        "reason": row["reason"],
        "created_at": row["created_at"].isoformat(),
    }


def list_events(conn: Connection, *, after: int, limit: int, sku: str | None = None,
                kind: str | None = None) -> list[dict[str, Any]]:
    stmt = select(events).where(events.c.id > after).order_by(events.c.id).limit(limit)
    if sku is not None:
        stmt = stmt.where(events.c.sku == sku)
    if kind is not None:
        stmt = stmt.where(events.c.kind == kind)
    return [
        {
            "id": r["id"],
            "kind": r["kind"],
            "sku": r["sku"],
            "location": r["location"],
            "payload": r["payload"],
            "created_at": r["created_at"].isoformat(),
        }
        for r in conn.execute(stmt).mappings().all()
    ]
