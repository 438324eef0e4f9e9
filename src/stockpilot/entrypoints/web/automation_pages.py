"""Automations: the decision log (latest first, by subject) and outbox rows that failed, with retry / discard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stockpilot.entrypoints.web.guard import Form, current_session, posted_form, stockpilot
from stockpilot.entrypoints.web.pages import dashboard
from stockpilot.entrypoints.web.render import page, redirect
from stockpilot.entrypoints.web.session import Session
from stockpilot.runtime import outbox

router = APIRouter(include_in_schema=False)


@router.get("/automations", response_class=HTMLResponse)
def automations(request: Request, subject: str = "", before: int | None = None,
                session: Session = Depends(current_session)) -> Response:
    data = dashboard(request).automations(subject=subject.strip(), before=before)
    return page(request, "automations.html", {"a": data}, session)


@router.post("/automations/outbox/{outbox_id}/retry")
def retry(request: Request, outbox_id: int, form: Form = Depends(posted_form)) -> Response:
    sp = stockpilot(request)
    done = sp.db.write(lambda conn: outbox.retry(conn, outbox_id, sp.ctx.clock.now()))
    if not done:
        return redirect(request, "/automations", error=f"Outbox row {outbox_id} is not dead (already retried?).")
    return redirect(request, "/automations", ok=f"Outbox row {outbox_id} will be sent again now.")


@router.post("/automations/outbox/{outbox_id}/discard")
def discard(request: Request, outbox_id: int, form: Form = Depends(posted_form)) -> Response:
    sp = stockpilot(request)
    if not sp.db.write(lambda conn: outbox.discard(conn, outbox_id)):
        return redirect(request, "/automations", error=f"Outbox row {outbox_id} is not dead (already handled?).")
    return redirect(request, "/automations", ok=f"Outbox row {outbox_id} discarded; it will not be sent.")
