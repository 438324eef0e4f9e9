"""Channel webhooks (public, authenticated by each platform's signature) and the channel registry under /api/v1.

`router` is the one thing the app includes: the webhook endpoints and the token-protected API routes.
"""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import NotFound
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.errors import error_response
from stockpilot.entrypoints.api.schemas import Strict
from stockpilot.services.webhook_intake import MAX_BODY_BYTES, SignatureInvalid

webhooks = APIRouter(tags=["webhooks"])
api = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)], tags=["channels"])
router = APIRouter()

_WOO_PING = re.compile(rb"^webhook_id=\d+$")


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


class _TooLarge(Exception):
    pass


async def _raw_body(request: Request) -> bytes:
    """The exact bytes the platform signed, refused past MAX_BODY_BYTES without reading the rest."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _receive(request: Request, kind: str, name: str | None) -> JSONResponse:
    try:
        body = await _raw_body(request)
    except _TooLarge:
        return error_response(413, "payload_too_large", f"webhook bodies are limited to {MAX_BODY_BYTES} bytes")
    headers = {key.lower(): value for key, value in request.headers.items()}
    if kind == "woocommerce" and "x-wc-webhook-signature" not in headers and _WOO_PING.match(body.strip()):
        # WooCommerce pings a new hook's URL (form body `webhook_id=N`, unsigned); answering 200 lets it be saved.
        return JSONResponse({"status": "pong"})
    try:
        accepted = await run_in_threadpool(_app(request).webhook_intake.receive, kind, name, headers, body)
    except NotFound as exc:
        return error_response(404, "not_found", exc.detail)
    except SignatureInvalid as exc:
        return error_response(401, exc.code, exc.detail)
    return JSONResponse({"status": "accepted", "delivery": accepted.delivery_id, "duplicate": accepted.duplicate})


@webhooks.post("/webhooks/shopify")
async def shopify_webhook(request: Request) -> JSONResponse:
    """Shopify: the store is `X-Shopify-Shop-Domain`; `X-Shopify-Hmac-Sha256` signs the raw body."""
    return await _receive(request, "shopify", None)


@webhooks.post("/webhooks/woocommerce")
async def woocommerce_webhook(request: Request) -> JSONResponse:
    """WooCommerce, the store found by `X-WC-Webhook-Source` (its site URL)."""
    return await _receive(request, "woocommerce", None)


@webhooks.post("/webhooks/woocommerce/{name}")
async def woocommerce_named_webhook(name: str, request: Request) -> JSONResponse:
    return await _receive(request, "woocommerce", name)


@webhooks.post("/webhooks/bigcommerce")
async def bigcommerce_webhook(request: Request) -> JSONResponse:
    """BigCommerce, the store found by the payload's `producer` (`stores/{store_hash}`)."""
    return await _receive(request, "bigcommerce", None)


@webhooks.post("/webhooks/bigcommerce/{name}")
async def bigcommerce_named_webhook(name: str, request: Request) -> JSONResponse:
    return await _receive(request, "bigcommerce", name)


@webhooks.post("/webhooks/standard/{name}")
async def standard_webhook(name: str, request: Request) -> JSONResponse:
    """Any signer of Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,...`)."""
    return await _receive(request, "standard", name)


class ChannelIn(Strict):
    kind: Literal["shopify", "woocommerce", "bigcommerce", "standard", "amazon"]
    name: str = Field(min_length=1, max_length=64)
    secret: str = Field(min_length=1, max_length=500)
    shop_domain: str | None = None
    site_url: str | None = None
    store_hash: str | None = None
    api_url: str | None = None
    api_token: str | None = None
    buffer: int = Field(default=0, ge=0)
    buffer_percent: int = Field(default=0, ge=0, le=100)  # outbound: hold back P% of available (the larger wins)
    location: str | None = None
    # Amazon (secret = the LWA client secret, api_token = the refresh token, api_url = the SP-API endpoint)
    seller_id: str | None = None
    marketplace_id: str | None = None
    lwa_client_id: str | None = None
    lwa_url: str | None = None
    poll_seconds: int | None = Field(default=None, ge=1)


AMAZON_FIELDS = ("seller_id", "marketplace_id", "lwa_client_id", "lwa_url", "poll_seconds")


@api.post("/channels", status_code=201)
def add_channel(body: ChannelIn, request: Request) -> JSONResponse:
    fields = body.model_dump(exclude={"kind", "name", *AMAZON_FIELDS})
    amazon = {k: getattr(body, k) for k in AMAZON_FIELDS if getattr(body, k) is not None}
    added = _app(request).channels.add(body.kind, body.name, **fields, amazon=amazon or None)
    return JSONResponse(added, status_code=201)


@api.get("/channels")
def list_channels(request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).channels.list()})


@api.get("/channels/{name}")
def get_channel(name: str, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).channels.get(name))


@api.get("/webhook-deliveries")
def list_deliveries(request: Request, status: str | None = None, channel: str | None = None,
                    after: int = 0, limit: int = Query(100, ge=1, le=500)) -> JSONResponse:
    items = _app(request).webhooks.list(status=status, channel=channel, after=after, limit=limit)
    return JSONResponse({"items": items, "next": items[-1]["id"] if len(items) == limit else None})


@api.get("/webhook-deliveries/{delivery_id}")
def get_delivery(delivery_id: int, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).webhooks.get(delivery_id))


@api.post("/webhook-deliveries/{delivery_id}/retry")
def retry_delivery(delivery_id: int, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).webhooks.retry(delivery_id))


router.include_router(webhooks)
router.include_router(api)
