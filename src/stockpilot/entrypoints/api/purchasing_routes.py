"""Suppliers, offers, SKU policies, purchase orders and the review queue under /api/v1; the signed ack link."""

from __future__ import annotations

from datetime import date
from html import escape
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from stockpilot.adapters.suppliers.edi_ack import parse_855
from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import StockpilotError, ValidationFailed
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.schemas import Strict

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])
public = APIRouter()  # reached by suppliers from an email: the signed token is the credential


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


class SupplierIn(Strict):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    delivery_method: Literal["email", "http", "edi"]
    email: str | None = None
    api_url: str | None = None
    api_token: str | None = None
    edi_dir: str | None = None
    edi_id: str | None = Field(default=None, max_length=15)
    currency: str = "USD"
    contact: str | None = None
    phone: str | None = None
    active: bool = True


class SupplierPatch(Strict):
    name: str | None = None
    delivery_method: Literal["email", "http", "edi"] | None = None
    email: str | None = None
    api_url: str | None = None
    api_token: str | None = None
    edi_dir: str | None = None
    edi_id: str | None = Field(default=None, max_length=15)
    currency: str | None = None
    contact: str | None = None
    phone: str | None = None
    active: bool | None = None


class OfferIn(Strict):
    supplier_sku: str | None = None
    unit_cost: str | float | int | None = None
    lead_time_days: float | None = Field(default=None, ge=0)
    lead_time_spread_days: float | None = Field(default=None, ge=0)
    moq: int | None = Field(default=None, ge=1)
    pack_size: int | None = Field(default=None, ge=1)
    capacity: int | None = Field(default=None, ge=1)
    available: bool | None = None


class PolicyIn(Strict):
    service_level: float | None = None
    manual_min: int | None = None
    manual_max: int | None = None
    target_cover_days: float | None = None
    policy: Literal["stockpilot", "naive"] | None = None


class PlannedEventIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    sku: str | None = None
    starts_on: str
    ends_on: str
    multiplier: float


class ApproveIn(Strict):
    supplier: str | None = None
    quantities: dict[str, int] | None = None
    note: str | None = None


class RejectIn(Strict):
    reason: str = Field(min_length=1)


class AckIn(Strict):
    supplier_reference: str | None = None
    confirmed: dict[str, int] | None = None
    revision: int | None = Field(default=None, ge=0)
    eta: date | None = Field(default=None, description="the supplier's promised date: reschedules the PO")


class ReceiveIn(Strict):
    lines: dict[str, int] = Field(min_length=1)
    idempotency_key: str = Field(min_length=1, max_length=200)
    location: str | None = None


class CancelIn(Strict):
    reason: str = Field(min_length=1)


# ---- suppliers and offers -------------------------------------------------------------------------------------
@router.post("/suppliers", status_code=201)
def add_supplier(body: SupplierIn, request: Request) -> JSONResponse:
    fields = body.model_dump(exclude={"code"}, exclude_none=True)
    return JSONResponse(_app(request).suppliers.add(body.code, fields), status_code=201)


@router.get("/suppliers")
def list_suppliers(request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).suppliers.list()})


@router.get("/suppliers/{code}")
def get_supplier(code: str, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).suppliers.get(code))


@router.patch("/suppliers/{code}")
def update_supplier(code: str, body: SupplierPatch, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).suppliers.update(code, body.model_dump(exclude_none=True)))


@router.put("/suppliers/{code}/offers/{sku}")
def set_offer(code: str, sku: str, body: OfferIn, request: Request) -> JSONResponse:
    offer, created = _app(request).suppliers.set_offer(code, sku, body.model_dump(exclude_none=True))
    return JSONResponse(offer, status_code=201 if created else 200)


@router.put("/skus/{sku}/policy")
def set_policy(sku: str, body: PolicyIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).planning.set_policy(sku, body.model_dump(exclude_unset=True)),
                        headers={"cache-control": "no-store"})


# ---- planning -----------------------------------------------------------------------------------------------
@router.get("/plan")
def plan(request: Request, days: int = Query(7, ge=1, le=365), all_skus: bool = Query(False, alias="all"),
         sku: str | None = None, limit: int = Query(500, ge=1, le=100_000)) -> JSONResponse:
    """Days of cover, projected stockout (open POs at their ETA) and SKUs at risk within `days`."""
    items = _app(request).plan.view(horizon_days=days, at_risk_only=not all_skus and sku is None, limit=limit,
                                    sku=sku)
    return JSONResponse({"items": items, "days": days})


@router.post("/plan/recompute")
def recompute(request: Request) -> JSONResponse:
    return JSONResponse(_app(request).plan.recompute().as_dict())


@router.post("/planned-events", status_code=201)
def add_planned_event(body: PlannedEventIn, request: Request) -> JSONResponse:
    created = _app(request).planning.add_event(body.name, body.starts_on, body.ends_on, body.multiplier, body.sku)
    return JSONResponse(created, status_code=201)


@router.get("/planned-events")
def list_planned_events(request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).planning.list_events()})


@router.delete("/planned-events/{event_id}", status_code=204)
def remove_planned_event(event_id: int, request: Request) -> Response:
    _app(request).planning.remove_event(event_id)
    return Response(status_code=204)


# ---- purchase orders ---------------------------------------------------------------------------------------
@router.get("/purchase-orders")
def list_purchase_orders(request: Request, status: str | None = None, sku: str | None = None,
                         after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    items = _app(request).purchasing.list(status=status, sku=sku, after=after, limit=limit)
    return JSONResponse({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


@router.get("/purchase-orders/review")
def review_queue(request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).purchasing.list(status="needs_review", limit=1000)})


@router.get("/purchase-orders/{ref}")
def get_purchase_order(ref: str, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.get(ref))


@router.post("/purchase-orders/{ref}/approve")
def approve(ref: str, body: ApproveIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.approve(ref, supplier=body.supplier, quantities=body.quantities,
                                                         note=body.note))


@router.post("/purchase-orders/{ref}/edit")
def edit(ref: str, body: ApproveIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.edit(ref, supplier=body.supplier, quantities=body.quantities))


@router.post("/purchase-orders/{ref}/reject")
def reject(ref: str, body: RejectIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.reject(ref, body.reason))


@router.post("/purchase-orders/{ref}/acknowledge")
def acknowledge(ref: str, body: AckIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.acknowledge(
        ref, via="api", supplier_reference=body.supplier_reference, confirmed=body.confirmed,
        revision=body.revision, eta=body.eta))


@router.post("/purchase-orders/{ref}/receive")
def receive(ref: str, body: ReceiveIn, request: Request) -> JSONResponse:
    result = _app(request).purchasing.receive(ref, body.lines, idempotency_key=body.idempotency_key,
                                              location=body.location)
    return JSONResponse(result)


@router.post("/purchase-orders/{ref}/cancel")
def cancel(ref: str, body: CancelIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.cancel(ref, body.reason))


@router.post("/purchase-orders/{ref}/close")
def close(ref: str, body: CancelIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).purchasing.close(ref, body.reason))


@router.post("/edi/855")
async def edi_855(request: Request) -> JSONResponse:
    """An X12 855 (purchase order acknowledgement) from a supplier, as the raw interchange in the body."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    try:
        ack = parse_855(raw)
    except ValueError as exc:
        raise ValidationFailed(f"not a valid X12 855: {exc}") from None
    return JSONResponse(_app(request).purchasing.acknowledge_855(ack))


# ---- the signed acknowledge link ---------------------------------------------------------------------------
@public.get("/ack/{token}", include_in_schema=False)
def ack_link(token: str, request: Request) -> HTMLResponse:
    try:
        po = _app(request).purchasing.acknowledge_link(token)
    except StockpilotError as exc:
        return HTMLResponse(_page("This link cannot be used", escape(exc.detail)), status_code=400)
    return HTMLResponse(_page(f"{escape(po['number'])} acknowledged",
                              f"Thank you. {escape(po['number'])} (revision {po['revision']}) is recorded as "
                              f"acknowledged. Expected delivery: {escape(po['eta'] or 'not set')}."))


def _page(title: str, text: str) -> str:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title}</title><body style='font:16px system-ui;max-width:40em;margin:3em auto;color:#1a1a1a'>"
            f"<h1 style='font-size:1.4em'>{title}</h1><p>{text}</p></body></html>")
