"""One supplier: its scorecard with each figure's basis, lead-time actuals per received PO, its offers, and a form
for its basic details (through SupplierService.update, which validates as the API does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stockpilot.adapters.db import dashboard_store
from stockpilot.domain.errors import NotFound, StockpilotError
from stockpilot.entrypoints.web.guard import Form, current_session, posted_form, stockpilot
from stockpilot.entrypoints.web.render import page, redirect
from stockpilot.entrypoints.web.session import Session
from stockpilot.services.purchase_orders import summarise
from stockpilot.services.suppliers import DELIVERY_METHODS

router = APIRouter(include_in_schema=False)
EDITABLE = ("name", "contact", "phone", "email", "delivery_method", "api_url", "edi_id", "currency")


def _lead_actuals(pos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per received PO: quoted lead time (sent -> ETA) against the actual (sent -> received), in days."""
    out = []
    for p in pos:
        if not (p["sent_at"] and p["received_at"]):
            continue
        sent, received = datetime.fromisoformat(p["sent_at"]), datetime.fromisoformat(p["received_at"])
        quoted = (datetime.fromisoformat(p["eta"]).date() - sent.date()).days if p["eta"] else None
        actual = (received - sent).total_seconds() / 86400
        out.append({**p, "quoted_days": quoted, "actual_days": actual,
                    "late_days": None if quoted is None else (received.date() - sent.date()).days - quoted})
    return out


@router.get("/suppliers/{code}", response_class=HTMLResponse)
def supplier_page(request: Request, code: str, session: Session = Depends(current_session)) -> Response:
    sp = stockpilot(request)
    try:
        supplier = sp.suppliers.get(code)
    except NotFound as exc:
        return page(request, "not_found.html", {"what": exc.detail}, session, status_code=404)
    with sp.db.read() as conn:
        pos = [summarise(r) for r in dashboard_store.latest_pos_of_supplier(conn, code, limit=50)]
    return page(request, "supplier.html", {"s": supplier, "pos": pos, "lead_actuals": _lead_actuals(pos),
                                           "methods": DELIVERY_METHODS}, session)


@router.post("/suppliers/{code}")
def supplier_edit(request: Request, code: str, form: Form = Depends(posted_form)) -> Response:
    sp = stockpilot(request)
    back = f"/suppliers/{quote(code)}"
    try:
        current = sp.suppliers.get(code)
        changes: dict[str, Any] = {k: form.one(k) for k in EDITABLE if form.one(k) and form.one(k) != current.get(k)}
        active = form.one("active") == "on"
        if active != bool(current.get("active")):
            changes["active"] = active
        if not changes:
            return redirect(request, back, ok="Nothing changed.")
        sp.suppliers.update(code, changes)
    except StockpilotError as exc:
        return redirect(request, back, error=exc.detail)
    return redirect(request, back, ok=f"{code} saved: {', '.join(sorted(changes))} changed.")
