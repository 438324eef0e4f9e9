"""Domain errors. Entrypoints map each `code` to an HTTP status or a CLI message."""

from __future__ import annotations

from typing import Any


class StockpilotError(Exception):
    code = "error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(StockpilotError):
    code = "not_found"


class ValidationFailed(StockpilotError):
    code = "invalid"


class Conflict(StockpilotError):
    """The request contradicts current state (e.g. committing a released reservation)."""

    code = "conflict"


class IdempotencyConflict(StockpilotError):
    """The same idempotency key or reference was used before with a different request."""

    code = "idempotency_conflict"


class ReservationExpired(StockpilotError):
    code = "reservation_expired"


class InsufficientStock(StockpilotError):
    code = "insufficient_stock"

    def __init__(self, sku: str, requested: int, available: int, location: str | None = None) -> None:
        where = f" at {location}" if location else ""
        super().__init__(
            f"{sku}: requested {requested}, available {available}{where}",
            sku=sku,
            requested=requested,
            available=available,
        )
        self.sku = sku
        self.requested = requested
        self.available = available
