"""Planning: recompute demand estimates, reorder policies and at-risk lists for many SKUs from a year of history.

Synthetic, seeded history (units/day, 365 days per SKU): 55% smooth (Poisson, rates spread log-normally),
35% intermittent (a sale on 2-30% of days, sizes 1 + Poisson), 10% new (listed 5-300 days ago, NaN before),
and 3% of all SKUs surging over the last 14 days. Each SKU gets a supplier offer (lead time 3-30 days with a
spread, MOQ, pack, capacity), stock, and a third of them an open purchase order with an ETA.

Timed (the whole planning pass, as `stockpilot plan` would run it after loading the arrays):
  demand estimates (estimate_batch) -> ABC classes by annual value -> per-class service levels ->
  policies (policy_batch) -> projected stockouts with open POs -> SKUs at risk in the next 7 days.
Baseline, same run: the naive rule ("average daily sales over 90 days x lead time + 20%", rounded the same way,
days of cover and a day-by-day stockout walk with the POs) in plain Python per SKU, timed on a sample of SKUs
and extrapolated linearly to the full count; it is labelled "extrapolated".

Usage: python bench/planning.py [--sizes 10000,100000] [--baseline-sample 2000] [--seed 42]
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time

import numpy as np

from stockpilot.domain.abc_analysis import abc_classes_batch, class_service_levels
from stockpilot.domain.coverage import OpenPO, at_risk_batch, stockout_days, stockout_days_batch
from stockpilot.domain.demand import DemandClass, estimate_batch, estimate_demand
from stockpilot.domain.policy import SupplyTerms, plan_reorder, policy_batch

DAYS = 365
RISK_DAYS = 7


def synthesize(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    kind = rng.choice(3, size=n, p=[0.55, 0.35, 0.10])  # 0 smooth, 1 intermittent, 2 new
    rate = np.exp(rng.normal(1.0, 1.0, n))  # smooth: ~2.7/day median
    p_sale = rng.uniform(0.02, 0.30, n)
    size = rng.uniform(0.5, 4.0, n)
    history = np.empty((n, DAYS), dtype=np.float32)
    step = 10_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        smooth = rng.poisson(rate[lo:hi, None], (hi - lo, DAYS))
        inter = (rng.random((hi - lo, DAYS)) < p_sale[lo:hi, None]) * (1 + rng.poisson(size[lo:hi, None],
                                                                                        (hi - lo, DAYS)))
        history[lo:hi] = np.where((kind[lo:hi] == 1)[:, None], inter, smooth)
    listed = rng.integers(5, 300, n)
    cols = np.arange(DAYS)
    history[(kind == 2)[:, None] & (cols[None, :] < DAYS - listed[:, None])] = np.nan
    surging = rng.random(n) < 0.03
    history[surging, -14:] *= 2.5
    lead = rng.uniform(3, 30, n).round()
    has_po = rng.random(n) < 0.33
    po_rows = np.flatnonzero(has_po)
    expected = np.where(kind == 1, p_sale * (1 + size), rate)
    return {
        "history": history,
        "lead_time": lead,
        "lead_time_std": rng.uniform(0, 0.3, n) * lead,
        "moq": rng.choice([1, 6, 12, 24, 50], n).astype(float),
        "pack": rng.choice([1, 1, 6, 12], n).astype(float),
        "capacity": np.where(rng.random(n) < 0.1, rng.integers(20, 500, n), np.inf).astype(float),
        "unit_cost": np.exp(rng.normal(2.5, 0.8, n)),
        "available": np.floor(expected * rng.uniform(0, 40, n)),
        "po_rows": po_rows,
        "po_eta": rng.integers(1, 30, po_rows.size).astype(float),
        "po_qty": np.ceil(expected[po_rows] * rng.uniform(5, 40, po_rows.size)),
    }


def plan(data: dict[str, np.ndarray]) -> dict[str, float]:
    """The timed planning pass; returns stage timings and a few counts."""
    n = data["history"].shape[0]
    c0, t0 = time.process_time(), time.perf_counter()
    est = estimate_batch(data["history"])
    t1 = time.perf_counter()
    service = class_service_levels(abc_classes_batch(est.mean_daily * 365.0 * data["unit_cost"]))
    t2 = time.perf_counter()
    incoming = np.bincount(data["po_rows"], weights=data["po_qty"], minlength=n)
    pol = policy_batch(
        est.mean_daily, est.std_daily, lead_time_days=data["lead_time"], lead_time_std_days=data["lead_time_std"],
        service_level=service, available=data["available"], incoming=incoming, moq=data["moq"],
        pack_size=data["pack"], capacity=data["capacity"],
    )
    t3 = time.perf_counter()
    out_days = stockout_days_batch(data["available"], est.mean_daily, data["po_rows"], data["po_eta"], data["po_qty"])
    risk = at_risk_batch(out_days, RISK_DAYS)
    at_risk_list = np.flatnonzero(risk)[np.argsort(out_days[risk], kind="stable")]
    t4, c4 = time.perf_counter(), time.process_time()
    inter = est.is_class(DemandClass.INTERMITTENT) | est.is_class(DemandClass.LUMPY)
    return {
        "demand_s": t1 - t0, "abc_s": t2 - t1, "policy_s": t3 - t2, "at_risk_s": t4 - t3, "total_s": t4 - t0,
        "total_cpu_s": c4 - c0,
        "reorders": int(pol.reorder.sum()), "at_risk": len(at_risk_list), "surges": int(est.surge.sum()),
        "intermittent": int(inter.sum()), "capped": int(pol.capped.sum()),
    }


def naive_python(data: dict[str, np.ndarray], rows: np.ndarray) -> tuple[float, int]:
    """Plain Python per SKU: the spreadsheet rule and a day-by-day walk for the stockout. Returns (s, at risk)."""
    pos_by_row: dict[int, list[tuple[float, float]]] = {}
    for r, e, q in zip(data["po_rows"].tolist(), data["po_eta"].tolist(), data["po_qty"].tolist(), strict=True):
        pos_by_row.setdefault(r, []).append((e, q))
    inputs = [(data["history"][r].tolist(), float(data["lead_time"][r]), float(data["available"][r]),
               float(data["moq"][r]), float(data["pack"][r]), float(data["capacity"][r]), pos_by_row.get(int(r), []))
              for r in rows]
    t0 = time.perf_counter()
    risky = 0
    for hist, lead, avail, moq, pack, cap, pos in inputs:
        window = [x for x in hist[-90:] if x == x]  # drop NaN (x != x)
        rate = sum(window) / len(window) if window else 0.0
        rop = rate * lead * 1.2
        incoming = sum(q for _, q in pos)
        if avail + incoming <= rop:
            need = rop + rate * 30 - avail - incoming
            qty = max(math.ceil(need), moq) if need > 0 else 0
            qty = math.ceil(qty / pack) * pack
            if qty > cap:
                qty = math.floor(cap / pack) * pack
        level, day = avail, 0
        while day < RISK_DAYS and level > 0:
            level += sum(q for e, q in pos if e == day) - rate
            day += 1
        risky += level <= 0
    return time.perf_counter() - t0, risky


def stockpilot_per_sku(data: dict[str, np.ndarray], rows: np.ndarray) -> float:
    """The same Stockpilot math through the single-SKU API, one SKU at a time (what the batch API saves)."""
    pos_by_row: dict[int, list[OpenPO]] = {}
    today = dt.date(2024, 1, 1)
    for r, e, q in zip(data["po_rows"].tolist(), data["po_eta"].tolist(), data["po_qty"].tolist(), strict=True):
        pos_by_row.setdefault(r, []).append(OpenPO(today + dt.timedelta(days=e), q))
    t0 = time.perf_counter()
    for r in rows.tolist():
        est = estimate_demand(data["history"][r])
        pos = pos_by_row.get(r, [])
        terms = SupplyTerms(float(data["lead_time"][r]), float(data["lead_time_std"][r]), int(data["moq"][r]),
                            int(data["pack"][r]), None if math.isinf(data["capacity"][r]) else int(data["capacity"][r]))
        plan_reorder(est.mean_daily, est.std_daily, terms, available=float(data["available"][r]),
                     incoming=sum(p.quantity for p in pos))
        stockout_days(float(data["available"][r]), est.mean_daily, pos, today=today)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--baseline-sample", type=int, default=2000)
    ap.add_argument("--per-sku-sample", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    figures: dict[str, object] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                              "numpy": np.__version__}, "days": DAYS, "runs": {}}
    for n in (int(s) for s in args.sizes.split(",")):
        data = synthesize(n, args.seed)
        if n <= 10_000:
            plan(data)  # warm-up at the small size only (imports, first-touch of allocations)
        got = plan(data)
        rng = np.random.default_rng(args.seed)
        sample = rng.choice(n, size=min(n, args.baseline_sample), replace=False)
        base_s, _ = naive_python(data, sample)
        base_full = base_s * n / len(sample)
        per_sku_sample = rng.choice(n, size=min(n, args.per_sku_sample), replace=False)
        per_sku_full = stockpilot_per_sku(data, per_sku_sample) * n / len(per_sku_sample)
        got |= {"baseline_python_naive_s_extrapolated": base_full, "baseline_sample": len(sample),
                "ratio_baseline_over_batch": base_full / got["total_s"],
                "stockpilot_per_sku_api_s_extrapolated": per_sku_full, "per_sku_sample": len(per_sku_sample),
                "ratio_per_sku_over_batch": per_sku_full / got["total_s"],
                "goal_s": 10.0 if n >= 100_000 else None}
        figures["runs"][str(n)] = got  # type: ignore[index]
        print(f"{n:>7} SKUs x {DAYS} d: total {got['total_s']:.2f} s wall, {got['total_cpu_s']:.2f} s CPU "
              f"(demand {got['demand_s']:.2f}, abc "
              f"{got['abc_s']:.2f}, policy {got['policy_s']:.2f}, at-risk {got['at_risk_s']:.2f}); "
              f"{got['intermittent']} intermittent, {got['surges']} surges, {got['reorders']} reorders, "
              f"{got['at_risk']} at risk in {RISK_DAYS} d")
        print(f"{'':>7} baseline, naive rule in plain Python per SKU: {base_full:.2f} s (extrapolated from "
              f"{len(sample)} SKUs) = {got['ratio_baseline_over_batch']:.2f}x the batch time (it computes far less: "
              f"one mean per SKU)")
        print(f"{'':>7} same Stockpilot math through the single-SKU API: {per_sku_full:.1f} s (extrapolated from "
              f"{len(per_sku_sample)} SKUs) = {got['ratio_per_sku_over_batch']:.0f}x the batch time"
              + (f"; goal < 10 s: {'met' if got['total_s'] < 10 else 'MISSED'}" if n >= 100_000 else ""))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
