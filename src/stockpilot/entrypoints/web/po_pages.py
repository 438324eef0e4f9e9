"""Purchase orders: the list (by status), one PO, and the review-queue and receiving forms (CSRF, then PRG)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from stockpilot.domain.errors import NotFound, StockpilotError
from stockpilot.domain.purchasing import POStatus
from stockpilot.entrypoints.web.guard import Form, current_session, posted_form, stockpilot
from stockpilot.entrypoints.web.pages import dashboard
from stockpilot.entrypoints.web.render import page, redirect
from stockpilot.entrypoints.web.session import Session
from stockpilot.services.po_documents import PODocuments

router = APIRouter(include_in_schema=False)
STATUSES = [s.value for s in POStatus]


@router.get("/purchase-orders", response_class=HTMLResponse)
def po_list(request: Request, status: str = "", page_no: int = Query(1, alias="page"),
            session: Session = Depends(current_session)) -> Response:
    status = status if status in STATUSES else ""
    return page(request, "pos.html", {"pos": dashboard(request).purchase_orders(status=status, page=page_no),
                                      "statuses": STATUSES}, session)


@router.get("/purchase-orders/{number}", response_class=HTMLResponse)
def po_detail(request: Request, number: str, session: Session = Depends(current_session)) -> Response:
    sp = stockpilot(request)
    try:
        po = sp.purchasing.get(number)
    except NotFound as exc:
        return page(request, "not_found.html", {"what": exc.detail}, session, status_code=404)
    suppliers = [s for s in sp.suppliers.list() if s.get("active", True)]
    return page(request, "po.html", {"po": po, "suppliers": suppliers, "receipt_key": secrets.token_urlsafe(12),
                                     "locations": sp.catalog.list_locations(),
                                     "documents": PODocuments(sp.ctx).sent(number),
                                     "today": sp.ctx.clock.now().date()}, session)


@router.get("/purchase-orders/{number}/documents/r{revision}-{kind}.pdf")
def po_pdf(request: Request, number: str, revision: int, kind: str,
           session: Session = Depends(current_session)) -> Response:
    """The PDF of a document the supplier was sent (the email attachment, byte for byte)."""
    try:
        name, data = PODocuments(stockpilot(request).ctx).pdf(number, revision, kind)
    except NotFound as exc:
        return PlainTextResponse(exc.detail, status_code=404)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "private"})


def _quantities(form: Form, *, skip_blank: bool) -> dict[str, int]:
    """qty:<SKU> fields as positive integers; a blank (or 0 when receiving) is "not this line"."""
    out: dict[str, int] = {}
    for name, values in form.fields.items():
        if not name.startswith("qty:"):
            continue
        text = values[0].strip()
        if skip_blank and text in ("", "0"):
            continue
        if not text.isdigit() or int(text) <= 0:
            raise _FormError(f"{name[4:]}: quantity must be a whole number above 0, got {text or 'nothing'!r}")
        out[name[4:]] = int(text)
    return out


class _FormError(Exception):
    pass


def _changed(po: dict[str, Any], quantities: dict[str, int]) -> dict[str, int]:
    current = {line["sku"]: line["quantity"] for line in po["lines"]}
    return {sku: q for sku, q in quantities.items() if current.get(sku) != q}


def _act(request: Request, number: str, action: str, form: Form) -> Response:
    sp = stockpilot(request)
    by = form.session.who or None
    back = f"/purchase-orders/{quote(number)}"
    try:
        if action in ("approve", "edit"):
            po = sp.purchasing.get(number)
            quantities = _changed(po, _quantities(form, skip_blank=False)) or None
            supplier = form.one("supplier") or None
            if supplier == po["supplier"]:
                supplier = None
            if action == "approve":
                result = sp.purchasing.approve(number, supplier=supplier, quantities=quantities,
                                               note=form.one("note") or None, by=by)
                return redirect(request, back, ok=f"{result['number']} approved and sent to {result['supplier']}.")
            if not quantities and not supplier:
                return redirect(request, back, ok="Nothing changed.")
            sp.purchasing.edit(number, supplier=supplier, quantities=quantities, by=by)
            return redirect(request, back, ok="Draft saved.")
        if action == "reject":
            result = sp.purchasing.reject(number, form.one("reason"), by=by)
            return redirect(request, back, ok=f"{result['number']} rejected.")
        quantities = _quantities(form, skip_blank=True)
        extra_sku, extra_qty = form.one("extra_sku").upper(), form.one("extra_qty")
        if extra_sku:
            if not extra_qty.isdigit() or int(extra_qty) <= 0:
                raise _FormError(f"{extra_sku}: quantity must be a whole number above 0")
            quantities[extra_sku] = quantities.get(extra_sku, 0) + int(extra_qty)
        if not quantities:
            raise _FormError("Enter the quantity received for at least one line.")
        result = sp.purchasing.receive(number, quantities, idempotency_key=f"web:{form.one('key')}",
                                       location=form.one("location") or None)
        received = ", ".join(f"{q} x {s}" for s, q in sorted(quantities.items()))
        return redirect(request, back, ok=("That receipt was already recorded." if result["replayed"] else
                                           f"Received {received}; {result['number']} is now "
                                           f"{result['status'].replace('_', ' ')}."))
    except (StockpilotError, _FormError) as exc:
        return redirect(request, back, error=getattr(exc, "detail", None) or str(exc))


@router.post("/purchase-orders/{number}/approve")
def approve(request: Request, number: str, form: Form = Depends(posted_form)) -> Response:
    return _act(request, number, "approve", form)


@router.post("/purchase-orders/{number}/edit")
def edit(request: Request, number: str, form: Form = Depends(posted_form)) -> Response:
    return _act(request, number, "edit", form)


@router.post("/purchase-orders/{number}/reject")
def reject(request: Request, number: str, form: Form = Depends(posted_form)) -> Response:
    return _act(request, number, "reject", form)


@router.post("/purchase-orders/{number}/receive")
def receive(request: Request, number: str, form: Form = Depends(posted_form)) -> Response:
    return _act(request, number, "receive", form)
