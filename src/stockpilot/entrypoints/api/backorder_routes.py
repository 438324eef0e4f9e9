"""The customer's signed cancel link from a backorder notice: GET asks, POST cancels (no API token: the link is it)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import Conflict, StockpilotError

public = APIRouter()


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


@public.get("/backorders/cancel/{token}", include_in_schema=False)
def confirm(token: str, request: Request) -> HTMLResponse:
    # A GET changes nothing: mail scanners and link previews follow links.
    try:
        order = _app(request).backorders.preview(token)
    except StockpilotError as exc:
        return HTMLResponse(_page("This link cannot be used", escape(exc.detail)), status_code=400)
    reference = escape(order["reference"])
    if order["status"] != "open":
        return HTMLResponse(_page(f"Order {reference}", f"This order is {escape(order['status'])}: there is nothing "
                                                        "to cancel."))
    form = (f"<form method=post><button style='font:inherit;padding:.5em 1em'>Cancel order {reference}</button>"
            "</form>")
    text = f"Your order ({escape(order['items'])}) is on backorder. If you would rather not wait, cancel it here."
    return HTMLResponse(_page(f"Cancel order {reference}?", f"{text}</p>{form}<p>"))


@public.post("/backorders/cancel/{token}", include_in_schema=False)
def cancel(token: str, request: Request) -> HTMLResponse:
    try:
        result = _app(request).backorders.cancel(token)
    except Conflict as exc:
        return HTMLResponse(_page("This order cannot be cancelled", escape(exc.detail)), status_code=409)
    except StockpilotError as exc:
        return HTMLResponse(_page("This link cannot be used", escape(exc.detail)), status_code=400)
    reference = escape(result["reference"])
    if not result["cancelled"]:
        return HTMLResponse(_page(f"Order {reference}", "This order was already cancelled."))
    return HTMLResponse(_page(f"Order {reference} is cancelled", "Your order is cancelled; you will not be charged "
                                                                 "for it."))


def _page(title: str, text: str) -> str:
    return (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
            f"<title>{title}</title><body style='font:16px system-ui;max-width:40em;margin:3em auto;color:#1a1a1a'>"
            f"<h1 style='font-size:1.4em'>{title}</h1><p>{text}</p></body></html>")
