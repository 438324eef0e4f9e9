"""Demand estimation: hand-worked answers, a scalar reference for the vectorised recursions, batch = single."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockpilot.domain.croston import croston_family
from stockpilot.domain.demand import (
    DemandClass,
    DemandConfig,
    DemandMethod,
    estimate_batch,
    estimate_demand,
)
from stockpilot.domain.demand_events import PlannedEvent, event_factor, event_factors

SERIES = [0, 0, 6, 0, 2, 0, 0, 0, 0, 4]


def test_sba_on_a_short_series_by_hand():
    # day 2: first demand 6 after 3 observed days -> size 6, interval 3
    # day 4: 2 after 2 days -> size 6 + 0.1(2 - 6) = 5.6, interval 3 + 0.1(2 - 3) = 2.9
    # day 9: 4 after 5 days -> size 5.6 + 0.1(4 - 5.6) = 5.44, interval 2.9 + 0.1(5 - 2.9) = 3.11
    r = croston_family(np.array([SERIES], float), method="sba", alpha=0.1)
    assert r.size[0] == pytest.approx(5.44)
    assert r.interval[0] == pytest.approx(3.11)
    assert r.forecast[0] == pytest.approx(0.95 * 5.44 / 3.11)  # SBA factor 1 - alpha/2
    croston = croston_family(np.array([SERIES], float), method="croston", alpha=0.1)
    assert croston.forecast[0] == pytest.approx(5.44 / 3.11)
    # one-step errors from day 3 on; fewer than 1/mse_alpha errors, so the MSE is their plain mean
    f2, f4 = 0.95 * 6 / 3, 0.95 * 5.6 / 2.9
    errors = [0 - f2, 2 - f2, 0 - f4, 0 - f4, 0 - f4, 0 - f4, 4 - f4]
    assert r.errors[0] == 7
    assert r.mse[0] == pytest.approx(sum(e * e for e in errors) / 7)


def test_tsb_on_a_short_series_by_hand():
    p = 1 / 3  # first demand on the 3rd observed day
    p += 0.05 * (0 - p)  # day 3
    p += 0.05 * (1 - p)  # day 4, demand 2: size 5.6
    p *= 0.95**4  # days 5..8
    p += 0.05 * (1 - p)  # day 9, demand 4: size 5.44
    r = croston_family(np.array([SERIES], float), method="tsb", alpha=0.1, beta=0.05)
    assert r.forecast[0] == pytest.approx(p * 5.44)
    assert r.interval[0] == pytest.approx(1 / p)


def _reference_croston(series, method, alpha=0.1, beta=0.05, mse_alpha=0.0228):
    """Plain-Python statement of the recursions (the specification the vectorised code must match)."""
    size = level = mse = 0.0
    since = n_err = 0
    started = False
    forecast = 0.0
    for x in series:
        if math.isnan(x):
            continue
        if started:
            n_err += 1
            w = max(mse_alpha, 1 / n_err)
            mse += w * ((x - forecast) ** 2 - mse)
        since += 1
        if x > 0 and not started:
            size, level, started = x, (1 / since if method == "tsb" else since), True
        elif started:
            if x > 0:
                size += alpha * (x - size)
            if method == "tsb":
                level += beta * ((x > 0) - level)
            elif x > 0:
                level += alpha * (since - level)
        if x > 0:
            since = 0
        if started:
            forecast = level * size if method == "tsb" else (1 - alpha / 2 if method == "sba" else 1) * size / level
    return forecast, (mse if n_err else math.nan)


day = st.one_of(st.just(math.nan), st.integers(0, 0).map(float), st.integers(0, 12).map(float))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(day, min_size=1, max_size=40), min_size=1, max_size=6),
       method=st.sampled_from(["sba", "tsb", "croston"]))
def test_vectorised_recursions_match_the_scalar_reference(rows, method):
    width = max(len(r) for r in rows)
    history = np.array([[math.nan] * (width - len(r)) + r for r in rows])
    got = croston_family(history, method=method)
    for i, row in enumerate(history):
        f, mse = _reference_croston(list(row), method)
        assert got.forecast[i] == pytest.approx(f, rel=1e-9, abs=1e-12)
        if math.isnan(mse):
            assert math.isnan(got.mse[i])
        else:
            assert got.mse[i] == pytest.approx(mse, rel=1e-9, abs=1e-12)


def _classify(series, **kw):
    return estimate_demand(series, config=DemandConfig(min_observations=10, **kw)).demand_class


def test_syntetos_boylan_classes():
    assert _classify([5, 5, 4, 6] * 10) == DemandClass.SMOOTH  # ADI 1, CV2 0.02
    assert _classify([1, 10, 1, 10] * 10) == DemandClass.ERRATIC  # ADI 1, CV2 (4.5/5.5)^2 = 0.67
    assert _classify([0, 0, 5, 0, 6, 0] * 10) == DemandClass.INTERMITTENT  # ADI 3, CV2 0.008
    assert _classify([0, 0, 1, 0, 10, 0] * 10) == DemandClass.LUMPY  # ADI 3, CV2 0.67
    assert _classify([0, 3, 0, 4]) == DemandClass.NEW  # 4 observed days < 10
    assert _classify([math.nan] * 20) == DemandClass.NO_HISTORY
    assert _classify([0] * 20) == DemandClass.NO_DEMAND
    e = estimate_demand([0, 0, 5, 0, 6, 0] * 10, config=DemandConfig(min_observations=10))
    assert (e.adi, e.cv2, e.demand_days) == (pytest.approx(3.0), pytest.approx((0.5 / 5.5) ** 2), 20)
    assert e.method is DemandMethod.SBA


def test_cut_offs_are_inclusive_on_the_upper_side():
    # 4 demand days in 6 observed: ADI 1.5 >= 1.32 -> intermittent family
    assert _classify([3, 3, 0, 3, 3, 0] * 5) == DemandClass.INTERMITTENT


def test_exponentially_weighted_mean_and_spread_by_hand():
    # window 2, half-life 1: weights 0.5 (older) and 1; values 2 and 4
    e = estimate_demand([2, 4], config=DemandConfig(window_days=2, half_life_days=1, min_observations=1))
    assert e.method is DemandMethod.EWMA
    assert e.mean_daily == pytest.approx(5 / 1.5)
    # reliability-weighted variance: sum w (x - m)^2 / (V1 - V2 / V1) = (4/3) / (1.5 - 1.25 / 1.5) = 2
    assert e.std_daily == pytest.approx(math.sqrt(2.0))


def test_weights_favour_recent_days():
    old_low = estimate_demand([1] * 60 + [3] * 30)
    old_high = estimate_demand([3] * 60 + [1] * 30)
    assert old_low.mean_daily > 2 > old_high.mean_daily


def test_unobserved_days_are_ignored_not_zero():
    e = estimate_demand([math.nan] * 300 + [4.0] * 65)
    assert e.observations == 65
    assert e.mean_daily == pytest.approx(4.0)
    assert e.std_daily == pytest.approx(0.0)


def test_surge_raises_the_forecast_to_the_recent_velocity():
    e = estimate_demand([1.0] * 76 + [4.0] * 14)
    assert e.surge
    assert e.recent_velocity == pytest.approx(4.0)
    assert e.long_velocity == pytest.approx((76 + 56) / 90)
    assert e.mean_daily == pytest.approx(4.0)
    assert e.base_mean_daily < 4.0
    assert e.std_daily == pytest.approx(e.base_std_daily * 4.0 / e.base_mean_daily)
    assert any("surge" in r for r in e.reasons())


def test_one_sale_after_nothing_is_not_a_surge():
    assert not estimate_demand([0.0] * 89 + [1.0]).surge
    assert not estimate_demand([0.0] * 85 + [20.0, 0, 0, 0, 0]).surge  # one bulk order: a single day
    assert not estimate_demand([2.0] * 90).surge


def test_surge_ratio_is_configurable():
    series = [2.0] * 76 + [3.0] * 14
    assert not estimate_demand(series).surge  # 3 < 1.5 x 2.16
    assert estimate_demand(series, config=DemandConfig(surge_ratio=1.2, surge_z=0)).surge


def test_planned_event_factor_by_hand():
    today = date(2024, 3, 1)
    promo = PlannedEvent(today + timedelta(days=5), today + timedelta(days=9), 2.0, "spring sale")
    assert event_factor([promo], today=today, horizon_days=10) == pytest.approx((5 * 1 + 5 * 2) / 10)
    assert event_factor([promo], today=today, horizon_days=7.5) == pytest.approx((5 + 2.5 * 2) / 7.5)
    assert event_factor([promo], today=today, horizon_days=3) == pytest.approx(1.0)
    assert event_factor([promo], today=today + timedelta(days=6), horizon_days=0) == pytest.approx(2.0)
    past = PlannedEvent(today - timedelta(days=10), today - timedelta(days=1), 3.0)
    assert event_factor([past], today=today, horizon_days=10) == pytest.approx(1.0)
    season = PlannedEvent(today, today + timedelta(days=99), 1.5)
    assert event_factor([promo, season], today=today, horizon_days=10) == pytest.approx((5 * 1.5 + 5 * 3) / 10)


def test_planned_events_scale_mean_and_spread_for_the_rows_they_concern():
    today = date(2024, 3, 1)
    rng = np.random.default_rng(3)
    history = rng.poisson(4, (3, 120)).astype(float)
    promo = PlannedEvent(today, today + timedelta(days=4), 3.0)
    plain = estimate_batch(history)
    lifted = estimate_batch(history, today=today, events=[promo], event_rows=np.array([[True, False, True]]),
                            horizon_days=np.array([10.0, 10.0, 5.0]))
    assert lifted.event_factor.tolist() == pytest.approx([2.0, 1.0, 3.0])
    assert lifted.mean_daily == pytest.approx(plain.mean_daily * lifted.event_factor)
    assert lifted.std_daily == pytest.approx(plain.std_daily * lifted.event_factor)
    with pytest.raises(ValueError):
        estimate_batch(history, events=[promo])
    with pytest.raises(ValueError):
        PlannedEvent(today, today - timedelta(days=1), 2.0)


def test_event_factors_group_rows_by_event_set():
    today = date(2024, 1, 1)
    events = [PlannedEvent(today, today, 2.0), PlannedEvent(today, today, 5.0)]
    mask = np.array([[True, False, True, False], [False, True, True, False]])
    assert event_factors(events, today=today, horizon_days=1, n_rows=4, event_rows=mask).tolist() == [2, 5, 10, 1]


def test_intermittent_forecast_is_unbiased_on_average():
    rng = np.random.default_rng(11)
    sizes = rng.poisson(3, (4000, 365)) + 1
    history = np.where(rng.random((4000, 365)) < 0.1, sizes, 0).astype(float)  # true rate 0.1 x 4 = 0.4/day
    b = estimate_batch(history)
    inter = b.is_class(DemandClass.INTERMITTENT) | b.is_class(DemandClass.LUMPY)
    assert inter.mean() > 0.95
    assert b.base_mean_daily[inter].mean() == pytest.approx(0.4, rel=0.02)
    assert b.surge.mean() < 0.02  # stationary: few false surges...
    assert b.mean_daily[inter].mean() == pytest.approx(0.4, rel=0.05)  # ...so little bias from them
    # the spread from the one-step MSE should be near the true daily std: sqrt(p E[s^2] - (p E[s])^2)
    true_std = math.sqrt(0.1 * (3 + 16) - 0.4**2)
    assert np.median(b.std_daily[inter]) == pytest.approx(true_std, rel=0.1)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.lists(day, min_size=30, max_size=30), min_size=1, max_size=7),
       chunk=st.integers(1, 4))
def test_batch_and_single_sku_agree_across_chunks(rows, chunk):
    history = np.array(rows)
    batch = estimate_batch(history, config=DemandConfig(chunk_rows=chunk, min_observations=5))
    for i, row in enumerate(rows):
        single = estimate_demand(row, config=DemandConfig(min_observations=5))
        got = batch.row(i)
        assert got.demand_class == single.demand_class
        assert got.method == single.method
        assert got.surge == single.surge
        assert got.mean_daily == pytest.approx(single.mean_daily, rel=1e-9, abs=1e-12)
        assert got.std_daily == pytest.approx(single.std_daily, rel=1e-9, abs=1e-12)


def test_estimate_is_never_negative_and_zero_without_demand():
    assert estimate_demand([0.0] * 100).mean_daily == 0.0
    assert estimate_demand([math.nan] * 10).method is DemandMethod.NONE
    rng = np.random.default_rng(5)
    b = estimate_batch(np.where(rng.random((500, 200)) < 0.3, rng.poisson(2, (500, 200)), 0).astype(float))
    assert (b.mean_daily >= 0).all() and (b.std_daily >= 0).all()


def test_tsb_can_be_chosen_and_history_is_not_modified():
    history = np.array([[math.nan] * 5 + [0, 0, 6, 0, 2, 0, 0, 0, 0, 4] * 4])
    before = history.copy()
    e = estimate_batch(history, config=DemandConfig(intermittent_method="tsb", min_observations=10)).row(0)
    assert e.method is DemandMethod.TSB and e.observations == 40
    assert np.array_equal(history, before, equal_nan=True)


def test_estimate_as_dict_is_json_ready():
    import json

    d = estimate_demand([math.nan] * 3).as_dict()
    assert d["demand_class"] == "no_history" and d["adi"] is None
    json.dumps(d)
    b = estimate_batch(np.array([[5.0] * 40, [0.0] * 40]))
    assert b.class_names().tolist() == ["smooth", "no_demand"]
    assert b.method_names().tolist() == ["ewma", "none"]
