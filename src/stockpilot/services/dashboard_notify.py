"""Read models of the dashboard's customer-facing automations: back-in-stock waitlists per SKU (waiting, told, last
wave) and ads (ad sets, which Stockpilot paused, spend saved). Reading only."""

from __future__ import annotations

from typing import Any

from stockpilot.adapters.db import dashboard_notify_store as store
from stockpilot.domain.ads import money, spend_saved_micros
from stockpilot.services.ads import AdsService
from stockpilot.services.context import Context

WAITLIST_ROWS = 200


class NotifyDashboard:
    def __init__(self, ctx: Context, ads: AdsService) -> None:
        self.ctx = ctx
        self.ads_service = ads

    def waitlists(self) -> dict[str, Any]:
        settings = self.ctx.settings
        with self.ctx.db.read() as conn:
            rows = store.waitlists(conn, WAITLIST_ROWS + 1)
        totals = {k: sum(int(r[k] or 0) for r in rows) for k in ("waiting", "notified", "unconfirmed",
                                                                  "unsubscribed")}
        return {"rows": rows[:WAITLIST_ROWS], "more": len(rows) > WAITLIST_ROWS, "totals": totals,
                "rules": {"over_notify": settings.waitlist_over_notify, "wave_minutes": settings.waitlist_wave_minutes,
                          "cap": settings.waitlist_cap_messages, "cap_days": settings.waitlist_cap_days,
                          "quiet_hours": settings.waitlist_quiet_hours,
                          "double_opt_in": settings.waitlist_double_opt_in}}

    def ads(self) -> dict[str, Any]:
        now = self.ctx.clock.now()
        sets = self.ads_service.list()
        with self.ctx.db.read() as conn:
            figures = store.pause_figures(conn)
        rows = []
        total = 0
        known = False
        for ad_set in sets:
            f = figures.get((ad_set["platform"], ad_set["ad_set_id"]), {})
            saved = f.get("saved_micros")
            running = (spend_saved_micros(f.get("open_daily_micros"), now - f["open_paused_at"])
                       if f.get("open_paused_at") else None)  # the pause still on, estimated to now
            micros = None if saved is None and running is None else (saved or 0) + (running or 0)
            if micros is not None:
                total, known = total + micros, True
            rows.append({**ad_set, "paused_by_us": int(f.get("paused_by_us") or 0),
                         "left_to_people": int(f.get("left_to_people") or 0),
                         "spend_saved": money(micros) if micros is not None else None,
                         "saving_now": running is not None})
        states = {s: sum(1 for r in rows if r["state"] == s) for s in ("running", "pausing", "paused", "resuming",
                                                                        "left")}
        return {"rows": rows, "states": states, "spend_saved": money(total) if known else None,
                "rules": {"threshold": self.ctx.settings.ads_resume_threshold,
                          "hold_minutes": self.ctx.settings.ads_resume_hold_minutes}}
