"""The FastAPI application: routes, error shape, health, metrics, and (optionally) an embedded worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from stockpilot.bootstrap import Stockpilot
from stockpilot.entrypoints.api import (
    ads_routes,
    backorder_routes,
    channel_push_routes,
    channel_routes,
    purchasing_routes,
    subscription_routes,
    waitlist_form,
    waitlist_routes,
)
from stockpilot.entrypoints.api import alert_routes as staff_alert_routes
from stockpilot.entrypoints.api.errors import install_error_handlers
from stockpilot.entrypoints.api.fast_reservations import ReservationFastPath
from stockpilot.entrypoints.api.fast_webhooks import WebhookFastPath
from stockpilot.entrypoints.api.metrics import ApiMetrics
from stockpilot.entrypoints.api.routes import router
from stockpilot.entrypoints.api.signup_limits import SignupLimits
from stockpilot.entrypoints.web.mount import install_dashboard
from stockpilot.entrypoints.worker_process import WorkerProcess
from stockpilot.runtime.handlers import automations
from stockpilot.runtime.metrics import QueueCollector, RuntimeMetrics
from stockpilot.runtime.worker import Worker, WorkerSettings


def create_app(sp: Stockpilot, *, run_worker: bool = True, worker_process: bool = False,
               worker_elsewhere: dict[str, object] | None = None) -> FastAPI:
    """The API; with `run_worker`, a worker (outbox, timers, sweeps) runs for the app's lifetime: as threads in
    this process, or with `worker_process` as a supervised child process (PostgreSQL only; see worker_process.py).
    `worker_elsewhere` is what /healthz reports when another process runs it (`serve --workers N`).
    """
    metrics = ApiMetrics()
    worker: Worker | WorkerProcess | None = None
    if run_worker and worker_process:
        if sp.db.dialect == "sqlite":
            raise ValueError("a worker child process needs PostgreSQL; SQLite runs its worker embedded")
        # The runtime's counters are the child's (appended to /metrics below); the queue gauges are read here.
        metrics.registry.register(QueueCollector(sp.db, sp.ctx.clock))
        worker = WorkerProcess(registry=metrics.registry)
    else:
        runtime_metrics = RuntimeMetrics(metrics.registry)
        runtime_metrics.watch_queue(sp.db, sp.ctx.clock)
        if run_worker:
            worker = Worker(
                sp, **automations(sp).worker_kwargs(),
                settings=WorkerSettings(expiry_sweep_seconds=sp.ctx.settings.expiry_sweep_seconds),
                metrics=runtime_metrics,
            )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if worker:
            worker.start()
        yield
        if worker:
            worker.stop()

    app = FastAPI(
        title="Stockpilot",
        version="0.1.0",
        description="One real-time truth of sellable stock across channels and locations.",
        lifespan=lifespan,
    )
    app.state.stockpilot = sp
    app.state.metrics = metrics
    app.state.waitlist_limits = SignupLimits(sp.ctx.settings)  # waitlist signup abuse limits, in memory
    install_error_handlers(app)
    app.add_middleware(ReservationFastPath)  # POST /api/v1/reservations, the flash-sale request
    app.add_middleware(WebhookFastPath)  # POST /webhooks/*: verified, then batched into one commit
    app.include_router(router)
    app.include_router(purchasing_routes.router)
    app.include_router(purchasing_routes.public)
    app.include_router(waitlist_routes.router)
    app.include_router(waitlist_routes.public)  # GET /unsubscribe/{token}
    app.include_router(staff_alert_routes.router)  # PUT/GET /api/v1/skus/{sku}/tags
    app.include_router(backorder_routes.public)  # GET/POST /backorders/cancel/{token}
    install_dashboard(app)  # the operations dashboard at / (entrypoints/web)
    app.include_router(channel_routes.router)  # channel webhooks and /api/v1/channels
    app.include_router(channel_push_routes.router)  # /api/v1/channels/{name}/locations|drift|reconcile
    app.include_router(subscription_routes.router)  # /api/v1/channels/{name}/subscriptions[/check]
    app.include_router(ads_routes.router)  # /api/v1/ads
    app.include_router(waitlist_form.router)  # GET/POST /waitlist/form, the embeddable form

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> JSONResponse:
        with request.app.state.stockpilot.db.read() as conn:
            conn.execute(text("select 1"))
        placement = worker_elsewhere or _describe(worker)
        return JSONResponse({"status": "ok", "database": sp.db.dialect, "worker": placement})

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        own = generate_latest(metrics.registry)
        if isinstance(worker, WorkerProcess):  # its counters live in the child: one scrape still sees them all
            own += worker.metrics_text().encode()
        return Response(own, media_type=CONTENT_TYPE_LATEST)

    return app


def _describe(worker: Worker | WorkerProcess | None) -> dict[str, object]:
    if isinstance(worker, WorkerProcess):
        return worker.describe()
    return {"mode": "embedded" if worker else "none"}
