"""Use cases for suppliers and their offers, and the scorecards measured from real outcomes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import po_store
from stockpilot.adapters.db import supplier_store as store
from stockpilot.domain.errors import Conflict, NotFound, ValidationFailed
from stockpilot.domain.purchasing import SUPPLY_REDATED
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku

DELIVERY_METHODS = ("email", "http", "edi")


class SupplierService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, code: str, fields: dict[str, Any]) -> dict[str, Any]:
        code = _text("code", code)
        values = validate_supplier(fields, creating=True)

        def work(conn: Connection) -> dict[str, Any]:
            if store.supplier_row(conn, code) is not None:
                raise Conflict(f"supplier {code!r} already exists")
            store.insert_supplier(conn, code, values, self.ctx.clock.now())
            return describe_supplier(store.supplier_row(conn, code) or {})

        return self.ctx.db.write(work)

    def update(self, code: str, fields: dict[str, Any]) -> dict[str, Any]:
        values = validate_supplier(fields, creating=False)

        def work(conn: Connection) -> dict[str, Any]:
            row = require_supplier(conn, code)
            merged = {**row, **values}
            _check_endpoint(merged)
            store.update_supplier(conn, row["id"], values, self.ctx.clock.now())
            return describe_supplier(store.supplier_row(conn, code) or {})

        return self.ctx.db.write(work)

    def list(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            rows = store.list_suppliers(conn)
            perf = store.performance(conn, [r["id"] for r in rows], self.ctx.clock.now())
            return [describe_supplier(r, perf.get(r["id"])) for r in rows]

    def get(self, code: str) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            row = require_supplier(conn, code)
            perf = store.performance(conn, [row["id"]], self.ctx.clock.now())[row["id"]]
            described = describe_supplier(row, perf)
            described["offers"] = [describe_offer(o) for o in store.offers_of_supplier(conn, row["id"])]
            return described

    def set_offer(self, code: str, sku: str, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or change what a supplier offers for a SKU; returns (offer, created?)."""
        values = validate_offer(fields)

        def work(conn: Connection) -> tuple[dict[str, Any], bool]:
            supplier = require_supplier(conn, code)
            sku_ref = require_sku(conn, sku)
            existing = {o["sku"]: o for o in store.offers_of_supplier(conn, supplier["id"])}.get(sku)
            if existing is None:
                missing = {"unit_cost", "lead_time_days"} - values.keys()
                if missing:
                    raise ValidationFailed(f"a new offer needs {', '.join(sorted(missing))}")
            now = self.ctx.clock.now()
            created = existing is None and store.insert_offer(conn, supplier["id"], sku_ref.id, values, now)
            if not created:
                store.update_offer(conn, supplier["id"], sku_ref.id, values, now)
            offer = {o["sku"]: o for o in store.offers_of_supplier(conn, supplier["id"])}[sku]
            before = (existing or {}).get("lead_time_days"), (existing or {}).get("available")
            if before != (offer["lead_time_days"], offer["available"]):
                # What a new PO could do changed: backorder ETAs beyond what is on order follow it.
                po_store.record_event(conn, SUPPLY_REDATED, sku, None,
                                      {"cause": "lead_time", "supplier": code, "was": before[0],
                                       "lead_time_days": offer["lead_time_days"], "available": offer["available"]},
                                      now)
            return describe_offer(offer), created

        return self.ctx.db.write(work)


def require_supplier(conn: Connection, code: str) -> dict[str, Any]:
    row = store.supplier_row(conn, code)
    if row is None:
        raise NotFound(f"unknown supplier {code!r}", supplier=code)
    return row


def validate_supplier(fields: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    values = {k: v for k, v in fields.items() if v is not None and k in store.SUPPLIER_FIELDS}
    unknown = set(fields) - set(store.SUPPLIER_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown supplier field(s): {', '.join(sorted(unknown))}")
    if creating:
        values.setdefault("name", None)
        values.setdefault("currency", "USD")
        values.setdefault("active", True)
        if not values.get("name"):
            raise ValidationFailed("name is required")
        if "delivery_method" not in values:
            raise ValidationFailed("delivery_method is required (email, http or edi)")
    if "delivery_method" in values and values["delivery_method"] not in DELIVERY_METHODS:
        raise ValidationFailed(f"delivery_method must be email, http or edi, got {values['delivery_method']!r}")
    if "currency" in values:
        currency = str(values["currency"]).upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValidationFailed(f"currency must be a 3-letter ISO code, got {values['currency']!r}")
        values["currency"] = currency
    if "email" in values and "@" not in str(values["email"]):
        raise ValidationFailed(f"email is not an address: {values['email']!r}")
    if "api_url" in values and not str(values["api_url"]).startswith(("http://", "https://")):
        raise ValidationFailed(f"api_url must be an http(s) URL, got {values['api_url']!r}")
    if creating:
        _check_endpoint(values)
    return values


def _check_endpoint(values: dict[str, Any]) -> None:
    """A supplier must be reachable by the method it is set to: an address for email, a URL for http."""
    method = values.get("delivery_method")
    if method == "email" and not values.get("email"):
        raise ValidationFailed("delivery_method email needs an email address")
    if method == "http" and not values.get("api_url"):
        raise ValidationFailed("delivery_method http needs an api_url")


def validate_offer(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(store.OFFER_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown offer field(s): {', '.join(sorted(unknown))}")
    values = {k: v for k, v in fields.items() if v is not None}
    if "unit_cost" in values:
        try:
            cost = Decimal(str(values["unit_cost"]))
        except InvalidOperation:
            raise ValidationFailed(f"unit_cost must be a decimal number, got {values['unit_cost']!r}") from None
        if not cost.is_finite() or cost < 0:
            raise ValidationFailed(f"unit_cost must be a non-negative number, got {values['unit_cost']!r}")
        values["unit_cost"] = str(cost)
    for name in ("lead_time_days", "lead_time_spread_days"):
        if name in values:
            if isinstance(values[name], bool) or not isinstance(values[name], int | float) or values[name] < 0:
                raise ValidationFailed(f"{name} must be a non-negative number of days, got {values[name]!r}")
            values[name] = float(values[name])
    for name, low in (("moq", 1), ("pack_size", 1), ("capacity", 1)):
        if name in values and (type(values[name]) is not int or values[name] < low):
            raise ValidationFailed(f"{name} must be an integer >= {low}, got {values[name]!r}")
    if "available" in values and not isinstance(values["available"], bool):
        raise ValidationFailed(f"available must be true or false, got {values['available']!r}")
    return values


def describe_supplier(row: dict[str, Any], perf: Any = None) -> dict[str, Any]:
    described = {k: row.get(k) for k in ("code", *store.SUPPLIER_FIELDS) if k != "api_token"}
    described["api_token_set"] = bool(row.get("api_token"))
    if perf is not None:
        described["performance"] = {
            "fill_rate": perf.fill_rate,
            "on_time_rate": perf.on_time_rate,
            "lead_time_actual_days": perf.lead_time_actual_days,
            "delivery_success": perf.delivery_success,
            "purchase_orders_30d": perf.purchase_orders,
        }
    return described


def describe_offer(row: dict[str, Any]) -> dict[str, Any]:
    return {"sku": row["sku"], **{k: row[k] for k in store.OFFER_FIELDS}}


def _text(name: str, value: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{name} is required")
    return value.strip()
