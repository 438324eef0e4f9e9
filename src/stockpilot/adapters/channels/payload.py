"""Reading untrusted JSON payloads: every problem becomes Unprocessable with a reason, never a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from stockpilot.domain.channel_messages import Unprocessable


def load_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unprocessable("malformed_json", str(exc)) from None
    if not isinstance(value, dict):
        raise Unprocessable("malformed_json", f"expected a JSON object, got {type(value).__name__}")
    return value


def field(obj: dict[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise Unprocessable("missing_field", f"{name!r} is required")
    return obj[name]


def integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Unprocessable("invalid_field", f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise Unprocessable("invalid_field", f"{name} must be an integer, got {value!r}") from None


def object_list(obj: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = obj.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise Unprocessable("invalid_field", f"{name} must be a list of objects")
    return value


def identifier(value: Any, name: str) -> str:
    """A platform id as text ('250' and 250 are the same order)."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise Unprocessable("invalid_field", f"{name} is required")
    if not isinstance(value, int | str):
        raise Unprocessable("invalid_field", f"{name} must be an id, got {value!r}")
    return str(value).strip()


def text_or_none(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def timestamp(value: Any, name: str, *, naive_is_utc: bool = True) -> datetime:
    """ISO 8601 (Shopify, WooCommerce *_gmt) or RFC 2822 (BigCommerce V2) as an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        raise Unprocessable("invalid_field", f"{name} must be a timestamp, got {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise Unprocessable("invalid_field", f"{name} must be a timestamp, got {value!r}") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise Unprocessable("invalid_field", f"{name} has no time zone: {value!r}")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def optional_timestamp(value: Any, name: str) -> datetime | None:
    return None if value in (None, "") else timestamp(value, name)
