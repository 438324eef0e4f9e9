"""Customer-facing automations on the dashboard: back-in-stock waitlists and ads (read-only pages)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from stockpilot.entrypoints.web.guard import current_session, stockpilot
from stockpilot.entrypoints.web.render import page
from stockpilot.entrypoints.web.session import Session
from stockpilot.services.dashboard_notify import NotifyDashboard

router = APIRouter(include_in_schema=False)


def _dashboard(request: Request) -> NotifyDashboard:
    sp = stockpilot(request)
    return NotifyDashboard(sp.ctx, sp.ads)


@router.get("/waitlists", response_class=HTMLResponse)
def waitlists(request: Request, session: Session = Depends(current_session)) -> Response:
    return page(request, "waitlists.html", {"w": _dashboard(request).waitlists()}, session)


@router.get("/ads", response_class=HTMLResponse)
def ads(request: Request, session: Session = Depends(current_session)) -> Response:
    return page(request, "ads.html", {"a": _dashboard(request).ads()}, session)
