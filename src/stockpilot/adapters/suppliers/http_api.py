"""Outbox handler `po.http`: POST the PO as JSON to the supplier's API, carrying the idempotency key.

Outcomes: 2xx delivered; 409 answering our own key (or naming none) means "already have it", also delivered;
408, 429 and 5xx, timeouts and connection errors are TransientDeliveryError; any other status (401/403 bad token,
400/422 refused document, 3xx misconfigured URL, 409 for another key) is PermanentDeliveryError. Both raise, so the
outbox records the failure; the message says which kind it is.

A supplier may acknowledge synchronously in the response body; `parse_ack_response` reads that shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from stockpilot.adapters.suppliers.document import (
    TOPIC_HTTP,
    InvalidPurchaseOrder,
    PermanentDeliveryError,
    PurchaseOrderDocument,
    TransientDeliveryError,
)

TOPIC = TOPIC_HTTP
_RETRYABLE = {408, 429}


def request_body(doc: PurchaseOrderDocument) -> dict[str, Any]:
    """What the supplier receives: the order, without our own delivery settings (token, folders, EDI ids)."""
    return {
        "po_number": doc.po_number,
        "revision": doc.revision,
        "kind": doc.kind,
        "issued_at": doc.issued_at.isoformat(),
        "needed_by": doc.needed_by.isoformat() if doc.needed_by else None,
        "currency": doc.supplier.currency,
        "supplier": {"code": doc.supplier.code, "name": doc.supplier.name},
        "buyer": {"name": doc.buyer.name, "email": doc.buyer.email, "address_lines": list(doc.buyer.address_lines)},
        "lines": [
            {"line": ln.line, "sku": ln.sku, "supplier_sku": ln.supplier_sku, "title": ln.title,
             "quantity": ln.quantity, "uom": ln.uom, "unit_cost": str(ln.unit_cost), "line_total": str(ln.total)}
            for ln in doc.lines
        ],
        "total": str(doc.total),
        "notes": doc.notes,
        "ack_url": doc.ack_url,
    }


class HttpApiDelivery:
    def __init__(self, timeout: float = 10, *, client: httpx.Client | None = None) -> None:
        # Redirects are not followed: a POST that gets redirected went to the wrong URL, which retrying won't fix.
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any] | None:
        """Deliver; returns the supplier's synchronous acknowledgement (JSON-able) when its answer carries one."""
        doc = PurchaseOrderDocument.from_payload(payload)
        url = doc.supplier.api_url
        if not url or not url.startswith(("http://", "https://")):
            raise InvalidPurchaseOrder(f"supplier.api_url: an http(s) URL is required for API delivery, got {url!r}")
        headers = {"Idempotency-Key": idempotency_key, "Accept": "application/json"}
        if doc.supplier.api_token:
            headers["Authorization"] = f"Bearer {doc.supplier.api_token}"
        try:
            response = self.client.post(url, json=request_body(doc), headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"supplier API transient failure: {url} timed out ({exc})") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise PermanentDeliveryError(f"supplier API permanent failure: bad URL {url!r}: {exc}") from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"supplier API transient failure: {url}: {type(exc).__name__}: {exc}") \
                from exc
        _check(response, url, idempotency_key)
        return _acknowledgement(response)

    def close(self) -> None:
        self.client.close()


def _check(response: httpx.Response, url: str, idempotency_key: str) -> None:
    status = response.status_code
    if response.is_success:
        return
    if status == 409:
        other = response.headers.get("Idempotency-Key") or _json_field(response, "idempotency_key")
        if other in (None, idempotency_key):
            return  # the supplier already has this exact request: an earlier attempt got through
    summary = f"{url} answered {status}: {response.text[:200]}"
    if status >= 500 or status in _RETRYABLE:
        after = response.headers.get("Retry-After")
        raise TransientDeliveryError(f"supplier API transient failure: {summary}"
                                     + (f" (Retry-After {after})" if after else ""))
    raise PermanentDeliveryError(f"supplier API permanent failure: {summary}")


def _acknowledgement(response: httpx.Response) -> dict[str, Any] | None:
    # The order is delivered whatever the body says: a malformed acknowledgement must not turn into a retry.
    try:
        ack = parse_ack_response(response.content)
    except ValueError:
        return None
    if ack is None:
        return None
    return {"acknowledged": True, "supplier_reference": ack.supplier_reference,
            "lines": [{"line": ln.line, "quantity_confirmed": ln.quantity_confirmed,
                       "ship_date": ln.ship_date.isoformat() if ln.ship_date else None} for ln in ack.lines]}


def _json_field(response: httpx.Response, name: str) -> Any:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


@dataclass(frozen=True)
class ConfirmedLine:
    line: int
    quantity_confirmed: int
    ship_date: date | None


@dataclass(frozen=True)
class ApiAcknowledgement:
    supplier_reference: str | None
    lines: tuple[ConfirmedLine, ...]


def parse_ack_response(body: bytes | str | Mapping[str, Any]) -> ApiAcknowledgement | None:
    """The acknowledgement in a supplier's synchronous answer, or None if the answer is not one.

    Shape: {"status": "acknowledged", "supplier_reference": str | null,
            "lines": [{"line": int, "quantity_confirmed": int, "ship_date": "YYYY-MM-DD" | null}]}.
    A body that says "acknowledged" but does not follow the shape raises ValueError.
    """
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body or "null")
        except ValueError:
            return None  # not JSON: an answer without an acknowledgement
    else:
        data = body
    if not isinstance(data, Mapping) or data.get("status") != "acknowledged":
        return None
    reference = data.get("supplier_reference")
    if reference is not None and not isinstance(reference, str):
        raise ValueError("acknowledgement: supplier_reference must be a string")
    lines = data.get("lines", [])
    if not isinstance(lines, list):
        raise ValueError("acknowledgement: lines must be a list")
    return ApiAcknowledgement(reference, tuple(_confirmed(item, i) for i, item in enumerate(lines)))


def _confirmed(item: Any, index: int) -> ConfirmedLine:
    where = f"acknowledgement lines[{index}]"
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: expected an object")
    line, quantity = _count(item, "line", where), _count(item, "quantity_confirmed", where)
    ship = item.get("ship_date")
    if ship is not None and not isinstance(ship, str):
        raise ValueError(f"{where}.ship_date: expected YYYY-MM-DD or null")
    try:
        ship_date = date.fromisoformat(ship) if ship else None
    except ValueError:
        raise ValueError(f"{where}.ship_date: not a date: {ship!r}") from None
    return ConfirmedLine(line, quantity, ship_date)


def _count(item: Mapping[str, Any], name: str, where: str) -> int:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{name}: expected a non-negative integer, got {value!r}")
    return value
