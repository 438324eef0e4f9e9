"""The back-in-stock waitlist under /api/v1 (join, staff view) and the public signed unsubscribe and confirmation
links (the embeddable form is waitlist_form.py)."""

from __future__ import annotations

from html import escape
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import StockpilotError
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.schemas import Strict

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])
public = APIRouter()  # reached from a customer's email: the signed token is the credential


class WaitlistIn(Strict):
    sku: str = Field(min_length=1, max_length=128)
    email: str | None = Field(default=None, min_length=3, max_length=254)
    phone: str | None = Field(default=None, min_length=3, max_length=32, description="E.164, e.g. +14155550100")
    timezone: str | None = Field(default=None, max_length=64, description="IANA name, for quiet hours")
    consent: bool


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


@router.post("/waitlist", status_code=201)
def join(body: WaitlistIn, request: Request) -> JSONResponse:
    joined = _app(request).waitlist.join(body.sku, body.email, body.consent, phone=body.phone,
                                         timezone=body.timezone)
    return JSONResponse(joined, status_code=201)


@router.get("/waitlist")
def entries(request: Request, sku: str = Query(min_length=1),
            status: Literal["unconfirmed", "waiting", "notified", "unsubscribed"] | None = None,
            after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse(_app(request).waitlist.list(sku, status=status, after=after, limit=limit))


@public.get("/unsubscribe/{token}", include_in_schema=False)
def unsubscribe(token: str, request: Request) -> HTMLResponse:
    try:
        result = _app(request).waitlist.unsubscribe(token)
    except StockpilotError as exc:
        return HTMLResponse(_page("This link cannot be used", escape(exc.detail)), status_code=400)
    contact = result.get("email") or result.get("phone")
    return HTMLResponse(_page("Unsubscribed", f"{escape(str(contact))} will receive no more back-in-stock "
                                              "messages from us."))


@public.get("/waitlist/confirm/{token}", include_in_schema=False)
def confirm_page(token: str) -> HTMLResponse:
    # A button, not a GET that confirms: mail scanners open links, and must not opt anyone in.
    form = (f"<form method=post action='/waitlist/confirm/{escape(token, quote=True)}'>"
            "<button type=submit style='font:inherit;padding:.5em 1.2em'>Yes, tell me when it is back</button></form>")
    return HTMLResponse(_page("Confirm your request", "Press the button to confirm.", form))


@public.post("/waitlist/confirm/{token}", include_in_schema=False)
def confirm(token: str, request: Request) -> HTMLResponse:
    try:
        entry = _app(request).waitlist.confirm(token)
    except StockpilotError as exc:
        return HTMLResponse(_page("This link cannot be used", escape(exc.detail)), status_code=400)
    return HTMLResponse(_page("Confirmed", f"We will tell you when {escape(entry['sku'])} is back in stock."))


def _page(title: str, text: str, extra: str = "") -> str:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title}</title><body style='font:16px system-ui;max-width:40em;margin:3em auto;color:#1a1a1a'>"
            f"<h1 style='font-size:1.4em'>{title}</h1><p>{text}</p>{extra}</body></html>")
