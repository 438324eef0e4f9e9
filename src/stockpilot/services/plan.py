"""Planning: recompute every SKU's demand estimate and reorder policy, and the forecast view (cover, stockout).

`recompute()` reads a year of daily demand (imported history + orders) into one matrix, estimates demand for all
SKUs at once (domain.demand), takes each SKU's supply terms from its best-ranked supplier offer, computes the
policy in one vectorised pass (domain.policy) and stores the figures the triggers read (`sku_policies`). A SKU's
manual min/max and service level are respected; the naive rule is used only where a SKU is set to it.
`view()` projects days of cover and the stockout date (open POs arriving at their ETA) and flags SKUs at risk.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, select

from stockpilot.adapters.db import demand_series, demand_store, po_store, raw, supplier_store
from stockpilot.adapters.db.at_risk_store import at_risk_candidates, candidates_query
from stockpilot.adapters.db.tables import sku_policies
from stockpilot.domain.abc_analysis import abc_classes_batch, class_service_levels
from stockpilot.domain.coverage import DEFAULT_RISK_DAYS, at_risk_batch, days_of_cover_batch, stockout_days_batch
from stockpilot.domain.demand import CLASSES, METHODS, estimate_batch
from stockpilot.domain.demand_events import PlannedEvent
from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.policy import naive_batch, policy_batch
from stockpilot.domain.purchasing import POStatus
from stockpilot.domain.suppliers import rank
from stockpilot.services.context import Context

HISTORY_DAYS = 365
DEFAULT_LEAD_TIME_DAYS = 14.0  # assumed for a SKU with no supplier offer yet (said so in its explanation)
INCOMING_STATUSES = (POStatus.SENT, POStatus.ACKNOWLEDGED, POStatus.PARTIALLY_RECEIVED)


@dataclass(frozen=True)
class RecomputeReport:
    skus: int
    seconds_reading: float
    seconds_computing: float
    seconds_writing: float
    at_risk: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PlanService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def recompute(self) -> RecomputeReport:
        started = time.perf_counter()
        now = self.ctx.clock.now()
        today = now.date()
        with self.ctx.db.read() as conn:
            rows = demand_store.sku_index(conn)
            history, series_update = demand_series.read(conn, rows, today, HISTORY_DAYS)
            terms = self._terms(conn, rows, now)
            settings = {r.sku_id: r for r in map(_Setting._make, raw.execute(conn, _SETTINGS).fetchall())}
            open_pos = po_store.open_quantities(conn, None, [s.value for s in INCOMING_STATUSES])
            events = demand_store.events_between(conn, today, today + timedelta(days=365))
        read = time.perf_counter()
        n = len(rows)
        if n == 0:
            return RecomputeReport(0, read - started, 0.0, 0.0, 0)
        ids = [r.id for r in rows]
        lead, spread, moq, pack = (np.array([terms[i][k] for i in ids], dtype=np.float64) for k in range(4))
        capacity = np.array([terms[i][4] if terms[i][4] is not None else np.inf for i in ids])
        cost = np.array([terms[i][6] for i in ids], dtype=np.float64)
        cover = np.array([_or(settings.get(i), "target_cover_days", self.ctx.settings.target_cover_days)
                          for i in ids])
        lo = np.array([_or(settings.get(i), "manual_min", np.nan) for i in ids], dtype=np.float64)
        hi = np.array([_or(settings.get(i), "manual_max", np.nan) for i in ids], dtype=np.float64)
        available = np.array([r.on_hand - r.committed - r.reserved for r in rows], dtype=np.float64)
        incoming = np.array([r.incoming for r in rows], dtype=np.float64)

        planned, event_rows = _events(events, ids)
        demand = estimate_batch(history, today=today, events=planned, event_rows=event_rows, horizon_days=lead)
        classes, level = self._service_levels(demand.mean_daily, cost, [settings.get(i) for i in ids])
        costs = self._eoq_costs(cost)
        policy = policy_batch(demand.mean_daily, demand.std_daily, lead_time_days=lead, lead_time_std_days=spread,
                              service_level=level, available=available, incoming=incoming, cover_days=cover,
                              moq=moq, pack_size=pack, capacity=capacity, manual_min=lo, manual_max=hi, **costs)
        naive_rows = np.array([_or(settings.get(i), "policy", "stockpilot") == "naive" for i in ids])
        if naive_rows.any():
            naive = naive_batch(demand.base_mean_daily, lead_time_days=lead, cover_days=cover, available=available,
                                incoming=incoming)
            rop = np.where(naive_rows, naive.reorder_point, policy.reorder_point)
            ss = np.where(naive_rows, naive.safety_stock, policy.safety_stock)
            up_to = np.where(naive_rows, naive.order_up_to, policy.order_up_to)
        else:
            rop, ss, up_to = policy.reorder_point, policy.safety_stock, policy.order_up_to
        computed = time.perf_counter()

        rows_out = _policy_rows(ids, demand, policy, rop, ss, up_to, naive_rows, lo, lead, spread,
                                [terms[i][5] for i in ids], classes, now)
        def write(conn: Connection) -> None:
            # The cache moves only with a recompute that stored its policies; a lost race keeps the winner's.
            demand_series.save(conn, series_update)
            _store(conn, rows_out)

        self.ctx.db.write(write)
        written = time.perf_counter()
        out_days = _stockout_days(available, demand.mean_daily, ids, open_pos, today)
        at_risk = int(at_risk_batch(out_days, DEFAULT_RISK_DAYS).sum())
        return RecomputeReport(n, read - started, computed - read, written - computed, at_risk)

    def view(self, *, horizon_days: int = 7, at_risk_only: bool = False, limit: int | None = 100,
             sku: str | None = None) -> list[dict[str, Any]]:
        """Per SKU: available, incoming, demand, days of cover, projected stockout date, policy, at risk."""
        today = self.ctx.clock.now().date()
        with self.ctx.db.read() as conn:
            wanted = select(sku_policies)
            if at_risk_only and sku is None:  # only SKUs that can run out in time (at_risk_store explains)
                rows = at_risk_candidates(conn, horizon_days)
                wanted = wanted.where(sku_policies.c.sku_id.in_(candidates_query(horizon_days)))
                pos = po_store.open_quantities(conn, None, [s.value for s in INCOMING_STATUSES])
            else:
                rows = demand_store.sku_index(conn, sku)
                if sku is not None:
                    wanted = wanted.where(sku_policies.c.sku_id.in_([r.id for r in rows]))
                pos = po_store.open_quantities(conn, [r.id for r in rows], [s.value for s in INCOMING_STATUSES])
            policies = {r.sku_id: r for r in conn.execute(wanted)}
        available = np.array([r.on_hand - r.committed - r.reserved for r in rows], dtype=np.float64)
        mean = np.array([(policies[r.id].mean_daily or 0.0) if r.id in policies else 0.0 for r in rows])
        out_days = _stockout_days(available, mean, [r.id for r in rows], pos, today)
        cover = days_of_cover_batch(available, mean) if rows else np.array([])
        risk = at_risk_batch(out_days, horizon_days) if rows else np.array([], dtype=bool)
        result = []
        for k, r in enumerate(rows):
            if at_risk_only and not risk[k]:
                continue
            p = policies.get(r.id)
            result.append({
                "sku": r.sku, "available": int(available[k]), "incoming": r.incoming,
                "mean_daily": round(float(mean[k]), 4),
                "days_of_cover": None if math.isinf(cover[k]) else round(float(cover[k]), 1),
                "stockout_date": None if math.isinf(out_days[k]) else
                (today + timedelta(days=math.floor(out_days[k]))).isoformat(),
                "at_risk": bool(risk[k]),
                "open_pos": [{"quantity": q, "eta": e.isoformat() if e else None} for q, e in pos.get(r.id, [])],
                "reorder_point": p.reorder_point if p else None, "safety_stock": p.safety_stock if p else None,
                "order_up_to": p.order_up_to if p else None, "demand_class": p.demand_class if p else None,
                "manual_min": p.manual_min if p else None, "manual_max": p.manual_max if p else None,
                "computed_at": p.computed_at.isoformat() if p and p.computed_at else None,
                "explanation": p.explanation if p else None,
            })
        result.sort(key=lambda x: (not x["at_risk"], x["stockout_date"] or "9999", x["sku"]))
        return result if limit is None else result[:limit]

    def _service_levels(self, mean_daily: np.ndarray, unit_cost: np.ndarray, own: list[Any]
                        ) -> tuple[np.ndarray | None, np.ndarray]:
        """Per SKU: its own service level, else its ABC class's (when STOCKPILOT_SERVICE_BY_CLASS is set), else the
        default. ABC classes rank SKUs by annual demand value (unit cost of the best offer; 1 where none)."""
        default = np.full(len(own), self.ctx.settings.service_level)
        classes = None
        if self.ctx.settings.service_by_class:
            table = _class_table(self.ctx.settings.service_by_class)
            classes = abc_classes_batch(mean_daily * 365.0 * np.where(np.isnan(unit_cost), 1.0, unit_cost))
            by_class = class_service_levels(classes, table)
            default = np.where(np.isnan(by_class), default, by_class)
        levels = np.array([row.service_level if row is not None and row.service_level is not None else default[k]
                           for k, row in enumerate(own)], dtype=np.float64)
        return classes, levels

    def _eoq_costs(self, unit_cost: np.ndarray) -> dict[str, Any]:
        """EOQ inputs when ordering and holding costs are configured; otherwise order up to the target cover."""
        s = self.ctx.settings
        if s.ordering_cost is None or s.holding_rate is None:
            return {}
        return {"unit_cost": unit_cost, "ordering_cost": s.ordering_cost, "holding_cost_rate": s.holding_rate}

    def _terms(self, conn: Connection, rows: list[Any], now: datetime) -> dict[int, tuple[Any, ...]]:
        """(lead time, spread, MOQ, pack, capacity, supplier, unit cost) per SKU from its best-ranked offer."""
        offers: dict[int, list[dict[str, Any]]] = {}
        for offer in supplier_store.all_offers(conn):
            offers.setdefault(offer["sku_id"], []).append(offer)
        perf = supplier_store.performance(conn, sorted({o["supplier_id"] for os_ in offers.values() for o in os_}),
                                          now)
        terms: dict[int, tuple[Any, ...]] = {}
        for r in rows:
            mine = offers.get(r.id, [])
            if len(mine) == 1:  # one offer: the ranking could only choose it (if available) — skip its cost
                best = mine[0] if mine[0]["available"] else None
            else:
                ranking = rank([supplier_store.as_offer(o, perf[o["supplier_id"]]) for o in mine], 1,
                               today=now.date())
                best = next((o for o in mine if o["code"] == ranking.chosen), None)
            if best is None:
                terms[r.id] = (DEFAULT_LEAD_TIME_DAYS, 0.0, 1, 1, None, None, np.nan)
            else:
                terms[r.id] = (best["lead_time_days"], best["lead_time_spread_days"], best["moq"], best["pack_size"],
                               best["capacity"], best["code"], float(best["unit_cost"]))
        return terms


def _stockout_days(available: np.ndarray, mean: np.ndarray, ids: list[int], open_pos: dict[int, list[Any]],
                   today: Any) -> np.ndarray:
    """Days until each SKU runs out at its mean rate, open POs arriving at their ETA (overdue ones: today)."""
    if not ids:
        return np.array([])
    po_rows, po_eta, po_qty = [], [], []
    for k, sku_id in enumerate(ids):
        for quantity, eta in open_pos.get(sku_id, []):
            po_rows.append(k)
            po_eta.append(float((eta - today).days) if eta else 0.0)
            po_qty.append(float(quantity))
    return stockout_days_batch(available, mean, np.array(po_rows, dtype=np.int64), np.array(po_eta),
                               np.array(po_qty))


def _class_table(text: str) -> dict[str, float]:
    """"A=0.98,B=0.95,C=0.90" -> {"A": 0.98, ...}; a malformed entry names itself."""
    table: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            level = float(value)
        except ValueError:
            raise ValidationFailed(f"STOCKPILOT_SERVICE_BY_CLASS: {part!r} is not CLASS=LEVEL") from None
        if name.strip().upper() not in ("A", "B", "C") or not 0.5 <= level < 1:
            raise ValidationFailed(f"STOCKPILOT_SERVICE_BY_CLASS: {part!r}: class A, B or C, level in [0.5, 1)")
        table[name.strip().upper()] = level
    return table


class _Setting(NamedTuple):
    sku_id: int
    service_level: float | None
    manual_min: int | None
    manual_max: int | None
    target_cover_days: float | None
    policy: str


_SETTINGS = raw.Sql("SELECT sku_id, service_level, manual_min, manual_max, target_cover_days, policy "
                    "FROM sku_policies")


def _or(row: Any, name: str, default: Any) -> Any:
    value = getattr(row, name, None) if row is not None else None
    return default if value is None else value


def _events(events: list[Any], ids: list[int]) -> tuple[list[PlannedEvent], np.ndarray | None]:
    if not events:
        return [], None
    index = {sku_id: k for k, sku_id in enumerate(ids)}
    mask = np.zeros((len(events), len(ids)), dtype=bool)
    planned = []
    for e, row in enumerate(events):
        planned.append(PlannedEvent(row.starts_on, row.ends_on, row.multiplier, row.name))
        if row.sku_id is None:
            mask[e, :] = True
        elif row.sku_id in index:
            mask[e, index[row.sku_id]] = True
    return planned, mask


_COMPUTED = ("mean_daily", "std_daily", "demand_class", "reorder_point", "safety_stock", "order_up_to",
             "explanation", "computed_at", "updated_at")
_STORE = raw.Sql(
    f"INSERT INTO sku_policies (sku_id, policy, {', '.join(_COMPUTED)}) VALUES (?, ?, {', '.join('?' * 9)}) "
    f"ON CONFLICT (sku_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _COMPUTED)}"
)


def _store(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Every SKU's computed policy in one executemany on the driver (Core would cost ~5x as much per row)."""
    if rows:
        at = raw.time_value(conn, rows[0][-1])
        raw.executemany(conn, _STORE, [(*row[:-1], at, at) for row in rows])


def _policy_rows(ids: list[int], demand: Any, policy: Any, rop: np.ndarray, ss: np.ndarray, up_to: np.ndarray,
                 naive: np.ndarray, manual_min: np.ndarray, lead: np.ndarray, spread: np.ndarray,
                 suppliers: list[str | None], classes: np.ndarray | None, now: datetime) -> list[tuple[Any, ...]]:
    """(sku_id, policy, mean, std, class, reorder point, safety stock, order-up-to, explanation JSON, now) per SKU.

    Built from whole arrays (`tolist`) and a JSON template rather than a dict and json.dumps per SKU: at 100,000
    SKUs the per-row Python work was a third of the recompute. Every value is finite or null, so the template's
    text is valid JSON."""
    def ceil(a: np.ndarray) -> list[int]:
        return np.ceil(a - 1e-9).astype(np.int64).tolist()

    def opt(a: np.ndarray, digits: int) -> list[str]:
        return ["null" if math.isnan(x) else repr(x) for x in np.round(a, digits).tolist()]

    method = [json.dumps(m.value) for m in METHODS]
    demand_class = [c.value for c in CLASSES]
    rule = np.where(naive, "naive", np.where(np.isnan(manual_min), "stockpilot", "manual_minmax")).tolist()
    abc = ["null"] * len(ids) if classes is None else [f'"{c}"' for c in classes.tolist()]
    columns = zip(
        ids, demand.mean_daily.tolist(), demand.std_daily.tolist(), demand.class_code.tolist(), ceil(rop), ceil(ss),
        ceil(up_to), demand.method_code.tolist(), demand.surge.tolist(), np.round(demand.recent_velocity, 4).tolist(),
        np.round(demand.long_velocity, 4).tolist(), np.round(demand.event_factor, 4).tolist(),
        demand.observations.tolist(), opt(policy.service_level, 4), opt(policy.z, 4), lead.tolist(), spread.tolist(),
        [json.dumps(code) for code in suppliers], abc, opt(policy.eoq, 1), rule, naive.tolist(), strict=True,
    )
    return [
        (sku_id, "naive" if is_naive else "stockpilot", mean, std, demand_class[cls], r, s_, u,
         f'{{"method": {method[m]}, "surge": {"true" if surge else "false"}, "recent_velocity": {rv!r}, '
         f'"long_velocity": {lv!r}, "event_factor": {ef!r}, "observations": {obs}, "service_level": {sl}, '
         f'"z": {z}, "lead_time_days": {lt!r}, "lead_time_spread_days": {ls!r}, "supplier": {sup}, '
         f'"abc_class": {cl}, "eoq": {eoq}, "rule": "{ru}"}}', now)
        for (sku_id, mean, std, cls, r, s_, u, m, surge, rv, lv, ef, obs, sl, z, lt, ls, sup, cl, eoq, ru,
             is_naive) in columns
    ]
