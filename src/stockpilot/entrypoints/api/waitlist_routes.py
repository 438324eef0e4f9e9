"""The back-in-stock waitlist under /api/v1 (join, staff view) and the public signed unsubscribe (with RFC 8058
one-click) and confirmation links (the embeddable form is waitlist_form.py)."""

from __future__ import annotations

from html import escape
from typing import Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import StockpilotError
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.schemas import Strict
from stockpilot.entrypoints.api.signup_limits import limits

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


@router.post("/waitlist", status_code=201, responses={429: {"description": "too many signups for the SKU"}})
def join(body: WaitlistIn, request: Request) -> JSONResponse:
    refused = limits(request).sku(body.sku, _app(request).ctx.clock.now().timestamp())
    if refused:
        return JSONResponse({"error": "rate_limited", "detail": refused.reason, "retry_after": refused.retry_after},
                            status_code=429, headers=refused.headers)
    joined = _app(request).waitlist.join(body.sku, body.email, body.consent, phone=body.phone,
                                         timezone=body.timezone)
    return JSONResponse(joined, status_code=201)


@router.get("/waitlist")
def entries(request: Request, sku: str = Query(min_length=1),
            status: Literal["unconfirmed", "waiting", "notified", "unsubscribed"] | None = None,
            after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse(_app(request).waitlist.list(sku, status=status, after=after, limit=limit))


# Unsubscribing: a GET only shows a page with a button (Outlook Safe Links and mail gateways open every link, and
# must not unsubscribe anyone); a POST does it. Messages carry `List-Unsubscribe: <PUBLIC_URL/unsubscribe?token=T>`
# and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): the mailbox provider POSTs
# `List-Unsubscribe=One-Click` to that URL, with no cookies and no confirmation step, and that POST unsubscribes.
# `/unsubscribe/{token}` is the form the first messages carried; it stays, with the same GET/POST rule.
ONE_CLICK = "List-Unsubscribe=One-Click"
_MAX_BODY = 4096
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}


@public.get("/unsubscribe", include_in_schema=False)
def unsubscribe_page(request: Request, token: str = Query("", max_length=2048)) -> HTMLResponse:
    return _unsubscribe_page(request, token)


@public.get("/unsubscribe/{token}", include_in_schema=False)
def unsubscribe_page_by_path(token: str, request: Request) -> HTMLResponse:
    return _unsubscribe_page(request, token)


@public.post("/unsubscribe", include_in_schema=False)
async def unsubscribe(request: Request) -> HTMLResponse:
    return await _unsubscribe(request, request.query_params.get("token"))


@public.post("/unsubscribe/{token}", include_in_schema=False)
async def unsubscribe_by_path(token: str, request: Request) -> HTMLResponse:
    return await _unsubscribe(request, token)


def _unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    try:
        contact = _app(request).waitlist.unsubscribe_target(token)
    except StockpilotError as exc:
        return _html("This link cannot be used", escape(exc.detail), status=400)
    who = escape(str(contact.get("email") or contact.get("phone")))
    form = ("<form method=post action='/unsubscribe'>"
            f"<input type=hidden name=token value='{escape(token, quote=True)}'>"
            "<button type=submit style='font:inherit;padding:.5em 1.2em'>Unsubscribe</button></form>")
    return _html("Stop back-in-stock messages?",
                 f"Press the button and {who} will receive no more back-in-stock messages from us.", form)


async def _unsubscribe(request: Request, token: str | None) -> HTMLResponse:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        return _html("This request cannot be used", "The request body is too large.", status=413)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(raw.decode("utf-8", "replace"))
        token = token or (fields.get("token") or [""])[-1]
    # Any authenticated POST unsubscribes: the one-click body (urlencoded or multipart) only says it is one-click,
    # and the signed token in the URL or the form is the credential.
    if not token:
        return _html("This link cannot be used", "The unsubscribe link has no token.", status=400)
    try:
        result = await run_in_threadpool(_app(request).waitlist.unsubscribe, token)
    except StockpilotError as exc:
        return _html("This link cannot be used", escape(exc.detail), status=400)
    contact = result.get("email") or result.get("phone")
    return _html("Unsubscribed", f"{escape(str(contact))} will receive no more back-in-stock messages from us.")


def _html(title: str, text: str, extra: str = "", *, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_page(title, text, extra), status_code=status, headers=_PRIVATE)


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
