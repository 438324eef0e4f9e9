"""Read models of the operations dashboard: each page's figures in one call, from the services and stores that own
them (plan view, purchasing, suppliers, outbox, decision log). Reading only; actions go through the use cases."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from stockpilot.adapters.db import dashboard_store, supplier_store
from stockpilot.adapters.db.catalog_store import levels_by_location, list_locations, sku_row
from stockpilot.domain.errors import NotFound
from stockpilot.domain.purchasing import POStatus
from stockpilot.runtime import outbox
from stockpilot.services.catalog import describe_sku
from stockpilot.services.channel_ats import channel_ats
from stockpilot.services.context import Context
from stockpilot.services.plan import PlanService
from stockpilot.services.planning import SETTING_FIELDS, policy_row
from stockpilot.services.purchase_orders import summarise
from stockpilot.services.sku_history import daily_history

RISK_DAYS = 7
PAGE_SIZE = 50
ALERT_DECISION = "staff_alert"  # services/staff_alerts.py writes one per alert, summary and digest


def staff_alert_row(d: dict[str, Any]) -> dict[str, Any]:
    """A staff_alert decision as the overview shows it: what, about what, and what became of it."""
    choice = d.get("choice") if isinstance(d.get("choice"), dict) else {}
    inputs = d.get("inputs") if isinstance(d.get("inputs"), dict) else {}
    outcome = choice.get("outcome") or ("summary" if "window_no" in inputs else
                                        "digest sent" if "waiting" in inputs else "nobody told")
    subject, kind = d["subject"], inputs.get("kind") or "digest"
    href = {"oversell": f"/inventory/{quote(subject)}", "low_stock": f"/inventory/{quote(subject)}",
            "escalation": f"/purchase-orders/{quote(subject)}", "po_failed": f"/purchase-orders/{quote(subject)}",
            "delivery_dead": "/automations#outbox"}.get(kind)
    return {"at": d["created_at"], "subject": subject, "href": href, "kind": kind, "outcome": outcome,
            "reason": d["reason"]}


class DashboardService:
    def __init__(self, ctx: Context, plan: PlanService) -> None:
        self.ctx = ctx
        self.plan = plan

    def overview(self) -> dict[str, Any]:
        """Cheap enough for a 5-second poll at 50,000 SKUs: the at-risk view reads only candidate SKUs, alerts and
        outbox health are index ranges (bench/dashboard_overview.py measures it)."""
        now = self.ctx.clock.now()
        at_risk = self.plan.view(horizon_days=RISK_DAYS, at_risk_only=True, limit=None)
        with self.ctx.db.read() as conn:
            oversold = dashboard_store.oversold_skus(conn)
            review = dashboard_store.count_pos(conn, POStatus.NEEDS_REVIEW.value)
            queue = dashboard_store.outbox_health(conn, now)
            recent = dashboard_store.recent_decisions(conn, limit=8)
            alerts, alert_count = dashboard_store.recent_decisions_of_kind(conn, ALERT_DECISION,
                                                                           now - timedelta(hours=24), 10)
        return {
            "now": now, "at_risk": at_risk[:25], "at_risk_count": len(at_risk), "oversold": oversold,
            "review_count": review, "outbox": queue, "decisions": recent,
            "alerts": [staff_alert_row(a) for a in alerts], "alert_count": alert_count,
        }

    def counters(self) -> dict[str, Any]:
        """The overview's headline numbers (the live poll compares these)."""
        o = self.overview()
        return {"at_risk": o["at_risk_count"], "oversold": len(o["oversold"]), "review": o["review_count"],
                "outbox_dead": o["outbox"]["dead"], "outbox_due": o["outbox"]["due"], "alerts": o["alert_count"]}

    def inventory(self, *, query: str = "", sort: str = "sku", descending: bool = False, page: int = 1,
                  location: str = "") -> dict[str, Any]:
        page = max(1, page)
        sort = sort if sort in dashboard_store.SKU_SORTS else "sku"
        with self.ctx.db.read() as conn:
            places = [loc["code"] for loc in list_locations(conn)]
            location = location if location in places else ""
            rows, total = dashboard_store.search_skus(conn, query=query.strip(), sort=sort, descending=descending,
                                                      offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
                                                      location=location or None)
            channels, ats = channel_ats(conn, [r["id"] for r in rows])
        for r in rows:
            r["ats"] = ats.get(r["id"], {})
        pages = max(1, math.ceil(total / PAGE_SIZE))
        return {"rows": rows, "total": total, "page": min(page, pages), "pages": pages, "query": query.strip(),
                "sort": sort, "descending": descending, "location": location, "locations": places,
                "channels": channels}

    def sku(self, sku: str, *, before: int | None = None) -> dict[str, Any]:
        forecast = next(iter(self.plan.view(horizon_days=RISK_DAYS, sku=sku, limit=1)), None)
        today = self.ctx.clock.now().date()
        with self.ctx.db.read() as conn:
            row = sku_row(conn, sku)
            if row is None:
                raise NotFound(f"unknown SKU {sku!r}")
            described = describe_sku(row, levels_by_location(conn, row["id"]))
            history = daily_history(conn, sku, today, mean_daily=forecast["mean_daily"] if forecast else 0.0,
                                    open_pos=forecast["open_pos"] if forecast else [])
            ledger = dashboard_store.latest_movements(conn, row["id"], before=before, limit=PAGE_SIZE)
            log = dashboard_store.recent_decisions(conn, subject=sku, limit=30)
            offers = supplier_store.offers_for_sku(conn, row["id"])
            pos, _ = dashboard_store.latest_pos_for_sku(conn, row["id"], limit=20)
            settings = {k: v for k, v in policy_row(conn, row["id"]).items() if k in SETTING_FIELDS}
            channels, ats = channel_ats(conn, [row["id"]])
        return {"sku": described, "settings": settings, "channels": channels, "ats": ats.get(row["id"], {}),
                "default_service_level": self.ctx.settings.service_level,
                "default_cover_days": self.ctx.settings.target_cover_days, "forecast": forecast, "history": history,
                "ledger": ledger,
                "ledger_next": ledger[-1]["id"] if len(ledger) == PAGE_SIZE else None, "decisions": log,
                "offers": offers, "purchase_orders": [summarise(p) for p in pos]}

    def purchase_orders(self, *, status: str | None, page: int = 1) -> dict[str, Any]:
        page = max(1, page)
        with self.ctx.db.read() as conn:
            rows, total = dashboard_store.latest_pos(conn, status=status or None, offset=(page - 1) * PAGE_SIZE,
                                                     limit=PAGE_SIZE)
            counts = dashboard_store.po_counts(conn)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        return {"rows": [summarise(r) for r in rows], "total": total, "page": min(page, pages), "pages": pages,
                "status": status or "", "counts": counts}

    def automations(self, *, subject: str | None, before: int | None) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            log = dashboard_store.recent_decisions(conn, subject=subject or None, before=before, limit=PAGE_SIZE)
            dead = outbox.list_by_status(conn, outbox.DEAD, limit=200)
            failing = dashboard_store.failing_outbox(conn, limit=200)
            queue = outbox.stats(conn, self.ctx.clock.now())
        return {"decisions": log, "next": log[-1]["id"] if len(log) == PAGE_SIZE else None,
                "subject": subject or "", "dead": dead, "failing": failing, "outbox": asdict(queue)}
