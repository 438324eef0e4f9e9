"""The customer's email and phone in a channel order payload, for backorder notices. Never a reason to park a
delivery: a missing or malformed address or number is None (the order is applied; nobody is told that way).

Phones: shoppers type them in national format ("(415) 555-0100"), so a number is read with libphonenumber in the
country of the address it came with, kept only if it is a valid number, and stored as E.164 (what Twilio takes)."""

from __future__ import annotations

from typing import Any

import phonenumbers

from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.waitlist import normalise_email


def customer_email(order: dict[str, Any], *paths: str) -> str | None:
    """The first valid address among dotted `paths` ("email", "customer.email", "billing.email")."""
    for path in paths:
        value = _at(order, path)
        if isinstance(value, str) and value.strip():
            try:
                return normalise_email(value)
            except ValidationFailed:
                continue
    return None


def customer_phone(order: dict[str, Any], *sources: tuple[str, str]) -> str | None:
    """The first valid number, as E.164, among (phone path, country path) pairs, e.g. ("billing.phone",
    "billing.country"): the country (ISO 3166 alpha-2) reads a national number; "+..." numbers need none."""
    for path, country_path in sources:
        value, country = _at(order, path), _at(order, country_path)
        if not isinstance(value, str) or not value.strip():
            continue
        region = country.strip().upper() if isinstance(country, str) and country.strip() else None
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def _at(order: dict[str, Any], path: str) -> Any:
    value: Any = order
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value
