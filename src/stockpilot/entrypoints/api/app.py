"""The FastAPI application: routes, error shape, health, metrics and the background expiry sweep."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from stockpilot.bootstrap import Stockpilot
from stockpilot.entrypoints.api.errors import install_error_handlers
from stockpilot.entrypoints.api.metrics import ApiMetrics
from stockpilot.entrypoints.api.routes import router

log = logging.getLogger("stockpilot.api")


class ExpirySweeper:
    """Records expired reservations every few seconds. Correctness never depends on it: a buyer blocked by
    an overdue hold expires it inline. It keeps `reserved` honest for reports and channels."""

    def __init__(self, sp: Stockpilot, metrics: ApiMetrics, interval: float) -> None:
        self.sp, self.metrics, self.interval = sp, metrics, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="expiry-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.metrics.expired.inc(self.sp.reservations.expire_due())
            except Exception:  # keep sweeping; the next pass retries
                log.exception("expiry sweep failed")


def create_app(sp: Stockpilot, *, sweep: bool = True) -> FastAPI:
    metrics = ApiMetrics()
    sweeper = ExpirySweeper(sp, metrics, sp.ctx.settings.expiry_sweep_seconds) if sweep else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if sweeper:
            sweeper.start()
        yield
        if sweeper:
            sweeper.stop()

    app = FastAPI(
        title="Stockpilot",
        version="0.1.0",
        description="One real-time truth of sellable stock across channels and locations.",
        lifespan=lifespan,
    )
    app.state.stockpilot = sp
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        with request.app.state.stockpilot.db.read() as conn:
            conn.execute(text("select 1"))
        return JSONResponse({"status": "ok", "database": sp.db.dialect})

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
