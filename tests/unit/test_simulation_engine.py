"""The simulation core: units are conserved, no policy sees the future, every policy gets the same dice."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stockpilot.simulation import engine
from stockpilot.simulation.catalog import generated
from stockpilot.simulation.frontier import equal_fill_savings, inventory_at
from stockpilot.simulation.metrics import figures, risk_scores
from stockpilot.simulation.model import Costs, SimConfig, variants
from stockpilot.simulation.policies import Levels
from stockpilot.simulation.supply import draw_supply

SMALL = SimConfig(warmup_days=40, settle_days=5, sweeps={"naive": (0.2, 1.0), "days_of_cover": (7.0,),
                                                         "static_minmax": (7.0,), "stockpilot": (0.9, 0.95)})


def setup(n=12, days=120, seed=3, config=SMALL):
    cat = generated(skus=n, days=days - config.warmup_days, seed=seed, warmup_days=config.warmup_days)
    draws = draw_supply(cat.codes, cat.lead_time_days, cat.lead_time_std_days, cat.days, seed=seed,
                        full_fill_probability=0.7)
    return cat, draws


def test_units_are_conserved_on_every_row():
    cat, draws = setup()
    r = engine.simulate(cat, SMALL, draws, trace=True)
    tr = r.trace
    start = SMALL.warmup_days
    received = tr.received[:, start:].sum(axis=1)
    sold = tr.sold[:, start:].sum(axis=1)
    assert np.allclose(tr.initial + received - sold, tr.on_hand[:, -1])  # stock: what came in less what went out
    demand = np.tile(cat.demand[:, start:], (len(r.variants), 1))
    assert np.allclose(tr.sold[:, start:] + tr.lost[:, start:], demand)  # every unit asked for: sold or lost
    assert np.all(tr.on_hand[:, start:] >= 0) and np.all(tr.sold[:, start:] <= demand)
    ordered = tr.ordered[:, start:].sum(axis=1)
    assert np.all(received <= ordered + 1e-9)  # short deliveries never arrive, nothing arrives unordered
    assert np.all(tr.on_order_end <= ordered - received + 1e-9)
    assert received.sum() < ordered.sum()  # with a 70% full-fill chance some orders did arrive short
    measured = slice(start + SMALL.settle_days, None)
    for name, series in (("sold", tr.sold), ("lost", tr.lost)):
        assert np.allclose(r.totals[name], series[:, measured].sum(axis=1))


def _prefix_invariant(monkeypatch=None) -> bool:
    """Change demand after day k only: nothing recorded up to day k may change, or someone looked ahead."""
    cat, draws = setup()
    k = 80
    later = cat.demand.copy()
    later[:, k + 1:] = later[:, k + 1:] * 3 + 5
    a = engine.simulate(cat, SMALL, draws, trace=True).trace
    b = engine.simulate(replace(cat, demand=later), SMALL, draws, trace=True).trace
    upto = slice(0, k + 1)
    return all(np.array_equal(x[:, upto], y[:, upto]) for x, y in
               ((a.on_hand, b.on_hand), (a.sold, b.sold), (a.lost, b.lost), (a.ordered, b.ordered)))


def test_no_policy_sees_demand_after_the_day_it_decides_on():
    assert _prefix_invariant()


def test_the_look_ahead_check_catches_a_policy_given_future_demand(monkeypatch):
    cat_demand = {}
    real = engine.stockpilot_levels

    def clairvoyant(sales, **kwargs):
        lv = real(sales, **kwargs)
        future = cat_demand["d"][:, sales.shape[1]: sales.shape[1] + 14].sum(axis=1)  # peeks 14 days ahead
        rows = len(lv.reorder_point) // cat_demand["d"].shape[0]
        extra = np.tile(future, rows)
        return Levels(lv.reorder_point + extra, lv.order_up_to + extra, lv.mean_daily)

    original_simulate = engine.simulate

    def simulate(cat, *args, **kwargs):
        cat_demand["d"] = cat.demand
        return original_simulate(cat, *args, **kwargs)

    monkeypatch.setattr(engine, "stockpilot_levels", clairvoyant)
    monkeypatch.setattr(engine, "simulate", simulate)
    assert not _prefix_invariant()


def test_every_policy_gets_the_same_lead_time_for_an_order_placed_the_same_day():
    cat, draws = setup(n=10, days=150)
    r = engine.simulate(cat, SMALL, draws, trace=True)
    tr = r.trace
    n, days = len(cat), cat.days
    seen = 0
    for v in range(len(r.variants)):
        for i in range(n):
            row = v * n + i
            for t in np.flatnonzero(tr.ordered[row] > 0):
                due = t + draws.lead_days[i, t]
                if due < days:  # it arrives that very day, and with the share drawn for (SKU, day)
                    expected = np.floor(tr.ordered[row, t] * draws.fill[i, t])
                    assert tr.received[row, due] >= expected - 1e-9
                    seen += 1
    assert seen > 50


def test_draws_are_per_sku_and_do_not_depend_on_the_other_skus():
    cat, _ = setup(n=8)
    full = draw_supply(cat.codes, cat.lead_time_days, cat.lead_time_std_days, 100, seed=9, full_fill_probability=0.9)
    part = draw_supply(cat.codes[3:5], cat.lead_time_days[3:5], cat.lead_time_std_days[3:5], 100, seed=9,
                       full_fill_probability=0.9)
    assert np.array_equal(full.lead_days[3:5], part.lead_days) and np.array_equal(full.fill[3:5], part.fill)
    other = draw_supply(cat.codes, cat.lead_time_days, cat.lead_time_std_days, 100, seed=10, full_fill_probability=0.9)
    assert not np.array_equal(full.lead_days, other.lead_days)


def test_a_run_is_reproducible_and_the_figures_add_up():
    cat, draws = setup()
    a, b = engine.simulate(cat, SMALL, draws), engine.simulate(cat, SMALL, draws)
    assert all(np.array_equal(a.totals[k], b.totals[k]) for k in a.totals)
    rows = figures(a, cat, Costs())
    overall = [r for r in rows if r["demand_class"] == "all"]
    assert [(r["policy"], r["knob"]) for r in overall] == [(v.policy, v.knob) for v in variants(SMALL)]
    for r in overall:
        assert 0 <= r["fill_rate"] <= 1 and r["avg_inventory_value"] >= 0
        assert r["total_cost_per_year"] == pytest.approx(
            r["holding_cost_per_year"] + r["ordering_cost_per_year"] + r["lost_sales_cost_per_year"])
    naive_lo, naive_hi = (r for r in overall if r["policy"] == "naive")
    assert naive_hi["avg_inventory_value"] > naive_lo["avg_inventory_value"]  # more uplift, more stock
    sp = [r for r in overall if r["policy"] == "stockpilot"]
    assert all(r["calibration_points"] == pytest.approx(100 * (r["cycle_service"] - r["knob"])) for r in sp)
    risk = risk_scores(a)
    assert risk["samples"] == a.risk_predicted.size > 0 and 0 <= risk["brier"] <= 1


def test_inventory_at_equal_fill_interpolates_and_never_extrapolates():
    rows = [
        {"policy": "stockpilot", "demand_class": "all", "knob": k, "default": k == 0.95, "fill_rate": f,
         "avg_inventory_value": inv} for k, f, inv in ((0.9, 0.80, 100.0), (0.95, 0.90, 200.0), (0.98, 0.95, 300.0))
    ] + [{"policy": "naive", "demand_class": "all", "knob": 0.2, "default": True, "fill_rate": 0.85,
          "avg_inventory_value": 250.0}]
    assert inventory_at(rows, "stockpilot", "all", 0.85) == pytest.approx(150.0)
    assert inventory_at(rows, "stockpilot", "all", 0.97) is None
    s = equal_fill_savings(rows, "all")["naive"]
    assert s["saving"] == pytest.approx(1 - 150 / 250) and s["saving_at"] == "their_fill"
