"""Planning on each database: the demand matrix from imported history and orders, recompute, the forecast view."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from stockpilot.adapters.db import demand_store
from stockpilot.bootstrap import build
from stockpilot.config import Settings
from stockpilot.domain.errors import NotFound, ValidationFailed
from stockpilot.services.history_import import HistoryImport
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime


def write(tmp_path, text, name="history.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_demand_matrix_adds_imported_days_and_orders_and_marks_unobserved_days(sp, clock, tmp_path):
    clock.set(clock.now().replace(year=2026, month=3, day=1))
    stock(sp, "TEE", {"WH": 100})
    stock(sp, "NEW", {"WH": 10})
    report = HistoryImport(sp.ctx).import_file(write(tmp_path, "sku,date,units\nTEE,2026-02-20,3\n"
                                                               "TEE,2026-02-20,2\nTEE,2026-02-27,4\n"))
    assert report.errors == [] and report.days_imported == 2
    clock.advance(days=2)  # 2026-03-03
    sp.orders.place("SO-1", [line("TEE", 6)])
    cancelled = sp.orders.place("SO-2", [line("TEE", 5)])[0]
    sp.orders.cancel(cancelled["id"])
    sp.orders.place("SO-3", [line("NEW", 1)])
    clock.advance(days=1)
    with sp.db.read() as conn:
        rows = demand_store.sku_index(conn)
        m = demand_store.daily_matrix(conn, rows, date(2026, 3, 4), 20)
    tee, new = m[0], m[1]
    # day 0 = 2026-02-12: TEE observed from its first imported day (02-20), NEW from its creation (03-01)
    assert np.isnan(tee[:8]).all() and not np.isnan(tee[8:]).any()
    assert tee[8] == 5 and tee[15] == 4 and tee[19] == 6  # the cancelled order is no demand
    assert np.isnan(new[:17]).all() and new[19] == 1 and np.nansum(new) == 1


def test_history_import_names_line_and_column_and_imports_nothing_on_error(sp, tmp_path):
    stock(sp, "TEE", {"WH": 1})
    bad = write(tmp_path, "sku,date,units\nTEE,2026-01-01,2\nTEE,01/02/2026,1\nGHOST,2026-01-03,x\n")
    report = HistoryImport(sp.ctx).import_file(bad)
    assert [(e.line, e.column) for e in report.errors] == [(3, "date"), (4, "units")]
    unknown = HistoryImport(sp.ctx).import_file(write(tmp_path, "sku,date,quantity\nTEE,2026-01-01,2\n"
                                                                 "GHOST,2026-01-03,1\n", "b.csv"))
    assert [(e.line, e.column) for e in unknown.errors] == [(3, "sku")] and "GHOST" in unknown.errors[0].reason
    missing = HistoryImport(sp.ctx).import_file(write(tmp_path, "sku,day\nTEE,2026-01-01\n", "c.csv"))
    assert "missing column" in missing.errors[0].reason
    with sp.db.read() as conn:
        assert np.nansum(demand_store.daily_matrix(conn, demand_store.sku_index(conn), date(2026, 2, 1), 60)) == 0


def test_recompute_sets_policies_from_demand_and_offers_and_the_view_projects_stockouts(sp, clock, tmp_path):
    clock.set(clock.now().replace(year=2026, month=7, day=1))
    stock(sp, "TEE", {"WH": 30})
    stock(sp, "SLOW", {"WH": 30})
    rng = np.random.default_rng(3)
    lines = ["sku,date,units"]
    for day in range(1, 181):
        d = date.fromordinal(date(2026, 1, 1).toordinal() + day - 1)
        lines.append(f"TEE,{d},{rng.poisson(5)}")
        if day % 20 == 0:
            lines.append(f"SLOW,{d},1")
    assert HistoryImport(sp.ctx).import_file(write(tmp_path, "\n".join(lines) + "\n")).errors == []
    sp.suppliers.add("ACME", {"name": "Acme", "delivery_method": "email", "email": "po@acme.test"})
    sp.suppliers.set_offer("ACME", "TEE", {"unit_cost": "2", "lead_time_days": 10, "lead_time_spread_days": 2})
    sp.planning.set_policy("SLOW", {"service_level": 0.9})

    report = sp.plan.recompute()
    assert report.skus == 2
    tee, slow = (sp.plan.view(sku=s)[0] for s in ("TEE", "SLOW"))
    assert tee["mean_daily"] == pytest.approx(5, rel=0.15) and tee["demand_class"] == "smooth"
    assert tee["explanation"]["supplier"] == "ACME" and tee["explanation"]["service_level"] == 0.95
    # reorder point = demand over the lead time + safety stock for lead-time and demand spread
    assert 50 < tee["reorder_point"] < 80 and tee["safety_stock"] > 0
    assert tee["order_up_to"] == pytest.approx(tee["reorder_point"] + 30 * tee["mean_daily"], abs=2)
    assert tee["at_risk"] and tee["days_of_cover"] == pytest.approx(30 / tee["mean_daily"], abs=0.2)
    assert slow["demand_class"] == "intermittent" and slow["explanation"]["service_level"] == 0.9
    assert slow["explanation"]["supplier"] is None and slow["explanation"]["lead_time_days"] == 14
    assert not slow["at_risk"]
    assert [r["sku"] for r in sp.plan.view(at_risk_only=True)] == ["TEE"]


def test_an_open_po_moves_the_projected_stockout_out(sp, clock):
    clock.set(clock.now().replace(year=2026, month=7, day=1))
    stock(sp, "TEE", {"WH": 140})
    sp.suppliers.add("ACME", {"name": "Acme", "delivery_method": "email", "email": "po@acme.test"})
    sp.suppliers.set_offer("ACME", "TEE", {"unit_cost": "2", "lead_time_days": 3})
    for day in range(60):
        sp.orders.place(f"SO-{day}", [line("TEE", 2)])
        clock.advance(days=1)
    sp.plan.recompute()
    before = sp.plan.view(sku="TEE")[0]  # 20 left at 2 a day: out in 10 days
    assert before["days_of_cover"] == pytest.approx(10, abs=0.5) and before["stockout_date"] == "2026-09-09"
    sp.planning.set_policy("TEE", {"manual_min": 25, "manual_max": 60})
    sp.stock.adjust(sku="TEE", location="WH", delta=-1, reason="damaged", idempotency_key="dmg")  # 19: reorder
    runtime = Runtime.build(sp)
    runtime.settle()  # the consumer sees the reorder point ...
    runtime.advance(seconds=11)  # ... and the default 10 s coalescing window passes
    after = sp.plan.view(sku="TEE")[0]
    assert after["incoming"] == 41 and after["open_pos"] == [{"quantity": 41, "eta": "2026-09-02"}]
    assert after["stockout_date"] == "2026-09-29"  # (19 + 41) / 2 a day = 30 days


def test_abc_classes_set_service_levels_and_costs_switch_order_quantities_to_eoq(db_url, clock, tmp_path):
    settings = Settings(database_url=db_url, service_by_class="A=0.99,B=0.95,C=0.80", ordering_cost=50.0,
                        holding_rate=0.25)
    sp = build(settings, clock=clock, migrate=False)
    try:
        clock.set(clock.now().replace(year=2026, month=7, day=1))
        lines = ["sku,date,units"]
        for sku, rate in (("FAST", 20), ("MID", 4), ("SLOW", 1)):
            stock(sp, sku, {"WH": 10})
            lines += [f"{sku},{date.fromordinal(date(2026, 3, 1).toordinal() + d)},{rate}" for d in range(120)]
        assert HistoryImport(sp.ctx).import_file(write(tmp_path, "\n".join(lines) + "\n")).errors == []
        sp.suppliers.add("ACME", {"name": "Acme", "delivery_method": "email", "email": "po@acme.test"})
        for sku in ("FAST", "MID", "SLOW"):
            sp.suppliers.set_offer("ACME", sku, {"unit_cost": "10", "lead_time_days": 5})
        sp.planning.set_policy("SLOW", {"service_level": 0.97})  # its own level wins over its class
        sp.plan.recompute()
        views = [sp.plan.view(sku=s)[0] for s in ("FAST", "MID", "SLOW")]
        fast, mid, slow = (v["explanation"] for v in views)
        assert (fast["abc_class"], fast["service_level"]) == ("A", 0.99)
        assert (mid["abc_class"], mid["service_level"]) == ("B", 0.95)
        assert (slow["abc_class"], slow["service_level"]) == ("C", 0.97)
        # EOQ = sqrt(2 D S / H): D = 365 x daily demand, S = 50 a PO, H = 0.25 x unit cost 10
        assert fast["eoq"] == pytest.approx(math.sqrt(2 * 365 * views[0]["mean_daily"] * 50 / 2.5), abs=0.2)
        assert views[0]["order_up_to"] == pytest.approx(views[0]["reorder_point"] + fast["eoq"], abs=1.5)
    finally:
        sp.close()


def test_planned_events_raise_the_forecast_over_their_days(sp, clock, tmp_path):
    clock.set(clock.now().replace(year=2026, month=7, day=1))
    stock(sp, "TEE", {"WH": 10})
    lines = ["sku,date,units"] + [f"TEE,{date.fromordinal(date(2026, 3, 1).toordinal() + d)},2" for d in range(122)]
    assert HistoryImport(sp.ctx).import_file(write(tmp_path, "\n".join(lines) + "\n")).errors == []
    sp.plan.recompute()
    assert sp.plan.view(sku="TEE")[0]["mean_daily"] == pytest.approx(2, rel=0.01)
    event = sp.planning.add_event("Summer sale", "2026-07-01", "2026-08-31", 3.0, sku="TEE")
    assert sp.planning.list_events() == [event]
    sp.plan.recompute()
    assert sp.plan.view(sku="TEE")[0]["mean_daily"] == pytest.approx(6, rel=0.01)
    with pytest.raises(ValidationFailed):
        sp.planning.add_event("Backwards", "2026-08-01", "2026-07-01", 2.0)
    sp.planning.remove_event(event["id"])
    with pytest.raises(NotFound):
        sp.planning.remove_event(event["id"])


def test_the_packed_series_cache_always_equals_a_full_read_of_orders_and_history(sp, clock, tmp_path):
    from stockpilot.adapters.db import demand_series

    clock.set(clock.now().replace(year=2026, month=3, day=1))
    rng = np.random.default_rng(5)
    for sku in ("A", "B", "C"):
        stock(sp, sku, {"WH": 10_000})
    orders: list[int] = []

    def matrices():
        today = clock.now().date()
        with sp.db.read() as conn:
            rows = demand_store.sku_index(conn)
            cached, update = demand_series.read(conn, rows, today, 60)
            full = demand_store.daily_matrix(conn, rows, today, 60)
        sp.db.write(lambda conn: demand_series.save(conn, update))
        return cached, full

    for day in range(90):
        for n in range(int(rng.integers(0, 4))):
            sku = ("A", "B", "C")[int(rng.integers(0, 3))]
            placed, _ = sp.orders.place(f"SO-{day}-{n}", [line(sku, int(rng.integers(1, 5)))])
            orders.append(placed["id"])
        if day == 40:
            stock(sp, "D", {"WH": 5})  # a SKU born mid-way
        if day == 50:
            sp.orders.cancel(orders[len(orders) // 2])  # an old sale cancelled: its day changes
            Runtime.build(sp).settle()  # the replenishment consumer marks that SKU's series stale
        if day == 60:
            history = "sku,date,units\n" + "".join(f"B,2026-02-{d:02d},7\n" for d in range(1, 20))
            assert HistoryImport(sp.ctx).import_file(write(tmp_path, history)).errors == []
        clock.advance(days=1)
        if day % 7 == 3 or day in (50, 51, 60, 61):
            cached, full = matrices()
            np.testing.assert_array_equal(cached, full)
    cached, full = matrices()
    np.testing.assert_array_equal(cached, full)
    assert sp.plan.recompute().skus == 4
