"""Stateful property test: random operation sequences against the real services and a real database.

A small Python model keeps what the ledger must say — on hand per (SKU, location), every reservation with its
lines, status and expiry, every order with its lines — and predicts each outcome: whether a cart fits (with
overdue holds counted as free, because a buyer may never be blocked by them even when the sweep has not run),
whether a fulfilment, transfer or adjustment is refused, what a replay returns. After every step the database
must agree with the model to the unit, `check()` must be clean (ledger fold == levels, SKU totals == sum of
levels, reserved == active holds, committed == open order units), no bucket may be negative, and a reservation
or order on a `deny` SKU must never have left `available` below zero where it took units.

Each example gets a fresh database: a copy of the migrated SQLite template, or the PostgreSQL test database
truncated again. Hypothesis drives the machine from inside the test, so the fixtures stay function-scoped.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, select, text

from stockpilot.adapters.db.database import normalise_url
from stockpilot.adapters.db.tables import locations, metadata, orders, reservations, skus, stock_levels
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.domain.errors import Conflict, IdempotencyConflict, InsufficientStock, ReservationExpired
from stockpilot.domain.model import BackorderPolicy, availability_floor
from stockpilot.domain.reservations import RequestedLine, merge_lines

# Equal priorities: routing then ranks by availability, then code, which the model has to follow for backorders.
LOCATIONS = {"wh1": 1, "wh2": 1}
SKUS: dict[str, tuple[BackorderPolicy, int | None]] = {
    "D1": (BackorderPolicy.DENY, None),
    "D2": (BackorderPolicy.DENY, None),
    "AL": (BackorderPolicy.ALLOW, 3),
}
PAIRS = [(sku, loc) for sku in SKUS for loc in LOCATIONS]

MACHINE_SETTINGS = settings(
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

sku_codes = st.sampled_from(sorted(SKUS))
location_codes = st.sampled_from(sorted(LOCATIONS))
carts = st.lists(
    st.tuples(sku_codes, st.integers(1, 4), st.sampled_from([None, None, "wh1", "wh2"])), min_size=1, max_size=3
)


@dataclass
class Hold:
    reference: str
    lines: list[tuple[str, str, int]]  # (sku, location, quantity) as placed
    expires_at: datetime
    status: str = "active"
    order_id: int | None = None


@dataclass
class OrderLine:
    sku: str
    location: str
    quantity: int
    fulfilled: int = 0
    cancelled: int = 0
    returned: int = 0

    @property
    def open(self) -> int:
        return self.quantity - self.fulfilled - self.cancelled


@dataclass
class Order:
    reference: str
    lines: list[OrderLine]
    status: str = "open"


@dataclass
class Model:
    on_hand: dict[tuple[str, str], int] = field(default_factory=lambda: dict.fromkeys(PAIRS, 0))
    holds: dict[int, Hold] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)

    def committed(self, sku: str, loc: str) -> int:
        return sum(ln.open for o in self.orders.values() for ln in o.lines if (ln.sku, ln.location) == (sku, loc))

    def reserved(self, sku: str, loc: str, now: datetime, *, effective: bool) -> int:
        """Units held at (sku, loc); `effective` leaves out holds that are overdue (free in effect)."""
        return sum(
            q
            for h in self.holds.values()
            if h.status == "active" and not (effective and h.expires_at <= now)
            for s, lc, q in h.lines
            if (s, lc) == (sku, loc)
        )

    def available(self, sku: str, loc: str, now: datetime, *, effective: bool) -> int:
        return self.on_hand[(sku, loc)] - self.committed(sku, loc) - self.reserved(sku, loc, now, effective=effective)


def predict_cart(model: Model, lines: list[RequestedLine], now: datetime) -> str | None:
    """None if the cart fits, else the SKU the allocator must name in InsufficientStock.

    Lines are taken in merge_lines order; for one SKU the explicit locations come first, then one routed line.
    A routed line fits when the positive availability over all locations covers it (whole or split); failing
    that, a backorder SKU may take it at its top-ranked location down to the cap.
    """
    avail = {pair: model.available(*pair, now, effective=True) for pair in PAIRS}
    for line in merge_lines(lines):
        policy, cap = SKUS[line.sku]
        floor = availability_floor(policy, cap)
        if line.location is not None:
            if floor is not None and avail[(line.sku, line.location)] - line.quantity < floor:
                return line.sku
            avail[(line.sku, line.location)] -= line.quantity
            continue
        ranked = sorted(LOCATIONS, key=lambda loc, sku=line.sku: (LOCATIONS[loc], -avail[(sku, loc)], loc))
        if sum(max(avail[(line.sku, loc)], 0) for loc in LOCATIONS) >= line.quantity:
            remaining = line.quantity
            whole = next((loc for loc in ranked if avail[(line.sku, loc)] >= remaining), None)
            for loc in [whole] if whole else ranked:
                take = min(remaining, max(avail[(line.sku, loc)], 0))
                avail[(line.sku, loc)] -= take
                remaining -= take
            continue
        if floor == 0 or (floor is not None and avail[(line.sku, ranked[0])] - line.quantity < floor):
            return line.sku
        avail[(line.sku, ranked[0])] -= line.quantity
    return None


class LedgerMachine(RuleBasedStateMachine):
    make_app: Callable[[ManualClock], Stockpilot]

    holds = Bundle("holds")
    placed = Bundle("orders")
    adjustments = Bundle("adjustments")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.app = self.make_app(self.clock)
        self.model = Model()
        self.serial = itertools.count(1)
        for code, priority in LOCATIONS.items():
            self.app.catalog.create_location(code, priority=priority)
        for sku, (policy, cap) in SKUS.items():
            self.app.catalog.upsert_sku(sku, {"backorder_policy": policy.value, "backorder_cap": cap})

    def teardown(self) -> None:
        self.app.close()

    def _name(self, prefix: str) -> str:
        return f"{prefix}{next(self.serial)}"

    @property
    def now(self) -> datetime:
        return self.clock.now()

    # ---- opening stock --------------------------------------------------------------------------------
    @initialize(units=st.lists(st.integers(0, 8), min_size=len(PAIRS), max_size=len(PAIRS)))
    def opening_stock(self, units: list[int]) -> None:
        for (sku, loc), n in zip(PAIRS, units, strict=True):
            if n:
                self.app.stock.adjust(sku=sku, location=loc, delta=n, kind="receive",
                                      idempotency_key=f"open:{sku}:{loc}")
                self.model.on_hand[(sku, loc)] += n

    # ---- on-hand changes ------------------------------------------------------------------------------
    @rule(target=adjustments, sku=sku_codes, loc=location_codes, delta=st.integers(-4, 6).filter(bool),
          receive=st.booleans())
    def adjust(self, sku: str, loc: str, delta: int, receive: bool) -> Any:
        key = self._name("adj")
        kind = "receive" if receive and delta > 0 else "adjust"
        if self.model.on_hand[(sku, loc)] + delta < 0:
            with pytest.raises(Conflict):
                self.app.stock.adjust(sku=sku, location=loc, delta=delta, kind=kind, idempotency_key=key)
            return multiple()
        movement, replayed = self.app.stock.adjust(sku=sku, location=loc, delta=delta, kind=kind,
                                                   idempotency_key=key)
        assert not replayed and movement["delta"]["on_hand"] == delta
        self.model.on_hand[(sku, loc)] += delta
        return (key, sku, loc, delta, movement["id"], kind)

    @rule(sku=sku_codes, loc=location_codes, counted=st.integers(0, 10))
    def count(self, sku: str, loc: str, counted: int) -> None:
        movement, _ = self.app.stock.adjust(sku=sku, location=loc, on_hand=counted, idempotency_key=self._name("cnt"))
        assert movement["delta"]["on_hand"] == counted - self.model.on_hand[(sku, loc)]
        self.model.on_hand[(sku, loc)] = counted

    @rule(entry=adjustments, same_place=st.booleans())
    def replay_adjustment(self, entry: tuple[str, str, str, int, int, str], same_place: bool) -> None:
        key, sku, loc, delta, movement_id, kind = entry
        if same_place:
            movement, replayed = self.app.stock.adjust(sku=sku, location=loc, delta=delta, kind=kind,
                                                       idempotency_key=key)
            assert replayed and movement["id"] == movement_id
            # The same key for a different change is refused, never taken for a replay.
            with pytest.raises(IdempotencyConflict):
                self.app.stock.adjust(sku=sku, location=loc, delta=delta + 1 if delta != -1 else 1, kind="adjust",
                                      idempotency_key=key)
        else:
            other = "wh2" if loc == "wh1" else "wh1"
            with pytest.raises(IdempotencyConflict):
                self.app.stock.adjust(sku=sku, location=other, delta=delta, idempotency_key=key)

    @rule(sku=sku_codes, source=location_codes, quantity=st.integers(1, 5))
    def transfer(self, sku: str, source: str, quantity: int) -> None:
        target = "wh2" if source == "wh1" else "wh1"
        # The outgoing leg may not touch units that are held or committed, overdue holds included (no lazy expiry).
        fits = self.model.available(sku, source, self.now, effective=False) >= quantity
        call = lambda: self.app.stock.transfer(  # noqa: E731
            sku=sku, from_location=source, to_location=target, quantity=quantity, idempotency_key=self._name("tr")
        )
        if not fits:
            with pytest.raises(Conflict):
                call()
            event("transfer: refused")
            return
        moved = call()
        assert [m["delta"]["on_hand"] for m in moved["movements"]] == [-quantity, quantity]
        self.model.on_hand[(sku, source)] -= quantity
        self.model.on_hand[(sku, target)] += quantity

    # ---- demand -----------------------------------------------------------------------------------------
    def _check_placements(self, asked: list[RequestedLine], placed: list[tuple[str, str, int]]) -> None:
        per_sku: Counter[str] = Counter()
        at: Counter[tuple[str, str]] = Counter()
        for sku, loc, q in placed:
            assert q > 0
            per_sku[sku] += q
            at[(sku, loc)] += q
        assert per_sku == _per_sku(asked)
        for ln in asked:
            if ln.location is not None:
                assert at[(ln.sku, ln.location)] >= sum(
                    x.quantity for x in asked if (x.sku, x.location) == (ln.sku, ln.location)
                )
        # Where a sale or hold took units, the SKU's policy floor held at the moment it was written.
        levels = self._db_levels()
        for sku, loc in at:
            floor = availability_floor(*SKUS[sku])
            if floor is not None:
                assert levels[(sku, loc)]["available"] >= floor, (sku, loc, levels[(sku, loc)])

    @rule(target=holds, cart=carts, ttl=st.integers(5, 300))
    def reserve(self, cart: list[tuple[str, int, str | None]], ttl: int) -> Any:
        lines = [RequestedLine(*ln) for ln in cart]
        refused = predict_cart(self.model, lines, self.now)
        reference = self._name("r")
        try:
            held, created = self.app.reservations.reserve(reference, lines, ttl_seconds=ttl)
        except InsufficientStock as exc:
            assert refused is not None, f"cart {cart} refused although the stock was there"
            assert exc.sku == refused
            event("reserve: refused")
            return multiple()
        assert refused is None, f"cart {cart} held although {refused} was short"
        event("reserve: held")
        assert created and held["status"] == "active"
        placed = [(ln["sku"], ln["location"], ln["quantity"]) for ln in held["lines"]]
        self._check_placements(lines, placed)
        self.model.holds[held["id"]] = Hold(reference, placed, self.now + timedelta(seconds=ttl))
        return held["id"]

    @rule(target=placed, cart=carts)
    def place_order(self, cart: list[tuple[str, int, str | None]]) -> Any:
        lines = [RequestedLine(*ln) for ln in cart]
        refused = predict_cart(self.model, lines, self.now)
        reference = self._name("o")
        try:
            order, created = self.app.orders.place(reference, lines)
        except InsufficientStock as exc:
            assert refused is not None, f"order {cart} refused although the stock was there"
            assert exc.sku == refused
            event("place: refused")
            return multiple()
        assert refused is None, f"order {cart} placed although {refused} was short"
        event("place: placed")
        assert created and order["status"] == "open"
        self._check_placements(lines, [(ln["sku"], ln["location"], ln["quantity"]) for ln in order["lines"]])
        self.model.orders[order["id"]] = Order(reference, [
            OrderLine(ln["sku"], ln["location"], ln["quantity"]) for ln in order["lines"]
        ])
        return order["id"]

    @rule(rid=holds)
    def replay_reservation(self, rid: int) -> None:
        hold = self.model.holds[rid]
        again = [RequestedLine(sku, q) for sku, q in _per_sku_of(hold.lines).items()]
        held, created = self.app.reservations.reserve(hold.reference, again)
        assert not created and held["id"] == rid

    @rule(oid=placed)
    def replay_order(self, oid: int) -> None:
        order = self.model.orders[oid]
        again = [RequestedLine(ln.sku, ln.quantity) for ln in order.lines]
        described, created = self.app.orders.place(order.reference, again)
        assert not created and described["id"] == oid

    # ---- reservation transitions -----------------------------------------------------------------------
    def _overdue(self, hold: Hold) -> bool:
        return hold.status == "active" and hold.expires_at <= self.now

    @rule(rid=holds)
    def release(self, rid: int) -> None:
        hold = self.model.holds[rid]
        if hold.status == "committed":
            with pytest.raises(Conflict):
                self.app.reservations.release(rid)
            return
        described = self.app.reservations.release(rid)
        if hold.status == "active":
            hold.status = "released"
        assert described["status"] == hold.status

    @rule(rid=holds, ttl=st.integers(5, 300))
    def extend(self, rid: int, ttl: int) -> None:
        hold = self.model.holds[rid]
        if hold.status != "active":
            with pytest.raises(Conflict):
                self.app.reservations.extend(rid, ttl_seconds=ttl)
        elif self._overdue(hold):
            with pytest.raises(ReservationExpired):
                self.app.reservations.extend(rid, ttl_seconds=ttl)
            hold.status = "expired"
            event("extend: too late")
        else:
            described = self.app.reservations.extend(rid, ttl_seconds=ttl)
            hold.expires_at = self.now + timedelta(seconds=ttl)
            assert datetime.fromisoformat(described["expires_at"]) == hold.expires_at

    @rule(target=placed, rid=holds, own_reference=st.booleans())
    def commit(self, rid: int, own_reference: bool) -> Any:
        hold = self.model.holds[rid]
        reference = self._name("c") if own_reference else None
        if hold.status == "released":
            with pytest.raises(Conflict):
                self.app.reservations.commit(rid, order_reference=reference)
            return multiple()
        if hold.status == "expired" or self._overdue(hold):
            with pytest.raises(ReservationExpired):
                self.app.reservations.commit(rid, order_reference=reference)
            hold.status = "expired"
            return multiple()
        order, created = self.app.reservations.commit(rid, order_reference=reference)
        if hold.status == "committed":
            assert not created and order["id"] == hold.order_id
            return multiple()
        assert created and order["reservation_id"] == rid
        event("commit: order created")
        assert _per_location(hold.lines) == _per_location(
            [(ln["sku"], ln["location"], ln["quantity"]) for ln in order["lines"]]
        )
        hold.status, hold.order_id = "committed", order["id"]
        self.model.orders[order["id"]] = Order(order["reference"], [
            OrderLine(ln["sku"], ln["location"], ln["quantity"]) for ln in order["lines"]
        ])
        return order["id"]

    # ---- order transitions ------------------------------------------------------------------------------
    @rule(oid=placed)
    def fulfil(self, oid: int) -> None:
        order = self.model.orders[oid]
        if order.status == "cancelled":
            with pytest.raises(Conflict):
                self.app.orders.fulfil(oid)
            return
        if order.status == "fulfilled":
            assert self.app.orders.fulfil(oid)["status"] == "fulfilled"
            return
        on_hand = dict(self.model.on_hand)
        short = False
        for ln in order.lines:  # shipped line by line; a backordered line (too few on hand) refuses the lot
            if ln.open > 0:
                on_hand[(ln.sku, ln.location)] -= ln.open
                short = short or on_hand[(ln.sku, ln.location)] < 0
        if short:
            with pytest.raises(Conflict):
                self.app.orders.fulfil(oid)
            event("fulfil: backordered, refused")
            return
        assert self.app.orders.fulfil(oid)["status"] == "fulfilled"
        self.model.on_hand = on_hand
        for ln in order.lines:
            ln.fulfilled += ln.open
        order.status = "fulfilled"

    @rule(oid=placed)
    def cancel(self, oid: int) -> None:
        order = self.model.orders[oid]
        if order.status == "fulfilled":
            with pytest.raises(Conflict):
                self.app.orders.cancel(oid)
            return
        assert self.app.orders.cancel(oid)["status"] == "cancelled"
        for ln in order.lines:
            ln.cancelled += ln.open
        order.status = "cancelled"

    @rule(oid=placed, pick=st.integers(0, 5), quantity=st.integers(1, 4), restock=st.booleans(),
          location=st.sampled_from([None, "wh1", "wh2"]))
    def record_return(self, oid: int, pick: int, quantity: int, restock: bool, location: str | None) -> None:
        order = self.model.orders[oid]
        sku = order.lines[pick % len(order.lines)].sku
        lines = [ln for ln in order.lines if ln.sku == sku]
        returnable = sum(ln.fulfilled - ln.returned for ln in lines)
        key = self._name("rma")
        call = lambda: self.app.orders.record_return(  # noqa: E731
            oid, sku=sku, quantity=quantity, restock=restock, idempotency_key=key, location=location
        )
        if quantity > returnable:
            with pytest.raises(Conflict):
                call()
            return
        call()
        remaining = quantity
        for ln in lines:
            take = min(remaining, ln.fulfilled - ln.returned)
            if take <= 0:
                continue
            ln.returned += take
            remaining -= take
            if restock:
                self.model.on_hand[(sku, location or ln.location)] += take
            if remaining == 0:
                break
        call()  # the same key again: a replay, no second effect

    # ---- time ------------------------------------------------------------------------------------------
    @rule(seconds=st.integers(1, 240))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @rule()
    def expire_due(self) -> None:
        due = [h for h in self.model.holds.values() if self._overdue(h)]
        assert self.app.reservations.expire_due() == len(due)
        for hold in due:
            hold.status = "expired"

    # ---- after every step --------------------------------------------------------------------------------
    def _db_levels(self) -> dict[tuple[str, str], dict[str, int]]:
        with self.app.db.read() as conn:
            rows = conn.execute(
                select(skus.c.sku, locations.c.code, stock_levels.c.on_hand, stock_levels.c.committed,
                       stock_levels.c.reserved, stock_levels.c.incoming)
                .join(skus, skus.c.id == stock_levels.c.sku_id)
                .join(locations, locations.c.id == stock_levels.c.location_id)
            ).all()
        return {
            (r.sku, r.code): {"on_hand": r.on_hand, "committed": r.committed, "reserved": r.reserved,
                              "incoming": r.incoming, "available": r.on_hand - r.committed - r.reserved}
            for r in rows
        }

    @invariant()
    def database_agrees_with_model(self) -> None:
        with self.app.db.read() as conn:
            hold_status = dict(conn.execute(select(reservations.c.id, reservations.c.status)).all())
            order_status = dict(conn.execute(select(orders.c.id, orders.c.status)).all())
        # A buyer may have expired overdue holds in passing (lazy expiry); nothing else may differ.
        assert set(hold_status) == set(self.model.holds)
        for rid, hold in self.model.holds.items():
            if hold_status[rid] != hold.status:
                assert self._overdue(hold) and hold_status[rid] == "expired", (rid, hold.status, hold_status[rid])
                hold.status = "expired"
                event("a buyer expired an overdue hold in passing")
        assert order_status == {oid: o.status for oid, o in self.model.orders.items()}

        levels = self._db_levels()
        assert set(levels) == set(PAIRS)
        for sku, loc in PAIRS:
            expected = {
                "on_hand": self.model.on_hand[(sku, loc)],
                "committed": self.model.committed(sku, loc),
                "reserved": self.model.reserved(sku, loc, self.now, effective=False),
                "incoming": 0,
            }
            actual = {k: v for k, v in levels[(sku, loc)].items() if k != "available"}
            assert actual == expected, (sku, loc, actual, expected)
            assert min(actual.values()) >= 0, (sku, loc, actual)

        report = self.app.checker.run()
        assert report.ok, report.problems
        assert report.levels_checked == len(PAIRS)


def _per_sku(lines: list[RequestedLine]) -> Counter[str]:
    total: Counter[str] = Counter()
    for ln in lines:
        total[ln.sku] += ln.quantity
    return total


def _per_sku_of(placed: list[tuple[str, str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for sku, _, q in placed:
        total[sku] += q
    return total


def _per_location(placed: list[tuple[str, str, int]]) -> Counter[tuple[str, str]]:
    total: Counter[tuple[str, str]] = Counter()
    for sku, loc, q in placed:
        total[(sku, loc)] += q
    return total


def _fresh_databases(db_url: str, sqlite_template: Path, tmp_path: Path) -> Callable[[ManualClock], Stockpilot]:
    """A factory of apps, each on an empty migrated database of the same kind as `db_url`."""
    numbers = itertools.count()
    if db_url.startswith("sqlite"):

        def sqlite_app(clock: ManualClock) -> Stockpilot:
            path = tmp_path / f"example-{next(numbers)}.db"
            shutil.copy(sqlite_template, path)
            return build(Settings(database_url=f"sqlite:///{path}"), clock=clock, migrate=False)

        return sqlite_app

    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)

    def postgres_app(clock: ManualClock) -> Stockpilot:
        engine = create_engine(normalise_url(db_url))
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return build(Settings(database_url=db_url), clock=clock, migrate=False)

    return postgres_app


def test_ledger_agrees_with_model_under_random_operations(db_url: str, sqlite_template: Path,
                                                           tmp_path: Path) -> None:
    make_app = _fresh_databases(db_url, sqlite_template, tmp_path)
    machine = type("LedgerMachineOnThisDatabase", (LedgerMachine,), {"make_app": staticmethod(make_app)})
    run_state_machine_as_test(machine, settings=MACHINE_SETTINGS)
