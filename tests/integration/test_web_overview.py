"""The overview on each database: the at-risk list read from candidates only (the same answer as the full view,
boundaries included), staff alerts of the last 24 h from the decision log, and outbox health from index ranges."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select, update

from stockpilot.adapters.db import at_risk_store, demand_store
from stockpilot.adapters.db.tables import outbox, sku_policies, skus
from stockpilot.runtime import decisions
from stockpilot.runtime import outbox as box
from stockpilot.services.dashboard import DashboardService
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime
from tests.integration.web_helpers import (  # noqa: F401 (fixtures by name: app, web, signed_in)
    app_fixture,
    signed_in_fixture,
    web_fixture,
)


def _set_demand(app, clock, demand: dict[str, float]) -> None:
    def work(conn):
        ids = dict(conn.execute(select(skus.c.sku, skus.c.id)).all())
        conn.execute(insert(sku_policies), [{"sku_id": ids[s], "policy": "stockpilot", "mean_daily": d,
                                             "updated_at": clock.now()} for s, d in demand.items()])
    app.db.write(work)


def test_the_at_risk_view_from_candidates_equals_the_full_view(app, clock):
    rng = random.Random(7)
    demand: dict[str, float] = {}
    # Boundaries first: exactly 7 days of cover (not at risk), just under, none, oversold, no demand.
    for sku, on_hand, mean in (("EDGE-7", 7, 1.0), ("EDGE-6.99", 7, 1.0 + 1e-9), ("ZERO", 0, 0.0),
                               ("IDLE", 5, 0.0), ("THIRD", 7, 1 / 3), ("THIRD-UNDER", 2, 1 / 3)):
        stock(app, sku, {"WH": on_hand})
        demand[sku] = mean
    stock(app, "SHORT", {"WH": 1}, backorder_policy="allow")
    app.orders.place("SO-1", [line("SHORT", 4)])
    demand["SHORT"] = 0.5
    for n in range(120):
        sku = f"R{n:03d}"
        stock(app, sku, {"WH": rng.randint(0, 40)})
        if rng.random() < 0.8:
            demand[sku] = round(rng.uniform(0, 8), 3)
    _set_demand(app, clock, {s: d for s, d in demand.items()})
    full = [r for r in app.plan.view(horizon_days=7, at_risk_only=False, limit=None) if r["at_risk"]]
    fast = app.plan.view(horizon_days=7, at_risk_only=True, limit=None)
    assert fast == full and len(fast) > 10
    names = {r["sku"] for r in fast}
    assert {"ZERO", "SHORT", "EDGE-6.99", "THIRD-UNDER"} <= names and not {"EDGE-7", "IDLE", "THIRD"} & names
    with app.db.read() as conn:  # and it read far fewer SKU rows than exist
        assert len(at_risk_store.at_risk_candidates(conn, 7)) < len(demand_store.sku_index(conn)) / 2


def test_the_overview_poll_never_reads_every_sku(app, signed_in, clock, monkeypatch):
    for n in range(200):
        stock(app, f"OK{n:03d}", {"WH": 100})
    stock(app, "LOW", {"WH": 2})
    _set_demand(app, clock, {**{f"OK{n:03d}": 1.0 for n in range(200)}, "LOW": 1.0})
    read: list[int] = []
    candidates = at_risk_store.at_risk_candidates

    def counted(conn, horizon):
        rows = candidates(conn, horizon)
        read.append(len(rows))
        return rows

    def whole_table(conn, sku=None):
        assert sku is not None, "the overview read every SKU"
        return demand_store.sku_index.__wrapped__(conn, sku)

    monkeypatch.setattr("stockpilot.services.plan.at_risk_candidates", counted)
    whole_table.__wrapped__ = demand_store.sku_index  # type: ignore[attr-defined]
    monkeypatch.setattr("stockpilot.services.plan.demand_store.sku_index", whole_table)
    live = signed_in.get("/live/overview").json()
    assert 'data-sku="LOW"' in live["sections"]["at_risk"]
    assert signed_in.get("/").status_code == 200
    assert read == [1, 1]  # one candidate per poll, of 201 SKUs


def test_alerts_of_the_last_24_hours_and_outbox_health(app, signed_in, clock):
    stock(app, "MUG", {"WH": 1}, backorder_policy="allow")
    app.orders.place("SO-1", [line("MUG", 3)])  # an oversell: the staff_alerts consumer decides about it
    Runtime.build(app).settle()

    def old_alert(conn):
        decisions.record(conn, "TEE", "staff_alert", {"kind": "low_stock"}, [], None, "long ago",
                         clock.now() - timedelta(hours=25))
        ids = [box.enqueue(conn, "nobody.listens", {}, f"k{n}", clock.now()) for n in range(3)]
        conn.execute(update(outbox).where(outbox.c.id == ids[0]).values(status="dead"))
        conn.execute(update(outbox).where(outbox.c.id == ids[1]).values(attempts=2))
    app.db.write(old_alert)
    o = DashboardService(app.ctx, app.plan).overview()
    assert [(a["subject"], a["kind"], a["href"]) for a in o["alerts"]] == [("MUG", "oversell", "/inventory/MUG")]
    assert o["alert_count"] == 1 and o["alerts"][0]["outcome"] == "nobody told"  # no route configured
    with app.db.read() as conn:
        full = box.stats(conn, clock.now())
    q = o["outbox"]
    assert (q["dead"], q["depth"], q["due"]) == (full.counts["dead"], full.depth, full.due) and q["dead"] == 1
    assert q["failing"] == 1
    shown = signed_in.get("/live/overview").json()["sections"]["alerts"]
    assert 'data-alert="oversell"' in shown and "TEE" not in shown
    assert 'data-counter="outbox_dead">1<' in signed_in.get("/live/overview").json()["sections"]["counters"]
