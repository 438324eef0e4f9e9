"""Reservations: all-or-nothing holds on stock with a time to live, released, extended or committed."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import ledger
from stockpilot.adapters.db import reservation_store as store
from stockpilot.adapters.db.backorder_store import save_contact
from stockpilot.domain.errors import (
    Conflict,
    IdempotencyConflict,
    NotFound,
    ReservationExpired,
    ValidationFailed,
)
from stockpilot.domain.model import Delta, MovementKind, ReservationStatus
from stockpilot.domain.reservations import RequestedLine, merge_lines, units_per_sku
from stockpilot.services.allocation import Allocator, resolve
from stockpilot.services.context import Context
from stockpilot.services.expiry import expire_overdue_on_sku, finish
from stockpilot.services.orders import create_order_from_placements, describe_order


class ReservationService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- create -------------------------------------------------------------------------------------
    def reserve(self, reference: str, lines: list[RequestedLine], ttl_seconds: int | None = None,
                source: str = "api") -> tuple[dict[str, Any], bool]:
        """Hold every line or none. Returns (reservation, created?); a repeated reference is a replay."""
        if not isinstance(reference, str) or not reference.strip():
            raise ValidationFailed("reference is required")
        merged = merge_lines(lines)
        ttl = self._ttl(ttl_seconds)

        def work(conn: Connection) -> tuple[dict[str, Any], bool]:
            now = self.ctx.clock.now()
            expires_at = now + timedelta(seconds=ttl)
            reservation_id = store.claim_reference(conn, reference, source, expires_at, now)
            if reservation_id is None:
                return self._replay(conn, reference, merged, now), False
            allocator = Allocator(conn, now, MovementKind.RESERVE, f"reservation:{reservation_id}", reference,
                                  source, expire_overdue_on_sku)
            rows: list[dict[str, int]] = []
            described_lines: list[dict[str, Any]] = []
            for line in merged:
                sku, location = resolve(conn, line)
                for placed in allocator.place(line, sku, location):
                    rows.append({"sku_id": placed.sku.id, "location_id": placed.location.id,
                                 "quantity": placed.quantity})
                    described_lines.append({"sku": placed.sku.sku, "location": placed.location.code,
                                            "quantity": placed.quantity})
            store.insert_reservation_lines(conn, reservation_id, rows)
            # Described from what was just written: the hot path skips reading it back.
            return {
                "id": reservation_id, "reference": reference, "status": ReservationStatus.ACTIVE.value,
                "source": source, "expires_at": expires_at.isoformat(), "created_at": now.isoformat(),
                "order_id": None, "lines": described_lines,
            }, True

        return self.ctx.db.write(work)

    def _replay(self, conn: Connection, reference: str, merged: list[RequestedLine],
                now: datetime) -> dict[str, Any]:
        header = store.reservation_header(conn, reference=reference)
        assert header is not None
        described = self._describe(conn, header["id"], now)
        asked = units_per_sku((line.sku, line.quantity) for line in merged)
        held = units_per_sku((line["sku"], line["quantity"]) for line in described["lines"])
        if asked != held:
            raise IdempotencyConflict(f"reference {reference!r} was already used for different lines")
        return described

    # ---- read ---------------------------------------------------------------------------------------
    def get(self, reservation_id: int) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            return self._describe(conn, reservation_id, self.ctx.clock.now())

    def _describe(self, conn: Connection, reservation_id: int, now: datetime) -> dict[str, Any]:
        header = store.reservation_header(conn, reservation_id=reservation_id)
        if header is None:
            raise NotFound(f"unknown reservation {reservation_id}")
        status = header["status"]
        if status == ReservationStatus.ACTIVE and header["expires_at"] <= now:
            status = ReservationStatus.EXPIRED.value  # expired in effect, even before the sweep records it
        return {
            "id": header["id"],
            "reference": header["reference"],
            "status": status,
            "source": header["source"],
            "expires_at": header["expires_at"].isoformat(),
            "created_at": header["created_at"].isoformat(),
            "order_id": header["order_id"],
            "lines": [
                {"sku": line["sku"], "location": line["location"], "quantity": line["quantity"]}
                for line in store.reservation_line_rows(conn, reservation_id)
            ],
        }

    # ---- transitions --------------------------------------------------------------------------------
    def release(self, reservation_id: int) -> dict[str, Any]:
        """Give the units back. Idempotent: releasing a released or expired reservation changes nothing."""

        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            header = self._header(conn, reservation_id)
            if header["status"] == ReservationStatus.COMMITTED:
                raise Conflict(f"reservation {reservation_id} was committed into order {header['order_id']}")
            if header["status"] == ReservationStatus.ACTIVE and not finish(
                conn, reservation_id, ReservationStatus.RELEASED, now
            ):
                header = self._header(conn, reservation_id)  # lost a race: a commit may have won
                if header["status"] == ReservationStatus.COMMITTED:
                    raise Conflict(f"reservation {reservation_id} was committed into order {header['order_id']}")
            return self._describe(conn, reservation_id, now)

        return self.ctx.db.write(work)

    def extend(self, reservation_id: int, ttl_seconds: int | None = None) -> dict[str, Any]:
        ttl = self._ttl(ttl_seconds)

        def work(conn: Connection) -> dict[str, Any] | None:
            now = self.ctx.clock.now()
            header = self._header(conn, reservation_id)
            if header["status"] != ReservationStatus.ACTIVE:
                raise Conflict(f"reservation {reservation_id} is {header['status']}, it cannot be extended")
            if header["expires_at"] <= now:
                finish(conn, reservation_id, ReservationStatus.EXPIRED, now)
                return None
            store.set_expiry(conn, reservation_id, now + timedelta(seconds=ttl), now)
            return self._describe(conn, reservation_id, now)

        described = self.ctx.db.write(work)
        if described is None:
            raise ReservationExpired(f"reservation {reservation_id} expired before it was extended")
        return described

    def commit(self, reservation_id: int, order_reference: str | None = None, *,
               customer_email: str | None = None, customer_phone: str | None = None) -> tuple[dict[str, Any], bool]:
        """Turn the held units into an order. Idempotent: a second commit returns the same order.

        `customer_email` / `customer_phone` (E.164) are kept with the order for backorder notices (in the
        committing transaction)."""

        def work(conn: Connection) -> tuple[dict[str, Any], bool] | None:
            now = self.ctx.clock.now()
            header = self._header(conn, reservation_id)
            if header["status"] == ReservationStatus.ACTIVE and header["expires_at"] <= now:
                finish(conn, reservation_id, ReservationStatus.EXPIRED, now)
                return None
            if header["status"] == ReservationStatus.ACTIVE and store.transition(
                conn, reservation_id, ReservationStatus.COMMITTED, now
            ):
                committed = self._commit_lines(conn, header, order_reference, now)
                if customer_email or customer_phone:
                    save_contact(conn, committed["id"], customer_email, customer_phone)
                return committed, True
            # Lost a race or a replay: whoever committed first made the order.
            header = self._header(conn, reservation_id)
            if header["status"] == ReservationStatus.COMMITTED:
                return describe_order(conn, header["order_id"]), False
            if header["status"] == ReservationStatus.EXPIRED:
                return None
            raise Conflict(f"reservation {reservation_id} is {header['status']}, it cannot be committed")

        result = self.ctx.db.write(work)
        if result is None:
            raise ReservationExpired(f"reservation {reservation_id} expired before it was committed")
        return result

    def _commit_lines(self, conn: Connection, header: dict[str, Any], order_reference: str | None,
                      now: datetime) -> dict[str, Any]:
        lines = store.reservation_line_rows(conn, header["id"])
        order_id = create_order_from_placements(
            conn,
            reference=order_reference or header["reference"],
            source=header["source"],
            reservation_id=header["id"],
            lines=[{"sku_id": ln["sku_id"], "location_id": ln["location_id"], "quantity": ln["quantity"]}
                   for ln in lines],
            now=now,
        )
        for line in lines:
            ledger.apply(
                conn, sku=store.line_sku_ref(line), location=store.line_location_ref(line), kind=MovementKind.COMMIT,
                delta=Delta(reserved=-line["quantity"], committed=line["quantity"]), floor=None,
                source=header["source"], reference=header["reference"],
                idempotency_key=f"reservation:{header['id']}:commit:{line['id']}", now=now,
            )
        store.link_order(conn, header["id"], order_id)
        return describe_order(conn, order_id)

    def expire_due(self, *, batch: int = 50) -> int:
        """The sweep: record the expiry of overdue reservations, a small batch per transaction."""
        expired = 0
        while True:
            def work(conn: Connection) -> tuple[int, int]:
                now = self.ctx.clock.now()
                ids = store.overdue_reservation_ids(conn, now, limit=batch)
                done = sum(finish(conn, rid, ReservationStatus.EXPIRED, now) for rid in ids)
                return len(ids), done

            seen, done = self.ctx.db.write(work)
            expired += done
            if seen < batch:
                return expired

    def _header(self, conn: Connection, reservation_id: int) -> dict[str, Any]:
        header = store.reservation_header(conn, reservation_id=reservation_id)
        if header is None:
            raise NotFound(f"unknown reservation {reservation_id}")
        return header

    def _ttl(self, ttl_seconds: int | None) -> int:
        ttl = self.ctx.settings.reservation_ttl_seconds if ttl_seconds is None else ttl_seconds
        if not 1 <= ttl <= self.ctx.settings.max_reservation_ttl_seconds:
            raise ValidationFailed(
                f"ttl_seconds must be between 1 and {self.ctx.settings.max_reservation_ttl_seconds}, got {ttl}"
            )
        return ttl
