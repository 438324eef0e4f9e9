"""Reorder policy: reorder point, safety stock, order quantity (cover or EOQ, MOQ, pack, capacity), manual min/max.

One implementation, vectorised: `policy_batch` computes every figure for arrays of SKUs; `plan_reorder` is that
function on one SKU and adds the reasons a decision log shows. The naive rule ("daily sales x lead time + 20%")
goes through the same rounding so the comparison is like for like; it exists for comparison only.

Formulas (d, sd: mean and spread of daily demand; L, sL: mean and spread of the lead time in days):
    safety stock  = z(service level) * sqrt(L * sd^2 + d^2 * sL^2)      (demand and lead-time variability)
    reorder point = d * L + safety stock
    order-up-to   = reorder point + d * cover_days, or reorder point + EOQ when costs are given
    EOQ           = sqrt(2 * D * S / H), D = 365 d, S = cost per order, H = holding rate * unit cost
    quantity      = order-up-to - position, rounded up to MOQ and to a multiple of the pack, capped by capacity
Reorder when position (available + incoming) <= reorder point. A manual min/max replaces reorder point (min)
and order-up-to (max); the supplier's MOQ, pack and capacity still apply, since a PO has to be one it accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from statistics import NormalDist

import numpy as np

ArrayLike = float | int | np.ndarray

DEFAULT_SERVICE_LEVEL = 0.95
DEFAULT_COVER_DAYS = 30.0
NAIVE_UPLIFT = 0.20


class PolicyMethod(StrEnum):
    STOCKPILOT = "stockpilot"
    NAIVE = "naive"
    MANUAL_MINMAX = "manual_minmax"


METHODS: tuple[PolicyMethod, ...] = tuple(PolicyMethod)


@dataclass(frozen=True, slots=True)
class SupplyTerms:
    """What one supplier's offer imposes. `capacity` None = no limit per order; costs None = no EOQ."""

    lead_time_days: float
    lead_time_std_days: float = 0.0
    moq: int = 1
    pack_size: int = 1
    capacity: int | None = None
    unit_cost: float | None = None
    ordering_cost: float | None = None
    holding_cost_rate: float | None = None


@dataclass(frozen=True, slots=True)
class ManualMinMax:
    minimum: float
    maximum: float


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """One SKU's replenishment decision with each figure a decision log shows."""

    method: PolicyMethod
    reorder_point: float
    safety_stock: float
    lead_time_demand: float
    order_up_to: float
    position: float
    reorder: bool
    need: float
    order_quantity: int
    capped: bool
    service_level: float | None
    z: float | None
    eoq: float | None
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures (non-finite numbers as None) for a decision log."""
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            out[name] = (v.value if isinstance(v, StrEnum) else list(v) if isinstance(v, tuple)
                         else None if isinstance(v, float) and not math.isfinite(v) else v)
        return out


@dataclass(frozen=True, slots=True)
class PolicyBatch:
    """`policy_batch` output: arrays, index = SKU row. NaN where a figure does not apply (z under min/max)."""

    method_code: np.ndarray
    reorder_point: np.ndarray
    safety_stock: np.ndarray
    lead_time_demand: np.ndarray
    order_up_to: np.ndarray
    position: np.ndarray
    reorder: np.ndarray
    need: np.ndarray
    order_quantity: np.ndarray
    capped: np.ndarray
    service_level: np.ndarray
    z: np.ndarray
    eoq: np.ndarray

    def __len__(self) -> int:
        return int(self.reorder_point.shape[0])

    def result(self, i: int, reasons: tuple[str, ...] = ()) -> PolicyResult:
        def opt(a: np.ndarray) -> float | None:
            return None if np.isnan(a[i]) else float(a[i])

        return PolicyResult(
            method=METHODS[int(self.method_code[i])], reorder_point=float(self.reorder_point[i]),
            safety_stock=float(self.safety_stock[i]), lead_time_demand=float(self.lead_time_demand[i]),
            order_up_to=float(self.order_up_to[i]), position=float(self.position[i]), reorder=bool(self.reorder[i]),
            need=float(self.need[i]), order_quantity=int(self.order_quantity[i]), capped=bool(self.capped[i]),
            service_level=opt(self.service_level), z=opt(self.z), eoq=opt(self.eoq), reasons=reasons,
        )


def z_score(service_level: float) -> float:
    """z such that P(N(0,1) <= z) = service_level (cycle service level)."""
    if not 0.0 < service_level < 1.0:
        raise ValueError("service level must be strictly between 0 and 1")
    return NormalDist().inv_cdf(service_level)


def z_scores(service_level: ArrayLike) -> np.ndarray:
    """Vectorised z_score: service levels take few distinct values (per ABC class), so invert each once.
    NaN (no level, e.g. a manual min/max row) gives NaN."""
    levels = np.asarray(service_level, dtype=np.float64)
    uniq, inverse = np.unique(levels, return_inverse=True)
    z = np.array([math.nan if math.isnan(u) else z_score(float(u)) for u in uniq.tolist()])
    return z[inverse.reshape(levels.shape)]


def safety_stock(
    z: ArrayLike, mean_daily: ArrayLike, std_daily: ArrayLike, lead_time_days: ArrayLike,
    lead_time_std_days: ArrayLike = 0.0,
) -> np.ndarray | float:
    """z * sqrt(L * sd^2 + d^2 * sL^2): spread of demand over a lead time that itself varies."""
    return z * np.sqrt(lead_time_days * np.square(std_daily) + np.square(mean_daily) * np.square(lead_time_std_days))


def eoq(annual_demand: ArrayLike, ordering_cost: ArrayLike, holding_cost_per_unit_year: ArrayLike) -> np.ndarray:
    """Economic order quantity sqrt(2DS/H); NaN when H is not positive or a cost is unknown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.asarray(holding_cost_per_unit_year, dtype=np.float64)
        return np.where(h > 0, np.sqrt(2.0 * np.asarray(annual_demand) * ordering_cost / np.where(h > 0, h, 1.0)),
                        np.nan)


def should_reorder(position: ArrayLike, reorder_point: ArrayLike) -> np.ndarray | bool:
    """Reorder when position (available + incoming) has fallen to the reorder point."""
    return np.asarray(position) <= np.asarray(reorder_point)


def round_order_quantities(
    need: ArrayLike, moq: ArrayLike = 1, pack_size: ArrayLike = 1, capacity: ArrayLike = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Round a need up to the MOQ and to a multiple of the pack; then cap at the largest multiple of the pack
    the supplier's capacity allows. Returns (quantity as int64, capped). No need (<= 0) orders nothing."""
    need = np.asarray(need, dtype=np.float64)
    pack = np.maximum(np.asarray(pack_size, dtype=np.float64), 1.0)
    units = np.maximum(np.ceil(need - 1e-9), np.asarray(moq, dtype=np.float64))
    qty = np.where(need > 0, np.ceil(units / pack) * pack, 0.0)
    cap = np.asarray(capacity, dtype=np.float64)
    capped = qty > cap
    qty = np.where(capped, np.floor(cap / pack) * pack, qty)
    return qty.astype(np.int64), capped


def round_order_quantity(
    need: float, moq: int = 1, pack_size: int = 1, capacity: int | None = None,
) -> tuple[int, bool]:
    qty, capped = round_order_quantities(need, moq, pack_size, np.inf if capacity is None else capacity)
    return int(qty), bool(capped)


def policy_batch(
    mean_daily: ArrayLike,
    std_daily: ArrayLike,
    *,
    lead_time_days: ArrayLike,
    lead_time_std_days: ArrayLike = 0.0,
    service_level: ArrayLike = DEFAULT_SERVICE_LEVEL,
    available: ArrayLike = 0.0,
    incoming: ArrayLike = 0.0,
    cover_days: ArrayLike = DEFAULT_COVER_DAYS,
    moq: ArrayLike = 1,
    pack_size: ArrayLike = 1,
    capacity: ArrayLike = np.inf,
    unit_cost: ArrayLike = np.nan,
    ordering_cost: ArrayLike = np.nan,
    holding_cost_rate: ArrayLike = np.nan,
    manual_min: ArrayLike = np.nan,
    manual_max: ArrayLike = np.nan,
) -> PolicyBatch:
    """Every policy figure for arrays of SKUs (scalars broadcast). NaN costs = no EOQ; NaN min/max = none."""
    inputs = (mean_daily, std_daily, lead_time_days, lead_time_std_days, service_level, cover_days, available,
              incoming, manual_min, manual_max)
    d, sd, lt, slt, sl, cover, avail, inc, lo, hi = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in inputs))
    z = z_scores(sl)
    ss = safety_stock(z, d, sd, lt, slt)
    ltd = d * lt
    q_eoq = eoq(365.0 * d, ordering_cost, np.asarray(holding_cost_rate, dtype=np.float64) * unit_cost)
    q_eoq = np.broadcast_to(q_eoq, d.shape)
    rop = ltd + ss
    up_to = rop + np.where(np.isnan(q_eoq), d * cover, q_eoq)
    manual = ~np.isnan(lo) & ~np.isnan(hi)
    method = np.where(manual, np.int8(METHODS.index(PolicyMethod.MANUAL_MINMAX)), np.int8(0)).astype(np.int8)
    return _assemble(
        method=method, rop=np.where(manual, lo, rop), ss=np.where(manual, 0.0, ss), ltd=ltd,
        up_to=np.where(manual, hi, up_to), position=avail + inc, moq=moq, pack=pack_size, capacity=capacity,
        service_level=np.where(manual, np.nan, sl), z=np.where(manual, np.nan, z), eoq=np.where(manual, np.nan, q_eoq),
    )


def naive_batch(
    avg_daily_sales: ArrayLike,
    *,
    lead_time_days: ArrayLike,
    available: ArrayLike = 0.0,
    incoming: ArrayLike = 0.0,
    uplift: float = NAIVE_UPLIFT,
    cover_days: ArrayLike = DEFAULT_COVER_DAYS,
    recent_daily_sales: ArrayLike | None = None,
    moq: ArrayLike = 1,
    pack_size: ArrayLike = 1,
    capacity: ArrayLike = np.inf,
) -> PolicyBatch:
    """The spreadsheet rule, for comparison only: reorder point = daily sales x lead time x (1 + uplift), order
    up to it plus `cover_days` of sales. Surge variant: pass the 14-day rate as `recent_daily_sales`, and the
    higher of the two rates is used."""
    d = np.atleast_1d(np.asarray(avg_daily_sales, dtype=np.float64))
    if recent_daily_sales is not None:
        d = np.maximum(d, np.asarray(recent_daily_sales, dtype=np.float64))
    d, lt, cover, avail, inc = np.broadcast_arrays(d, *(np.asarray(a, dtype=np.float64) for a in (
        lead_time_days, cover_days, available, incoming)))
    ltd = d * lt
    nan = np.full(d.shape, np.nan)
    return _assemble(
        method=np.full(d.shape, np.int8(METHODS.index(PolicyMethod.NAIVE))), rop=ltd * (1 + uplift),
        ss=ltd * uplift, ltd=ltd, up_to=ltd * (1 + uplift) + d * cover, position=avail + inc, moq=moq,
        pack=pack_size, capacity=capacity, service_level=nan, z=nan, eoq=nan,
    )


def _assemble(
    *, method: np.ndarray, rop: np.ndarray, ss: np.ndarray, ltd: np.ndarray, up_to: np.ndarray,
    position: np.ndarray, moq: ArrayLike, pack: ArrayLike, capacity: ArrayLike, service_level: np.ndarray,
    z: np.ndarray, eoq: np.ndarray,
) -> PolicyBatch:
    reorder = np.asarray(should_reorder(position, rop))
    need = np.where(reorder, np.maximum(up_to - position, 0.0), 0.0)
    qty, capped = round_order_quantities(need, moq, pack, capacity)
    return PolicyBatch(
        method_code=method, reorder_point=rop, safety_stock=ss, lead_time_demand=ltd, order_up_to=up_to,
        position=position, reorder=reorder, need=need, order_quantity=np.broadcast_to(qty, rop.shape),
        capped=np.broadcast_to(capped, rop.shape), service_level=service_level, z=z, eoq=eoq,
    )


def plan_reorder(
    mean_daily: float,
    std_daily: float,
    terms: SupplyTerms,
    *,
    available: float,
    incoming: float = 0.0,
    service_level: float = DEFAULT_SERVICE_LEVEL,
    cover_days: float = DEFAULT_COVER_DAYS,
    manual: ManualMinMax | None = None,
) -> PolicyResult:
    """One SKU: `policy_batch` on one row, with its reasons."""
    b = policy_batch(
        mean_daily, std_daily, lead_time_days=terms.lead_time_days, lead_time_std_days=terms.lead_time_std_days,
        service_level=service_level, available=available, incoming=incoming, cover_days=cover_days,
        **_supplier_args(terms), **_cost_args(terms),
        manual_min=np.nan if manual is None else manual.minimum,
        manual_max=np.nan if manual is None else manual.maximum,
    )
    r = b.result(0)
    lines = [f"demand {mean_daily:.3f}/day ± {std_daily:.3f}; lead time {terms.lead_time_days:g} ± "
             f"{terms.lead_time_std_days:g} d -> {r.lead_time_demand:.1f} units over the lead time"]
    if r.method is PolicyMethod.MANUAL_MINMAX:
        lines.append(f"manual min/max {r.reorder_point:g}/{r.order_up_to:g} overrides the computed policy")
    else:
        lines.append(f"safety stock {r.safety_stock:.1f} = z {r.z:.3f} ({r.service_level:.1%} cycle service) "
                     f"x sqrt(L·sd² + d²·sL²)")
        lines.append(f"reorder point {r.reorder_point:.1f} = {r.lead_time_demand:.1f} + {r.safety_stock:.1f}")
        lines.append(f"order up to {r.order_up_to:.1f}: " + (
            f"reorder point + EOQ {r.eoq:.1f}" if r.eoq is not None else f"reorder point + {cover_days:g} d cover"))
    lines += _order_reasons(r, available, incoming, terms)
    return _with_reasons(r, lines)


def naive_policy(
    avg_daily_sales: float,
    terms: SupplyTerms,
    *,
    available: float,
    incoming: float = 0.0,
    uplift: float = NAIVE_UPLIFT,
    cover_days: float = DEFAULT_COVER_DAYS,
    recent_daily_sales: float | None = None,
) -> PolicyResult:
    """One SKU under the naive rule (comparison only)."""
    r = naive_batch(
        avg_daily_sales, lead_time_days=terms.lead_time_days, available=available, incoming=incoming, uplift=uplift,
        cover_days=cover_days, recent_daily_sales=recent_daily_sales, **_supplier_args(terms),
    ).result(0)
    rate = avg_daily_sales if recent_daily_sales is None else max(avg_daily_sales, recent_daily_sales)
    lines = [f"naive rule (comparison only): {rate:.3f}/day x {terms.lead_time_days:g} d x {1 + uplift:g} = "
             f"reorder point {r.reorder_point:.1f}"
             + (" (14-day surge variant)" if recent_daily_sales is not None else "")]
    lines += _order_reasons(r, available, incoming, terms)
    return _with_reasons(r, lines)


@dataclass(frozen=True, slots=True)
class OrderQuantity:
    quantity: int
    need: float
    capped: bool
    reasons: tuple[str, ...]


def oversell_quantity(deficit: float, *, incoming: float, order_up_to: float, terms: SupplyTerms) -> OrderQuantity:
    """An oversell orders the deficit plus what returns the SKU to its target cover, less what is already on
    order: deficit + order_up_to - incoming (= order-up-to minus a position of -deficit + incoming)."""
    need = float(max(deficit + order_up_to - incoming, 0.0))
    qty, capped = round_order_quantity(need, terms.moq, terms.pack_size, terms.capacity)
    lines = [f"oversell: deficit {deficit:g} + order-up-to {order_up_to:.1f} - incoming {incoming:g} = need {need:.1f}"]
    lines += _rounding_reasons(need, qty, capped, terms)
    return OrderQuantity(quantity=qty, need=need, capped=capped, reasons=tuple(lines))


def _supplier_args(t: SupplyTerms) -> dict[str, float]:
    return {"moq": t.moq, "pack_size": t.pack_size, "capacity": np.inf if t.capacity is None else t.capacity}


def _cost_args(t: SupplyTerms) -> dict[str, float]:
    def val(v: float | None) -> float:
        return np.nan if v is None else v

    return {"unit_cost": val(t.unit_cost), "ordering_cost": val(t.ordering_cost),
            "holding_cost_rate": val(t.holding_cost_rate)}


def _order_reasons(r: PolicyResult, available: float, incoming: float, terms: SupplyTerms) -> list[str]:
    cmp = "<=" if r.reorder else ">"
    lines = [f"position {r.position:g} = available {available:g} + incoming {incoming:g} {cmp} reorder point "
             f"{r.reorder_point:.1f}: " + ("reorder" if r.reorder else "no order")]
    if r.reorder:
        lines.append(f"need {r.need:.1f} = order-up-to {r.order_up_to:.1f} - position {r.position:g}")
        lines += _rounding_reasons(r.need, r.order_quantity, r.capped, terms)
    return lines


def _rounding_reasons(need: float, qty: int, capped: bool, terms: SupplyTerms) -> list[str]:
    if need <= 0:
        return ["nothing to order"]
    lines = [f"rounded {need:.1f} -> {qty} (MOQ {terms.moq}, pack {terms.pack_size})"] if not capped else []
    if capped:
        lines.append(f"capped at supplier capacity {terms.capacity} per order: {qty} of {need:.1f} needed")
    return lines


def _with_reasons(r: PolicyResult, lines: list[str]) -> PolicyResult:
    return replace(r, reasons=tuple(lines))
