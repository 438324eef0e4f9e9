"""The customer's email in a channel order payload, for backorder notices. Never a reason to park a delivery:
a missing or malformed address is None (the order is applied; nobody is emailed)."""

from __future__ import annotations

from typing import Any

from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.waitlist import normalise_email


def customer_email(order: dict[str, Any], *paths: str) -> str | None:
    """The first valid address among dotted `paths` ("email", "customer.email", "billing.email")."""
    for path in paths:
        value: Any = order
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            try:
                return normalise_email(value)
            except ValidationFailed:
                continue
    return None
