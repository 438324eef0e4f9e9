"""App factory for `uvicorn --factory` (multi-worker serving): everything from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from stockpilot.bootstrap import build
from stockpilot.entrypoints.api.app import create_app


def create_from_env() -> FastAPI:
    return create_app(build(migrate=False))
