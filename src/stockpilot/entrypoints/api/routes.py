"""The /api/v1 routes: thin handlers that call the services and shape HTTP answers."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import InsufficientStock, StockpilotError
from stockpilot.domain.reservations import RequestedLine
from stockpilot.domain.waitlist import normalise_email, normalise_phone
from stockpilot.entrypoints.api import schemas
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.errors import error_body, error_status
from stockpilot.entrypoints.api.metrics import ApiMetrics
from stockpilot.entrypoints.api.notify_me import enrol_refused
from stockpilot.runtime import decisions

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


def _metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


def _json(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _lines(lines: list[schemas.LineIn]) -> list[RequestedLine]:
    return [RequestedLine(line.sku, line.quantity, line.location) for line in lines]


def _page(items: list[dict[str, Any]], limit: int, cursor_field: str) -> dict[str, Any]:
    return {"items": items, "next": items[-1][cursor_field] if len(items) == limit else None}


# ---- locations & catalog ---------------------------------------------------------------------------
@router.post("/locations", status_code=201)
def create_location(body: schemas.LocationIn, request: Request) -> JSONResponse:
    created = _app(request).catalog.create_location(body.code, body.name, body.kind, body.priority)
    return _json(created, 201)


@router.get("/locations")
def list_locations(request: Request) -> JSONResponse:
    return _json({"items": _app(request).catalog.list_locations()})


@router.put("/skus/{sku}")
def upsert_sku(sku: str, body: schemas.SkuIn, request: Request) -> JSONResponse:
    product = body.product.model_dump() if body.product else None
    described, created = _app(request).catalog.upsert_sku(sku, body.fields(), product)
    return _json(described, 201 if created else 200)


@router.get("/skus/{sku}")
def get_sku(sku: str, request: Request) -> JSONResponse:
    return _json(_app(request).catalog.get_sku(sku))


@router.get("/skus")
def list_skus(request: Request, after: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return _json(_page(_app(request).catalog.list_skus(after=after, limit=limit), limit, "sku"))


@router.put("/channel-listings")
def map_listing(body: schemas.ListingIn, request: Request) -> JSONResponse:
    _app(request).catalog.map_listing(body.channel, body.external_id, body.sku, body.role, body.parent_external_id)
    return _json(body.model_dump())


# ---- stock -------------------------------------------------------------------------------------------
@router.post("/inventory/adjustments", status_code=201)
def adjust(body: schemas.AdjustmentIn, request: Request) -> JSONResponse:
    movement, replayed = _app(request).stock.adjust(
        sku=body.sku, location=body.location, idempotency_key=body.idempotency_key, delta=body.delta,
        on_hand=body.on_hand, reason=body.reason, kind=body.kind,
    )
    if not replayed:
        _metrics(request).movements.labels(movement["kind"]).inc()
    return _json({**movement, "replayed": replayed}, 200 if replayed else 201)


@router.post("/inventory/transfers", status_code=201)
def transfer(body: schemas.TransferIn, request: Request) -> JSONResponse:
    result = _app(request).stock.transfer(
        sku=body.sku, from_location=body.from_location, to_location=body.to_location, quantity=body.quantity,
        idempotency_key=body.idempotency_key, reason=body.reason,
    )
    return _json(result, 200 if result["replayed"] else 201)


@router.get("/movements")
def movements(request: Request, sku: str | None = None, after: int = Query(0, ge=0),
              limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return _json(_page(_app(request).stock.movements(sku=sku, after=after, limit=limit), limit, "id"))


@router.get("/events")
def events(request: Request, after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
           sku: str | None = None, kind: str | None = None) -> JSONResponse:
    return _json(_page(_app(request).stock.events(after=after, limit=limit, sku=sku, kind=kind), limit, "id"))


# ---- reservations ------------------------------------------------------------------------------------
@router.post("/reservations", status_code=201)
def reserve(body: schemas.ReservationIn, request: Request) -> JSONResponse:
    # Usually answered by fast_reservations.ReservationFastPath before it gets here, with the same function.
    status, content = answer_reservation(_app(request), _metrics(request), body)
    return _json(content, status)


def answer_reservation(sp: Stockpilot, metrics: ApiMetrics, body: schemas.ReservationIn
                       ) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of POST /reservations: 201 created, 200 replayed, or a domain error's answer.

    Any other exception (e.g. WriterBusy from a write that must not wait) leaves no metric behind.
    """
    started = time.perf_counter()
    try:
        reservation, created = sp.reservations.reserve(body.reference, _lines(body.lines), body.ttl_seconds,
                                                       body.source)
    except InsufficientStock as refused:
        # The everyday answer of a sell-out: returned here rather than raised through the middleware stack.
        metrics.reservation_seconds.observe(time.perf_counter() - started)
        metrics.reservations.labels("insufficient_stock").inc()
        answer = error_body(refused)
        if body.notify_me:  # never on the fast path: it hands such requests to this route
            answer["waitlist"] = enrol_refused(sp, refused, body)
        return 409, answer
    except StockpilotError as failed:
        metrics.reservation_seconds.observe(time.perf_counter() - started)
        return error_status(failed), error_body(failed)
    metrics.reservation_seconds.observe(time.perf_counter() - started)
    metrics.reservations.labels("created" if created else "replayed").inc()
    return (201 if created else 200), reservation


def render_json(content: Any) -> bytes:
    """The bytes Starlette's JSONResponse sends for `content`."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


@router.get("/reservations/{reservation_id}")
def get_reservation(reservation_id: int, request: Request) -> JSONResponse:
    return _json(_app(request).reservations.get(reservation_id))


@router.post("/reservations/{reservation_id}/release")
def release(reservation_id: int, request: Request) -> JSONResponse:
    return _json(_app(request).reservations.release(reservation_id))


@router.post("/reservations/{reservation_id}/extend")
def extend(reservation_id: int, request: Request, body: schemas.ExtendIn | None = None) -> JSONResponse:
    return _json(_app(request).reservations.extend(reservation_id, body.ttl_seconds if body else None))


@router.post("/reservations/{reservation_id}/commit")
def commit(reservation_id: int, request: Request, body: schemas.CommitIn | None = None) -> JSONResponse:
    email = normalise_email(body.customer_email) if body and body.customer_email else None  # 422 if invalid
    phone = normalise_phone(body.customer_phone) if body and body.customer_phone else None  # 422 if not E.164
    order, created = _app(request).reservations.commit(reservation_id, body.order_reference if body else None,
                                                       customer_email=email, customer_phone=phone)
    return _json(order, 201 if created else 200)


# ---- orders ------------------------------------------------------------------------------------------
@router.post("/orders", status_code=201)
def place_order(body: schemas.OrderIn, request: Request) -> JSONResponse:
    email = normalise_email(body.customer_email) if body.customer_email else None  # 422 if not an address
    phone = normalise_phone(body.customer_phone) if body.customer_phone else None  # 422 if not E.164
    try:
        order, created = _app(request).orders.place(body.reference, _lines(body.lines), body.source,
                                                    customer_email=email, customer_phone=phone)
    except InsufficientStock as refused:
        if not body.notify_me:
            raise
        return _json({**error_body(refused), "waitlist": enrol_refused(_app(request), refused, body)}, 409)
    return _json(order, 201 if created else 200)


@router.get("/orders/{order_id}")
def get_order(order_id: int, request: Request) -> JSONResponse:
    return _json(_app(request).orders.get(order_id))


@router.post("/orders/{order_id}/fulfil")
def fulfil(order_id: int, request: Request) -> JSONResponse:
    return _json(_app(request).orders.fulfil(order_id))


@router.post("/orders/{order_id}/cancel")
def cancel(order_id: int, request: Request) -> JSONResponse:
    return _json(_app(request).orders.cancel(order_id))


@router.post("/orders/{order_id}/returns")
def record_return(order_id: int, body: schemas.ReturnIn, request: Request) -> JSONResponse:
    return _json(
        _app(request).orders.record_return(
            order_id, sku=body.sku, quantity=body.quantity, restock=body.restock,
            idempotency_key=body.idempotency_key, location=body.location, reason=body.reason,
        )
    )


# ---- decisions ---------------------------------------------------------------------------------------
@router.get("/decisions")
def list_decisions(request: Request, subject: str = Query(min_length=1), after: int = Query(0, ge=0),
                   limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    """Why did it do that? Every automated decision about `subject` (e.g. a SKU), oldest first."""
    with _app(request).db.read() as conn:
        found = decisions.list_for(conn, subject, after=after, limit=limit)
    items = [
        {"id": d.id, "subject": d.subject, "kind": d.kind, "inputs": d.inputs, "options": d.options,
         "choice": d.choice, "reason": d.reason, "created_at": d.created_at.isoformat()}
        for d in found
    ]
    return _json(_page(items, limit, "id"))
