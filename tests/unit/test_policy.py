"""Reorder policy and forecast view: hand-worked figures, properties, and a service-level calibration."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockpilot.domain.abc_analysis import (
    DEFAULT_CLASS_SERVICE,
    abc_classes,
    abc_classes_batch,
    class_service_levels,
    service_levels,
)
from stockpilot.domain.coverage import (
    OpenPO,
    at_risk,
    at_risk_batch,
    days_of_cover,
    projected_stockout,
    stockout_days,
    stockout_days_batch,
)
from stockpilot.domain.demand import estimate_batch
from stockpilot.domain.policy import (
    ManualMinMax,
    PolicyMethod,
    SupplyTerms,
    eoq,
    naive_batch,
    naive_policy,
    oversell_quantity,
    plan_reorder,
    policy_batch,
    round_order_quantities,
    round_order_quantity,
    safety_stock,
    should_reorder,
    z_score,
    z_scores,
)

TODAY = date(2024, 6, 1)


def test_z_scores():
    assert z_score(0.95) == pytest.approx(1.644854, abs=1e-6)
    assert z_score(0.98) == pytest.approx(2.053749, abs=1e-6)
    assert z_score(0.5) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        z_score(1.0)
    assert np.isnan(z_scores(np.array([0.95, np.nan]))).tolist() == [False, True]
    # a manual row needs no service level
    b = policy_batch([1.0, 1.0], [1.0, 1.0], lead_time_days=5, service_level=[0.95, np.nan],
                     manual_min=[np.nan, 2], manual_max=[np.nan, 9], available=0)
    assert b.result(1).method is PolicyMethod.MANUAL_MINMAX and b.result(1).order_quantity == 9


def test_safety_stock_and_reorder_point_by_hand():
    # d 10/day sd 3, lead time 4 +- 1 day: sqrt(4*9 + 100*1) = sqrt(136)
    assert safety_stock(1.0, 10, 3, 4, 1) == pytest.approx(math.sqrt(136))
    r = plan_reorder(10, 3, SupplyTerms(lead_time_days=4, lead_time_std_days=1), available=100)
    assert r.method is PolicyMethod.STOCKPILOT
    assert r.z == pytest.approx(1.644854, abs=1e-6)
    assert r.safety_stock == pytest.approx(1.644854 * math.sqrt(136), abs=1e-4)  # 19.18
    assert r.reorder_point == pytest.approx(40 + r.safety_stock)
    assert r.order_up_to == pytest.approx(r.reorder_point + 10 * 30)
    assert not r.reorder and r.order_quantity == 0  # 100 > 59.2
    # no lead-time spread: only demand variability, sqrt(L) * sd
    assert safety_stock(2.0, 10, 3, 9) == pytest.approx(2.0 * 3 * 3)


def test_order_up_to_target_cover_when_below_reorder_point():
    r = plan_reorder(10, 3, SupplyTerms(lead_time_days=4, lead_time_std_days=1), available=30, incoming=10,
                     cover_days=20)
    assert r.position == 40 and r.reorder
    assert r.need == pytest.approx(r.reorder_point + 200 - 40)
    assert r.order_quantity == math.ceil(r.need)
    assert any("reorder point" in line for line in r.reasons)


def test_eoq_by_hand_and_as_order_quantity():
    assert float(eoq(1000, 10, 2)) == pytest.approx(100.0)  # sqrt(2 * 1000 * 10 / 2)
    assert math.isnan(float(eoq(1000, 10, 0)))
    # D = 365 * 4 = 1460, S = 50, H = 0.25 * 20 = 5 -> sqrt(29200) = 170.88
    terms = SupplyTerms(lead_time_days=5, unit_cost=20, ordering_cost=50, holding_cost_rate=0.25)
    r = plan_reorder(4, 0, terms, available=0)
    assert r.eoq == pytest.approx(math.sqrt(29200))
    assert r.order_up_to == pytest.approx(20 + math.sqrt(29200))
    assert r.order_quantity == math.ceil(20 + math.sqrt(29200))


@pytest.mark.parametrize(
    ("need", "moq", "pack", "cap", "expected"),
    [
        (47, 50, 12, None, (60, False)),  # MOQ 50 -> next pack multiple 60
        (61, 50, 12, None, (72, False)),
        (61, 50, 12, 70, (60, True)),  # capacity 70 allows 60 (5 packs)
        (12, 1, 12, None, (12, False)),
        (12.0000000001, 1, 12, None, (12, False)),  # float noise does not buy a pack
        (0, 50, 12, None, (0, False)),
        (-3, 50, 12, None, (0, False)),
        (5, 1, 12, 10, (0, True)),  # capacity below one pack: nothing can be ordered, reported
        (0.2, 1, 1, None, (1, False)),
    ],
)
def test_rounding_to_moq_pack_and_capacity(need, moq, pack, cap, expected):
    assert round_order_quantity(need, moq, pack, cap) == expected


def test_rounding_vectorised():
    qty, capped = round_order_quantities(np.array([47, 61, 61, 0]), 50, 12, np.array([np.inf, np.inf, 70, 5]))
    assert qty.tolist() == [60, 72, 60, 0] and capped.tolist() == [False, False, True, False]


@settings(max_examples=200, deadline=None)
@given(need=st.floats(0.01, 1e5), moq=st.integers(1, 500), pack=st.integers(1, 48),
       cap=st.one_of(st.none(), st.integers(1, 10_000)))
def test_rounding_properties(need, moq, pack, cap):
    qty, capped = round_order_quantity(need, moq, pack, cap)
    assert qty % pack == 0
    if capped:
        assert cap is not None and qty <= cap < qty + pack
    else:
        assert qty >= need - 1e-6 and qty >= moq
        assert qty - pack < max(need, moq)  # the smallest such multiple
        assert cap is None or qty <= cap


def test_capacity_cap_is_reported():
    terms = SupplyTerms(lead_time_days=10, moq=50, pack_size=12, capacity=120)
    r = plan_reorder(5, 2, terms, available=20, incoming=10)
    assert r.capped and r.order_quantity == 120 and r.need > 120
    assert any("capacity" in line for line in r.reasons)
    d = r.as_dict()
    assert d["method"] == "stockpilot" and d["capped"] is True and d["eoq"] is None


def test_manual_min_max_overrides_everything():
    terms = SupplyTerms(lead_time_days=10, lead_time_std_days=3)
    r = plan_reorder(50, 20, terms, available=24, manual=ManualMinMax(25, 60))
    assert r.method is PolicyMethod.MANUAL_MINMAX
    assert (r.reorder_point, r.order_up_to, r.safety_stock) == (25, 60, 0)
    assert r.service_level is None and r.z is None
    assert r.reorder and r.order_quantity == 36
    assert not plan_reorder(50, 20, terms, available=26, manual=ManualMinMax(25, 60)).reorder
    # the supplier's pack still applies
    packed = plan_reorder(50, 20, SupplyTerms(10, pack_size=10), available=24, manual=ManualMinMax(25, 60))
    assert packed.order_quantity == 40


def test_naive_rule_and_its_surge_variant():
    terms = SupplyTerms(lead_time_days=10)
    r = naive_policy(5, terms, available=0)
    assert r.method is PolicyMethod.NAIVE
    assert r.reorder_point == pytest.approx(60.0)  # 5 x 10 + 20%
    assert r.order_up_to == pytest.approx(60 + 150)
    assert r.order_quantity == 210
    surge = naive_policy(5, terms, available=0, recent_daily_sales=8)
    assert surge.reorder_point == pytest.approx(96.0)
    assert naive_policy(5, terms, available=0, recent_daily_sales=2).reorder_point == pytest.approx(60.0)


def test_oversell_orders_deficit_plus_return_to_cover():
    terms = SupplyTerms(lead_time_days=10, moq=1, pack_size=1)
    q = oversell_quantity(7, incoming=12, order_up_to=52, terms=terms)
    assert q.need == 47 and q.quantity == 47  # 7 + 52 - 12
    # the same as ordering up to 52 from a position of -7 + 12
    assert q.quantity == plan_reorder(0, 0, SupplyTerms(10), available=-7, incoming=12,
                                      manual=ManualMinMax(5, 52)).order_quantity
    assert oversell_quantity(7, incoming=100, order_up_to=52, terms=terms).quantity == 0
    packed = oversell_quantity(7, incoming=12, order_up_to=52, terms=SupplyTerms(10, moq=50, pack_size=12))
    assert packed.quantity == 60


def test_should_reorder_at_or_below_the_point():
    assert should_reorder(10, 10) and should_reorder(9, 10) and not should_reorder(11, 10)


@settings(max_examples=100, deadline=None)
@given(d=st.floats(0.01, 500), sd=st.floats(0, 300), lt=st.floats(0.5, 90), slt=st.floats(0, 20),
       s1=st.floats(0.5, 0.999), s2=st.floats(0.5, 0.999), extra=st.floats(0.0, 30))
def test_reorder_point_is_monotone_in_service_level_and_lead_time(d, sd, lt, slt, s1, s2, extra):
    lo, hi = sorted((s1, s2))
    t = SupplyTerms(lead_time_days=lt, lead_time_std_days=slt)
    longer = SupplyTerms(lead_time_days=lt + extra, lead_time_std_days=slt)
    a = plan_reorder(d, sd, t, available=0, service_level=lo)
    b = plan_reorder(d, sd, t, available=0, service_level=hi)
    c = plan_reorder(d, sd, longer, available=0, service_level=lo)
    assert a.reorder_point <= b.reorder_point + 1e-9
    assert a.reorder_point <= c.reorder_point + 1e-9


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 30), st.floats(1, 40), st.floats(0, 10),
                          st.sampled_from([0.9, 0.95, 0.98]), st.floats(-20, 500), st.integers(1, 60),
                          st.integers(1, 12), st.one_of(st.none(), st.integers(1, 2000))),
                min_size=1, max_size=12))
def test_batch_and_single_sku_policies_agree(rows):
    cols = list(zip(*rows, strict=True))
    d, sd, lt, slt, sl, avail, moq, pack, cap = (np.array(c, dtype=float if i != 8 else object)
                                                 for i, c in enumerate(cols))
    cap_arr = np.array([np.inf if c is None else c for c in cap], dtype=float)
    b = policy_batch(d, sd, lead_time_days=lt, lead_time_std_days=slt, service_level=sl, available=avail,
                     moq=moq, pack_size=pack, capacity=cap_arr)
    for i, row in enumerate(rows):
        terms = SupplyTerms(row[2], row[3], moq=row[6], pack_size=row[7], capacity=row[8])
        one = plan_reorder(row[0], row[1], terms, available=row[5], service_level=row[4])
        got = b.result(i)
        assert got.reorder_point == pytest.approx(one.reorder_point)
        assert got.order_up_to == pytest.approx(one.order_up_to)
        assert (got.order_quantity, got.capped, got.reorder) == (one.order_quantity, one.capped, one.reorder)
    naive = naive_batch(d, lead_time_days=lt, available=avail)
    assert naive.reorder_point == pytest.approx(d * lt * 1.2)


def test_abc_classes_and_service_levels():
    values = {"a": 100, "b": 50, "c": 30, "d": 10, "e": 5, "f": 5}  # total 200
    classes = abc_classes(values)
    # shares before each: a 0, b .50, c .75 -> A; d .90 -> B; e exactly .95 -> C; f .975 -> C
    assert classes == {"a": "A", "b": "A", "c": "A", "d": "B", "e": "C", "f": "C"}
    assert service_levels(classes)["a"] == 0.98 and service_levels(classes)["d"] == 0.95
    assert service_levels(classes, {"A": 0.99, "B": 0.9, "C": 0.8})["f"] == 0.8
    assert DEFAULT_CLASS_SERVICE == {"A": 0.98, "B": 0.95, "C": 0.90}
    assert abc_classes({"only": 1.0, "zero": 0.0}) == {"only": "A", "zero": "C"}
    assert abc_classes({"x": 0.0}) == {"x": "C"}
    assert abc_classes({"b": 5.0, "a": 5.0, "c": 1.0}, a_share=0.4) == {"a": "A", "b": "B", "c": "C"}  # tie by code
    batch = abc_classes_batch(np.array([5.0, 100, 10, 30, 50, 5]))
    assert batch.tolist() == ["C", "A", "B", "A", "A", "C"]
    assert class_service_levels(batch).tolist() == [0.9, 0.98, 0.95, 0.98, 0.98, 0.9]


# ---- forecast view -------------------------------------------------------------------------------------------

def test_days_of_cover():
    assert days_of_cover(30, 4) == 7.5
    assert days_of_cover(30, 0) == math.inf
    assert days_of_cover(0, 0) == 0.0
    assert days_of_cover(-5, 2) == 0.0


def test_stockout_projection_with_two_purchase_orders():
    # 10 units at 2/day: out on day 5 without POs.
    assert projected_stockout(10, 2, today=TODAY) == TODAY + timedelta(days=5)
    # +4 on day 3 (level 4 -> 8), out at (10 + 4) / 2 = day 7, before +100 arrives on day 8.
    pos = [OpenPO(TODAY + timedelta(days=8), 100), OpenPO(TODAY + timedelta(days=3), 4)]
    assert stockout_days(10, 2, pos, today=TODAY) == pytest.approx(7.0)
    assert projected_stockout(10, 2, pos, today=TODAY) == TODAY + timedelta(days=7)
    # +100 on day 7 instead: arrives exactly as stock reaches 0, in time; out at (10 + 104) / 2 = 57
    pos = [OpenPO(TODAY + timedelta(days=7), 100), OpenPO(TODAY + timedelta(days=3), 4)]
    assert stockout_days(10, 2, pos, today=TODAY) == pytest.approx(57.0)
    assert projected_stockout(10, 0, pos, today=TODAY) is None
    assert projected_stockout(0, 0, today=TODAY) == TODAY
    assert projected_stockout(-3, 1, pos, today=TODAY) == TODAY  # oversold now
    late = [OpenPO(TODAY - timedelta(days=2), 10)]  # overdue: counted as arriving today
    assert stockout_days(4, 2, late, today=TODAY) == pytest.approx(7.0)


def test_at_risk_in_the_next_days():
    assert at_risk(10, 2, today=TODAY)  # out on day 5 < 7
    assert not at_risk(20, 2, today=TODAY)  # day 10
    assert not at_risk(10, 2, [OpenPO(TODAY + timedelta(days=4), 50)], today=TODAY)
    assert at_risk(20, 2, today=TODAY, horizon_days=14)
    assert at_risk_batch(np.array([0.0, 6.99, 7.0, math.inf])).tolist() == [True, True, False, False]


def _level(t, a, d, pos):
    return a + sum(q for e, q in pos if max(e, 0) <= t) - d * t


@settings(max_examples=150, deadline=None)
@given(a=st.floats(-10, 200), d=st.floats(0, 20),
       pos=st.lists(st.tuples(st.integers(-3, 60), st.floats(0, 100)), max_size=5))
def test_stockout_is_the_first_time_the_level_reaches_zero(a, d, pos):
    t_out = stockout_days(a, d, [OpenPO(TODAY + timedelta(days=e), q) for e, q in pos], today=TODAY)
    grid = np.linspace(0, min(t_out, 400.0), 400, endpoint=False)
    if t_out > 0:
        assert all(_level(t, a, d, pos) > -1e-9 for t in grid)
    if math.isfinite(t_out) and a > 0:
        assert _level(t_out, a, d, pos) == pytest.approx(0.0, abs=1e-6)
    if a <= 0:
        assert t_out == 0
    if d == 0 and a > 0:
        assert t_out == math.inf


def test_batch_stockouts_with_pos_spread_over_skus():
    avail = np.array([10.0, 10.0, 5.0, 0.0])
    rate = np.array([2.0, 2.0, 1.0, 1.0])
    rows = np.array([1, 0, 1, 2])
    eta = np.array([3.0, 8.0, 8.0, 1.0])
    qty = np.array([4.0, 100.0, 100.0, 1.0])
    got = stockout_days_batch(avail, rate, rows, eta, qty)
    assert got.tolist() == pytest.approx([5.0, 7.0, 6.0, 0.0])


# ---- calibration -------------------------------------------------------------------------------------------

def _simulate_cycle_service(rng, rate, reorder_point, order_qty, lead_time, cycles):
    """Continuous review (each sale checks the position), unit demands from a Poisson process, lost sales.
    Returns the share of replenishment cycles whose lead time saw no stockout."""
    on_hand, arrival, outstanding = order_qty + math.floor(reorder_point), math.inf, False  # whole units
    ok = done = 0
    stocked_out = False
    t = 0.0
    gaps = rng.exponential(1.0 / rate, size=int(cycles * (order_qty + 10) * 1.5))
    for gap in gaps:
        t += gap
        if outstanding and t >= arrival:
            on_hand += order_qty
            outstanding = False
            done += 1
            ok += not stocked_out
            if done == cycles:
                break
        if on_hand > 0:
            on_hand -= 1
        elif outstanding:
            stocked_out = True
        if not outstanding and on_hand <= reorder_point:
            outstanding, arrival, stocked_out = True, t + lead_time(), False
    assert done == cycles
    return ok / cycles


def _gamma_lead_time(rng, mean, std):
    shape = (mean / std) ** 2
    return lambda: rng.gamma(shape, mean / shape)


@pytest.mark.parametrize(("service", "lt_std"), [(0.95, 0.0), (0.90, 0.0), (0.98, 0.0), (0.95, 2.0)])
def test_calibration_of_the_reorder_point_on_a_poisson_process(service, lt_std):
    """True parameters in: the policy formula and the trigger rule alone are under test."""
    rng = np.random.default_rng(20240601)
    rate, lt_mean = 4.0, 6.0
    terms = SupplyTerms(lead_time_days=lt_mean, lead_time_std_days=lt_std)
    r = plan_reorder(rate, math.sqrt(rate), terms, available=0, service_level=service)
    lead_time = _gamma_lead_time(rng, lt_mean, lt_std) if lt_std else (lambda: lt_mean)
    achieved = _simulate_cycle_service(rng, rate, r.reorder_point, 120, lead_time, cycles=2000)
    assert achieved == pytest.approx(service, abs=0.025)


@pytest.mark.parametrize(("service", "lt_std"), [(0.95, 0.0), (0.90, 0.0), (0.95, 2.0)])
def test_calibration_with_estimated_demand_across_skus(service, lt_std):
    """A year of Poisson history per SKU, estimated and planned as in production; one SKU's estimate is noisy
    (about 75 effective days), so the check is the cycle service averaged over 400 SKUs. With continuous
    review and unit demands a cycle starts with exactly floor(reorder point) on hand, so each cycle is one draw
    of the lead-time demand against it."""
    rng = np.random.default_rng(7)
    skus, cycles, lt_mean = 400, 250, 6.0
    rates = rng.uniform(1.0, 20.0, skus)
    est = estimate_batch(rng.poisson(rates[:, None], (skus, 365)).astype(float))
    b = policy_batch(est.mean_daily, est.std_daily, lead_time_days=lt_mean, lead_time_std_days=lt_std,
                     service_level=service)
    if lt_std:
        shape = (lt_mean / lt_std) ** 2
        lead = rng.gamma(shape, lt_mean / shape, (skus, cycles))
    else:
        lead = np.full((skus, cycles), lt_mean)
    demand = rng.poisson(rates[:, None] * lead)
    achieved = (demand <= np.floor(b.reorder_point)[:, None]).mean()
    assert achieved == pytest.approx(service, abs=0.03)
