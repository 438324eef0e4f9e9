"""Outbound pushes over HTTP: which locations feed a channel, and its drift (reconciliation)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from stockpilot.adapters.channels.push import PushRejected, PushThrottled
from stockpilot.bootstrap import Stockpilot
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.errors import error_response
from stockpilot.entrypoints.api.schemas import Strict

router = APIRouter(prefix="/api/v1/channels", dependencies=[Depends(require_token)], tags=["channels"])


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


class ChannelLocationIn(Strict):
    external_id: str | None = Field(default=None, min_length=1, max_length=255)


@router.get("/{name}/locations")
def channel_locations(name: str, request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).channel_locations.list(name)})


@router.put("/{name}/locations/{location}")
def map_channel_location(name: str, location: str, body: ChannelLocationIn, request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).channel_locations.map(name, location, body.external_id)})


@router.delete("/{name}/locations/{location}")
def unmap_channel_location(name: str, location: str, request: Request) -> JSONResponse:
    return JSONResponse({"items": _app(request).channel_locations.unmap(name, location)})


@router.get("/{name}/drift")
async def channel_drift(name: str, request: Request) -> JSONResponse:
    """Per SKU and channel item: Stockpilot's available-to-sell, the channel's count (read through its API now)."""
    return await _reaching(name, lambda: {"items": _app(request).channel_reconcile.drift(name)})


@router.post("/{name}/reconcile")
async def reconcile_channel(name: str, request: Request) -> JSONResponse:
    """Queue pushes of the corrected values for every line that drifted (through the outbox)."""
    return await _reaching(name, lambda: _app(request).channel_reconcile.fix(name))


async def _reaching(name: str, work: object) -> JSONResponse:
    # The channel's API is called: a throttled or unreachable platform is its own answer, never a 500.
    try:
        return JSONResponse(_jsonable(await run_in_threadpool(work)))  # type: ignore[arg-type]
    except PushThrottled as exc:
        return error_response(503, "channel_throttled", str(exc), retry_after=exc.retry_after_seconds)
    except PushRejected as exc:
        return error_response(502, "channel_refused", str(exc))
    except (httpx.HTTPError, OSError, RuntimeError) as exc:  # transport errors, 5xx
        return error_response(502, "channel_unreachable", f"{name}: {type(exc).__name__}: {exc}")


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "sku_id"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
