"""Ending reservations: release and expiry give held units back, exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from stockpilot.adapters.db import ledger
from stockpilot.adapters.db import reservation_store as store
from stockpilot.domain.model import Delta, MovementKind, ReservationStatus


def finish(conn: Connection, reservation_id: int, status: ReservationStatus, now: datetime) -> bool:
    """Release or expire an active reservation and return its units; False if it was no longer active."""
    if not store.transition(conn, reservation_id, status, now):
        return False
    kind = MovementKind.EXPIRE if status is ReservationStatus.EXPIRED else MovementKind.RELEASE
    header = store.reservation_header(conn, reservation_id=reservation_id)
    assert header is not None
    for line in store.reservation_line_rows(conn, reservation_id):
        applied = ledger.apply(
            conn, sku=store.line_sku_ref(line), location=store.line_location_ref(line), kind=kind,
            delta=Delta(reserved=-line["quantity"]), floor=None, source=header["source"],
            reference=header["reference"], idempotency_key=f"reservation:{reservation_id}:{kind.value}:{line['id']}",
            now=now,
        )
        assert applied is not None, "reserved units of an active reservation must be present"
    return True


def expire_overdue_on_sku(conn: Connection, sku_id: int, now: datetime, *, batch: int = 100) -> int:
    """Expire every overdue hold on one SKU (in batches: a buyer must not be blocked by the 101st)."""
    expired = 0
    while True:
        ids = store.overdue_reservation_ids(conn, now, sku_id=sku_id, limit=batch)
        expired += sum(finish(conn, rid, ReservationStatus.EXPIRED, now) for rid in ids)
        if len(ids) < batch:
            return expired
