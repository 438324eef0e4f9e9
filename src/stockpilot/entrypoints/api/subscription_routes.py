"""Webhook subscription health over HTTP (services/channel_subscriptions.py): what was last found on the platform,
and a check that repairs now (re-enables a disabled hook, re-creates a deleted one), as `stockpilot channel
subscriptions NAME [--check]` does.

GET  /api/v1/channels/{name}/subscriptions        -> {"items": [{topic, address, platform_id, status, detail,
                                                      checked_at}]}
POST /api/v1/channels/{name}/subscriptions/check  -> {"checked": [{topic, platform_id, status, action, detail}],
                                                      "items": [...as GET, after the check]}
Unknown channel 404; a channel kind without subscriptions, or without API credentials, 422 with the reason; the
platform unreachable or failing 502 `channel_unreachable` (refused credentials are a recorded `failed` outcome, 200).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from stockpilot.bootstrap import Stockpilot
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.errors import error_response
from stockpilot.services.channel_subscriptions import ChannelSubscriptions

router = APIRouter(prefix="/api/v1/channels", dependencies=[Depends(require_token)], tags=["channels"])


def _service(request: Request) -> ChannelSubscriptions:
    sp: Stockpilot = request.app.state.stockpilot
    return ChannelSubscriptions(sp.ctx)


@router.get("/{name}/subscriptions")
def channel_subscriptions(name: str, request: Request) -> JSONResponse:
    return JSONResponse({"items": [_row(r) for r in _service(request).list(name)]})


@router.post("/{name}/subscriptions/check")
async def check_channel_subscriptions(name: str, request: Request) -> JSONResponse:
    service = _service(request)
    try:  # the platform's API is called: unreachable or failing is its own answer, never a 500
        checked = await run_in_threadpool(service.check, name)
    except (httpx.HTTPError, OSError) as exc:
        return error_response(502, "channel_unreachable", f"{name}: {type(exc).__name__}: {exc}")
    return JSONResponse({"checked": checked, "items": [_row(r) for r in service.list(name)]})


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()
            if k not in ("id", "channel_id")}
