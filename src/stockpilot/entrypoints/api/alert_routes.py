"""Staff alert settings reachable over /api/v1: the tags of a SKU, which alert routes can match."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from stockpilot.bootstrap import Stockpilot
from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.schemas import Strict

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_token)])


class TagsIn(Strict):
    tags: list[str] = Field(max_length=50)


def _app(request: Request) -> Stockpilot:
    return request.app.state.stockpilot


@router.put("/skus/{sku}/tags")
def set_tags(sku: str, body: TagsIn, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).alerts.set_tags(sku, body.tags))


@router.get("/skus/{sku}/tags")
def get_tags(sku: str, request: Request) -> JSONResponse:
    return JSONResponse(_app(request).alerts.tags(sku))
