"""Read-only pages: overview (and its live fragments), inventory, a SKU, suppliers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from stockpilot.domain.errors import NotFound
from stockpilot.entrypoints.web.charts import demand_chart, stock_chart
from stockpilot.entrypoints.web.guard import current_session, stockpilot
from stockpilot.entrypoints.web.render import page, templates
from stockpilot.entrypoints.web.session import Session
from stockpilot.services.dashboard import DashboardService

router = APIRouter(include_in_schema=False)
LIVE_SECTIONS = ("counters", "at_risk", "oversold", "decisions", "alerts")


def dashboard(request: Request) -> DashboardService:
    sp = stockpilot(request)
    return DashboardService(sp.ctx, sp.plan)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, session: Session = Depends(current_session)) -> Response:
    return page(request, "overview.html", {"o": dashboard(request).overview()}, session)


@router.get("/live/overview")
def live_overview(request: Request, session: Session = Depends(current_session)) -> JSONResponse:
    """The overview's sections, rendered by the same macros as the page: the poller swaps them in place."""
    o = dashboard(request).overview()
    module = templates.env.get_template("_overview.html").make_module({"o": o})
    return JSONResponse({"at": o["now"].isoformat(), "sections": {name: str(getattr(module, name)())
                                                                  for name in LIVE_SECTIONS}},
                        headers={"Cache-Control": "no-store"})


@router.get("/inventory", response_class=HTMLResponse)
def inventory(request: Request, q: str = "", sort: str = "sku", direction: str = Query("asc", alias="dir"),
              page_no: int = Query(1, alias="page"), location: str = "",
              session: Session = Depends(current_session)) -> Response:
    data = dashboard(request).inventory(query=q, sort=sort, descending=direction == "desc", page=page_no,
                                        location=location)
    return page(request, "inventory.html", {"inv": data}, session)


@router.get("/inventory/{sku}", response_class=HTMLResponse)
def sku_page(request: Request, sku: str, before: int | None = None,
             session: Session = Depends(current_session)) -> Response:
    try:
        data = dashboard(request).sku(sku, before=before)
    except NotFound as exc:
        return page(request, "not_found.html", {"what": exc.detail}, session, status_code=404)
    forecast, history = data["forecast"] or {}, data["history"]
    charts = []
    if history is not None:
        charts = [stock_chart(history, reorder_point=forecast.get("reorder_point"),
                              safety_stock=forecast.get("safety_stock")),
                  demand_chart(history, mean_daily=forecast.get("mean_daily") or 0.0)]
    today = stockpilot(request).ctx.clock.now().date()
    return page(request, "sku.html", {**data, "charts": charts, "today": today}, session)


@router.get("/suppliers", response_class=HTMLResponse)
def suppliers(request: Request, session: Session = Depends(current_session)) -> Response:
    return page(request, "suppliers.html", {"suppliers": stockpilot(request).suppliers.list()}, session)
