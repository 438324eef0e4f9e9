"""Ads under /api/v1/ads: map SKUs to ad sets (Meta) / ad groups (Google), see states and pause history."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from stockpilot.entrypoints.api.auth import require_token
from stockpilot.entrypoints.api.schemas import Strict

router = APIRouter(prefix="/api/v1/ads", dependencies=[Depends(require_token)])


class MappingIn(Strict):
    platform: Literal["meta", "google"]
    ad_set_id: str = Field(min_length=1, max_length=64, description="Meta ad set id or Google ad group id")
    account: str | None = Field(default=None, max_length=32, description="Google: the customer id")
    skus: list[str] = Field(min_length=1, max_length=500)


@router.post("/mappings")
def map_skus(body: MappingIn, request: Request) -> JSONResponse:
    ads = request.app.state.stockpilot.ads
    return JSONResponse(ads.map(body.platform, body.ad_set_id, body.skus, account=body.account))


@router.delete("/mappings")
def unmap_skus(body: MappingIn, request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.stockpilot.ads.unmap(body.platform, body.ad_set_id, body.skus))


@router.get("")
def ad_sets(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.stockpilot.ads.list())


@router.get("/{platform}/{ad_set_id}")
def ad_set(platform: Literal["meta", "google"], ad_set_id: str, request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.stockpilot.ads.get(platform, ad_set_id))
