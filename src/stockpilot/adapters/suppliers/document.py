"""The purchase-order document every supplier delivery handler receives, and the errors they raise.

The outbox payload is self-contained (no database access in the adapters): the service layer builds it with
`PurchaseOrderDocument.to_payload()` when it enqueues, and each handler rebuilds it with `from_payload()`.
A payload that cannot be valid raises `InvalidPurchaseOrder`, a `PermanentDeliveryError`: retrying cannot fix it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

TOPIC_EMAIL = "po.email"
TOPIC_HTTP = "po.http"
TOPIC_EDI = "po.edi"

Kind = Literal["new", "change", "cancel"]
KINDS: tuple[Kind, ...] = ("new", "change", "cancel")

# Also a file name (EDI drop) and X12 BEG03 (at most 22 characters), so no path separators or X12 delimiters.
_PO_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,21}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class DeliveryError(Exception):
    """A delivery attempt failed. Every failure raises, so the outbox records it and retries or dead-letters."""


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help (refused by the receiver, bad credentials, invalid document)."""

    permanent = True  # the outbox dead-letters it at once instead of retrying


class TransientDeliveryError(DeliveryError):
    """Worth retrying (receiver down or busy, timeout, temporary refusal)."""


class InvalidPurchaseOrder(PermanentDeliveryError, ValueError):
    """The payload is not a valid purchase order; the message names the field."""


@dataclass(frozen=True)
class Supplier:
    code: str
    name: str
    currency: str
    email: str | None = None
    api_url: str | None = None
    api_token: str | None = None
    edi_dir: str | None = None
    edi_sender_id: str | None = None  # our id as the supplier knows us (ISA06/GS02)
    edi_receiver_id: str | None = None  # theirs (ISA08/GS03); defaults to the supplier code


@dataclass(frozen=True)
class Buyer:
    name: str
    email: str
    address_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Line:
    line: int
    sku: str
    title: str
    quantity: int
    unit_cost: Decimal
    uom: str = "EA"
    supplier_sku: str | None = None

    @property
    def total(self) -> Decimal:
        return self.unit_cost * self.quantity


@dataclass(frozen=True)
class PurchaseOrderDocument:
    po_number: str
    revision: int
    kind: Kind
    supplier: Supplier
    buyer: Buyer
    lines: tuple[Line, ...]
    issued_at: datetime
    needed_by: date | None = None
    notes: str = ""
    ack_url: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def title(self) -> str:
        """What the document is, as a person reads it: the email subject and the PDF heading start with it."""
        return {"new": "Purchase order", "change": "Change order", "cancel": "Cancellation"}[self.kind]

    @property
    def file_stem(self) -> str:
        return f"{self.po_number}-r{self.revision}"

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PurchaseOrderDocument:
        if not isinstance(payload, Mapping):
            raise InvalidPurchaseOrder(f"payload must be an object, got {type(payload).__name__}")
        p = _Reader(payload, "")
        po_number = p.string("po_number")
        if not _PO_NUMBER.fullmatch(po_number):
            raise InvalidPurchaseOrder(f"po_number {po_number!r}: 1-22 letters, digits, '.', '_' or '-'")
        kind = p.string("kind")
        if kind not in KINDS:
            raise InvalidPurchaseOrder(f"kind {kind!r}: expected one of {', '.join(KINDS)}")
        lines = tuple(_line(_Reader(item, f"lines[{i}].")) for i, item in enumerate(p.items("lines")))
        numbers = [line.line for line in lines]
        if len(set(numbers)) != len(numbers):
            raise InvalidPurchaseOrder(f"lines: line numbers must be unique, got {numbers}")
        if not lines and kind != "cancel":
            raise InvalidPurchaseOrder("lines: a new or change order needs at least one line")
        issued_at = p.moment("issued_at")
        return cls(
            po_number=po_number,
            revision=p.integer("revision", minimum=0),
            kind=cast(Kind, kind),
            supplier=_supplier(p.object("supplier")),
            buyer=_buyer(p.object("buyer")),
            lines=lines,
            issued_at=issued_at,
            needed_by=p.day("needed_by"),
            notes=p.optional("notes") or "",
            ack_url=p.optional("ack_url"),
        )

    def to_payload(self) -> dict[str, Any]:
        """The JSON-able payload `from_payload` reads back (the service layer enqueues this)."""
        s = self.supplier
        return {
            "po_number": self.po_number,
            "revision": self.revision,
            "kind": self.kind,
            "supplier": {
                "code": s.code, "name": s.name, "email": s.email, "api_url": s.api_url, "api_token": s.api_token,
                "edi_dir": s.edi_dir, "currency": s.currency, "edi_sender_id": s.edi_sender_id,
                "edi_receiver_id": s.edi_receiver_id,
            },
            "buyer": {"name": self.buyer.name, "email": self.buyer.email,
                      "address_lines": list(self.buyer.address_lines)},
            "lines": [
                {"line": ln.line, "sku": ln.sku, "supplier_sku": ln.supplier_sku, "title": ln.title,
                 "quantity": ln.quantity, "unit_cost": str(ln.unit_cost), "uom": ln.uom}
                for ln in self.lines
            ],
            "issued_at": self.issued_at.isoformat(),
            "needed_by": self.needed_by.isoformat() if self.needed_by else None,
            "notes": self.notes,
            "ack_url": self.ack_url,
        }


def _supplier(r: _Reader) -> Supplier:
    currency = r.string("currency")
    if not _CURRENCY.fullmatch(currency):
        raise InvalidPurchaseOrder(f"{r.prefix}currency {currency!r}: expected an ISO 4217 code such as 'USD'")
    return Supplier(
        code=r.string("code"),
        name=r.string("name"),
        currency=currency,
        email=r.optional("email"),
        api_url=r.optional("api_url"),
        api_token=r.optional("api_token"),
        edi_dir=r.optional("edi_dir"),
        edi_sender_id=r.optional("edi_sender_id"),
        edi_receiver_id=r.optional("edi_receiver_id"),
    )


def _buyer(r: _Reader) -> Buyer:
    lines = r.items("address_lines", required=False)
    if not all(isinstance(x, str) for x in lines):
        raise InvalidPurchaseOrder(f"{r.prefix}address_lines: expected a list of strings")
    return Buyer(name=r.string("name"), email=r.string("email"), address_lines=tuple(lines))


def _line(r: _Reader) -> Line:
    return Line(
        line=r.integer("line", minimum=1),
        sku=r.string("sku"),
        title=r.string("title"),
        quantity=r.integer("quantity", minimum=0),  # 0: a change order that drops the line
        unit_cost=r.decimal("unit_cost"),
        uom=r.optional("uom") or "EA",
        supplier_sku=r.optional("supplier_sku"),
    )


class _Reader:
    """Typed access to one JSON object, with errors that name the field path."""

    def __init__(self, data: Any, prefix: str) -> None:
        if not isinstance(data, Mapping):
            raise InvalidPurchaseOrder(f"{prefix.rstrip('.') or 'payload'}: expected an object")
        self.data = data
        self.prefix = prefix

    def _fail(self, key: str, problem: str) -> InvalidPurchaseOrder:
        return InvalidPurchaseOrder(f"{self.prefix}{key}: {problem}")

    def string(self, key: str) -> str:
        value = self.optional(key)
        if value is None:
            raise self._fail(key, "required")
        return value

    def optional(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._fail(key, f"expected a string, got {type(value).__name__}")
        return value

    def integer(self, key: str, *, minimum: int) -> int:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"expected an integer, got {value!r}")
        if value < minimum:
            raise self._fail(key, f"must be at least {minimum}, got {value}")
        return value

    def decimal(self, key: str) -> Decimal:
        value = self.data.get(key)
        # Floats are refused: money travels as a decimal string so no cent is lost on the way.
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._fail(key, f"expected a decimal string such as '12.50', got {value!r}")
        try:
            amount = Decimal(value)
        except InvalidOperation:
            raise self._fail(key, f"not a decimal number: {value!r}") from None
        if not amount.is_finite() or amount < 0:
            raise self._fail(key, f"must be a non-negative amount, got {value!r}")
        return amount

    def moment(self, key: str) -> datetime:
        text = self.string(key)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self._fail(key, f"not an ISO-8601 date-time: {text!r}") from None
        if moment.tzinfo is None:
            raise self._fail(key, f"needs a UTC offset: {text!r}")
        return moment

    def day(self, key: str) -> date | None:
        text = self.optional(key)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self._fail(key, f"not an ISO date (YYYY-MM-DD): {text!r}") from None

    def object(self, key: str) -> _Reader:
        return _Reader(self.data.get(key), f"{self.prefix}{key}.")

    def items(self, key: str, *, required: bool = True) -> Sequence[Any]:
        value = self.data.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "expected a list")
        return value
