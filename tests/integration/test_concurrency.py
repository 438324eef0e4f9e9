"""The headline guarantee, raced with real threads and real processes against SQLite and PostgreSQL.

Under any concurrency: no unit is reserved or sold twice, no request is refused while stock was available,
multi-line carts taken in opposite orders never surface a deadlock, and a retried request (same reference or
idempotency key) has exactly one effect.

"Refused only when sold out" is checked without trusting timing: with a fixed stock and no releases,
availability only falls. A refusal is wrong for certain if, when it returned, fewer successful calls had even
*started* than there were units (or carts) to sell: the units that could have been gone by then were fewer than
the stock. Every refusal must also report the availability its own transaction saw, which must be zero.

Timeouts below only turn a hang (a real deadlock nobody broke) into a failure; no test asserts how long
anything took. The database errors met on the way (deadlock aborts retried by Database.write, SQLite lock
waits, unique violations turned into replays) are counted and printed (`pytest -s` shows them).
"""

from __future__ import annotations

import bisect
import multiprocessing
import queue
import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event, func, select

from stockpilot.adapters.db.tables import movements, order_lines, orders, reservations
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock
from stockpilot.domain.errors import Conflict, InsufficientStock, ReservationExpired
from stockpilot.domain.reservations import RequestedLine

HANG_TIMEOUT = 300.0  # seconds; generous on purpose, it only stops a stuck run
THREADS = 32


# ---- instruments --------------------------------------------------------------------------------------


class DbErrorLog:
    """Counts every database error raised inside an engine, by kind (sqlstate or SQLite message)."""

    def __init__(self, engine: Any) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        event.listen(engine, "handle_error", self._seen)

    def _seen(self, context: Any) -> None:
        orig = context.original_exception
        code = getattr(orig, "sqlstate", None)
        name = {"40P01": "deadlock_retried", "40001": "serialization_retried", "23505": "unique_violation"}.get(
            code or "", ""
        )
        if not name:
            name = "sqlite_locked" if "locked" in str(orig) else f"other:{type(orig).__name__}:{code}"
        with self._lock:
            self.counts[name] += 1


def report(label: str, **figures: Any) -> None:
    print(f"\n[{label}] " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@dataclass(frozen=True)
class Attempt:
    """One call made by a racer: when it started and ended (monotonic ns), and how it went."""

    start: int
    end: int
    kind: str  # "ok" | "refused" | "error"
    detail: Any = None


def attempt(call: Callable[[], Any]) -> Attempt:
    start = time.monotonic_ns()
    try:
        value = call()
    except InsufficientStock as exc:
        return Attempt(start, time.monotonic_ns(), "refused", (exc.sku, exc.available))
    except Exception:
        return Attempt(start, time.monotonic_ns(), "error", traceback.format_exc())
    return Attempt(start, time.monotonic_ns(), "ok", value)


def race(n_threads: int, body: Callable[[int], Any]) -> list[Any]:
    """Run body(0..n-1) on n threads released together by a barrier; re-raise the first failure."""
    barrier = threading.Barrier(n_threads)
    results: list[Any] = [None] * n_threads
    failures: list[str] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = body(index)
        except BaseException:
            failures.append(traceback.format_exc())

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + HANG_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "racing threads hung: a lock cycle that nobody broke"
    assert not failures, failures[0]
    return results


def assert_no_errors(attempts: list[Attempt]) -> None:
    errors = [a.detail for a in attempts if a.kind == "error"]
    assert not errors, f"{len(errors)} call(s) failed with something other than InsufficientStock:\n{errors[0]}"


def assert_refused_only_when_sold_out(attempts: list[Attempt], capacity: int) -> None:
    """`capacity` successful calls exhaust the stock; no call can succeed beyond them and none gives units back.

    A refusal that returned before `capacity` successful calls had started happened while stock remained.
    """
    success_starts = sorted(a.start for a in attempts if a.kind == "ok")
    for refusal in (a for a in attempts if a.kind == "refused"):
        started = bisect.bisect_right(success_starts, refusal.end)
        assert started >= capacity, (
            f"refused while stock remained: only {started} of {capacity} winning calls had started when a "
            f"refusal {refusal.detail} returned"
        )
        assert refusal.detail[1] == 0, f"refused with availability {refusal.detail} seen by its own transaction"


def assert_flash_sale(attempts: list[Attempt], units: int) -> None:
    assert_no_errors(attempts)
    won = [a for a in attempts if a.kind == "ok"]
    refused = [a for a in attempts if a.kind == "refused"]
    assert len(won) == units, f"sold {len(won)} single units out of {units}"
    assert len(refused) == len(attempts) - units
    assert len({a.detail for a in won}) == units, "two winners were handed the same reservation or order"
    assert_refused_only_when_sold_out(attempts, units)


def assert_check_clean(app: Stockpilot) -> None:
    result = app.checker.run()
    assert result.ok, result.problems[:10]
    assert result.levels_checked > 0


def totals(app: Stockpilot, sku: str) -> dict[str, int]:
    return app.catalog.get_sku(sku)["totals"]


def level(app: Stockpilot, sku: str, location: str) -> dict[str, int]:
    found = [lv for lv in app.catalog.get_sku(sku)["levels"] if lv["location"] == location]
    assert len(found) == 1
    return found[0]


def count(app: Stockpilot, stmt: Any) -> int:
    with app.db.read() as conn:
        return int(conn.execute(stmt).scalar_one())


def movement_count(app: Stockpilot, *conditions: Any) -> int:
    return count(app, select(func.count()).select_from(movements).where(*conditions))


def seed(app: Stockpilot, *, locations: dict[str, int], stock: dict[str, dict[str, int]],
         policies: dict[str, str] | None = None) -> None:
    """Create locations (code -> priority), SKUs and receive their opening stock (sku -> location -> units)."""
    for code, priority in locations.items():
        app.catalog.create_location(code, priority=priority)
    for sku, per_location in stock.items():
        app.catalog.upsert_sku(sku, {"backorder_policy": (policies or {}).get(sku, "deny")})
        for code, units in per_location.items():
            if units:
                app.stock.adjust(sku=sku, location=code, idempotency_key=f"seed:{sku}:{code}", delta=units,
                                 kind="receive")


# ---- a buyer shared by the thread and the process races ---------------------------------------------------


def buy_one(app: Stockpilot, sku: str, reference: str, *, direct: bool, location: str | None = None) -> Any:
    """One unit: a reservation, or (direct) an order placed without one. Returns a hashable handle."""
    lines = [RequestedLine(sku, 1, location)]
    if direct:
        order, created = app.orders.place(reference, lines)
        assert created
        return ("order", order["id"])
    held, created = app.reservations.reserve(reference, lines, ttl_seconds=3600)
    assert created
    return ("reservation", held["id"])


def flash_sale_buyers(app: Stockpilot, sku: str, *, threads: int, attempts_each: int, tag: str) -> list[Attempt]:
    def buyer(index: int) -> list[Attempt]:
        return [
            attempt(lambda n=n: buy_one(app, sku, f"{tag}-{index}-{n}", direct=(index + n) % 3 == 0))
            for n in range(attempts_each)
        ]

    return [a for per_thread in race(threads, buyer) for a in per_thread]


# ---- flash sale ---------------------------------------------------------------------------------------


def test_flash_sale_threads_sell_each_unit_once(sp: Stockpilot) -> None:
    units = 50
    seed(sp, locations={"wh1": 1, "wh2": 2}, stock={"HOT": {"wh1": 30, "wh2": 20}})
    errors = DbErrorLog(sp.db.engine)

    attempts = flash_sale_buyers(sp, "HOT", threads=THREADS, attempts_each=5, tag="t")

    assert len(attempts) == THREADS * 5
    assert_flash_sale(attempts, units)
    sold = totals(sp, "HOT")
    assert sold["on_hand"] == units
    assert sold["reserved"] + sold["committed"] == units
    assert sold["available"] == 0
    for code in ("wh1", "wh2"):
        assert level(sp, "HOT", code)["available"] == 0
    assert movement_count(sp, movements.c.kind.in_(["reserve", "commit"])) == units
    held = count(sp, select(func.count()).select_from(reservations).where(reservations.c.status == "active"))
    placed = count(sp, select(func.count()).select_from(orders))
    assert held + placed == units
    assert_check_clean(sp)
    report("flash sale threads", attempts=len(attempts), sold=units, reserved=held, ordered=placed,
           **errors.counts)


def _flash_sale_process(db_url: str, proc_no: int, threads: int, attempts_each: int, start: Any,
                        results: Any) -> None:
    """Child process: its own engine, pool and services, like a second API server on the same database."""
    try:
        app = build(Settings(database_url=db_url), clock=ManualClock(), migrate=False)
        try:
            errors = DbErrorLog(app.db.engine)
            app.checker.run()  # touch the database once before the start line
            start.wait(HANG_TIMEOUT)
            attempts = flash_sale_buyers(app, "HOT", threads=threads, attempts_each=attempts_each,
                                         tag=f"p{proc_no}")
            results.put((proc_no, attempts, dict(errors.counts), None))
        finally:
            app.close()
    except BaseException:
        results.put((proc_no, [], {}, traceback.format_exc()))


@pytest.mark.slow
def test_flash_sale_processes_sell_each_unit_once(sp: Stockpilot, db_url: str) -> None:
    processes, threads, attempts_each, units = 4, 4, 10, 60
    seed(sp, locations={"wh1": 1, "wh2": 2}, stock={"HOT": {"wh1": 45, "wh2": 15}})
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_flash_sale_process, args=(db_url, p, threads, attempts_each, start, results))
        for p in range(processes)
    ]
    for child in children:
        child.start()
    attempts: list[Attempt] = []
    spans: list[tuple[int, int, int]] = []  # (start, end, process): to show how much the processes overlapped
    errors: Counter[str] = Counter()
    crashes: list[str] = []
    try:
        for _ in children:
            proc_no, got, counts, crash = results.get(timeout=HANG_TIMEOUT)
            attempts.extend(got)
            spans.extend((a.start, a.end, proc_no) for a in got)
            errors.update(counts)
            if crash:
                crashes.append(crash)
    except queue.Empty:
        pytest.fail("a buyer process hung: a lock that nobody released")
    finally:
        for child in children:
            child.join(HANG_TIMEOUT)
            if child.is_alive():
                child.kill()
    assert not crashes, crashes[0]
    assert all(child.exitcode == 0 for child in children)

    assert len(attempts) == processes * threads * attempts_each
    assert_flash_sale(attempts, units)  # monotonic_ns is one system-wide clock, so starts/ends compare
    sold = totals(sp, "HOT")
    assert (sold["on_hand"], sold["reserved"] + sold["committed"], sold["available"]) == (units, units, 0)
    assert movement_count(sp, movements.c.kind.in_(["reserve", "commit"])) == units
    assert_check_clean(sp)
    overlapping = sum(any(p != q and s < e2 and s2 < e for s2, e2, q in spans) for s, e, p in spans)
    report("flash sale processes", attempts=len(attempts), sold=units,
           calls_overlapping_another_process=overlapping, **errors)


# ---- multi-line carts in opposite orders ---------------------------------------------------------------


def test_opposite_order_carts_all_succeed(sp: Stockpilot) -> None:
    carts_each = 4
    carts = THREADS * carts_each
    seed(sp, locations={"wh1": 1, "wh2": 2}, stock={"A": {"wh1": carts - 28, "wh2": 28}, "B": {"wh1": carts}})
    errors = DbErrorLog(sp.db.engine)

    def shopper(index: int) -> list[Attempt]:
        order = ["A", "B"] if index % 2 else ["B", "A"]
        done = []
        for n in range(carts_each):
            lines = [RequestedLine(sku, 1) for sku in order]
            ref = f"cart-{index}-{n}"
            if n % 2:  # a sale placed in one step

                def place(ref: str = ref, lines: list[RequestedLine] = lines) -> Any:
                    return ("order", sp.orders.place(ref, lines)[0]["id"])

                done.append(attempt(place))
            else:  # reserve, then commit it at once (the commit locks the same rows again)

                def reserve_commit(ref: str = ref, lines: list[RequestedLine] = lines) -> Any:
                    held, created = sp.reservations.reserve(ref, lines, ttl_seconds=600)
                    assert created
                    order, created = sp.reservations.commit(held["id"])
                    assert created
                    return ("order", order["id"])

                done.append(attempt(reserve_commit))
        return done

    attempts = [a for per in race(THREADS, shopper) for a in per]

    assert_no_errors(attempts)
    assert [a.kind for a in attempts].count("ok") == carts, "a cart was refused although stock covered every cart"
    for sku in ("A", "B"):
        assert totals(sp, sku) == {"on_hand": carts, "committed": carts, "reserved": 0, "available": 0,
                                   "incoming": 0}
    assert count(sp, select(func.count()).select_from(orders)) == carts
    assert count(sp, select(func.count()).select_from(order_lines)) >= 2 * carts
    assert_check_clean(sp)
    report("opposite-order carts", carts=carts, **errors.counts)


def test_opposite_order_carts_are_all_or_nothing_when_stock_runs_out(sp: Stockpilot) -> None:
    # Each cart wants A:1 and B:2; B runs out after 40 carts while A still has units: a cart holding A alone
    # would show up as A reserved beyond 40.
    carts_each, winners = 4, 40
    seed(sp, locations={"wh1": 1}, stock={"A": {"wh1": 50}, "B": {"wh1": 2 * winners}})
    errors = DbErrorLog(sp.db.engine)

    def shopper(index: int) -> list[Attempt]:
        done = []
        for n in range(carts_each):
            lines = [RequestedLine("A", 1), RequestedLine("B", 2)]
            if index % 2:
                lines.reverse()
            ref = f"cart-{index}-{n}"

            def reserve(ref: str = ref, lines: list[RequestedLine] = lines) -> Any:
                held, created = sp.reservations.reserve(ref, lines, ttl_seconds=600)
                assert created
                return ("reservation", held["id"])

            done.append(attempt(reserve))
        return done

    attempts = [a for per in race(THREADS, shopper) for a in per]

    assert_no_errors(attempts)
    won = [a for a in attempts if a.kind == "ok"]
    assert len(won) == winners
    assert {a.detail[0] for a in attempts if a.kind == "refused"} == {"B"}
    assert_refused_only_when_sold_out(attempts, winners)
    assert totals(sp, "A")["reserved"] == winners
    assert totals(sp, "B")["reserved"] == 2 * winners
    for _, reservation_id in (a.detail for a in won):
        held = {line["sku"]: line["quantity"] for line in sp.reservations.get(reservation_id)["lines"]}
        assert held == {"A": 1, "B": 2}
    active = count(sp, select(func.count()).select_from(reservations))
    assert active == winners, "a refused cart left a reservation header behind"
    assert movement_count(sp, movements.c.kind == "reserve") == 2 * winners
    assert_check_clean(sp)
    report("opposite-order carts, stock runs out", carts=len(attempts), won=winners, **errors.counts)


# ---- replays: the same reference or key, many times at once -------------------------------------------


def test_same_reservation_reference_reserves_once(sp: Stockpilot) -> None:
    rounds = 4
    seed(sp, locations={"wh1": 1, "wh2": 2}, stock={"A": {"wh1": 10, "wh2": 10}, "B": {"wh1": 10}})
    errors = DbErrorLog(sp.db.engine)
    for r in range(rounds):
        ref = f"checkout-{r}"

        def same(index: int, ref: str = ref) -> tuple[int, bool]:
            lines = [RequestedLine("A", 2), RequestedLine("B", 1)]
            if index % 2:
                lines.reverse()
            held, created = sp.reservations.reserve(ref, lines, ttl_seconds=600)
            return held["id"], created

        outcomes = race(THREADS, same)
        assert sum(created for _, created in outcomes) == 1, "a replayed reference created a second reservation"
        assert len({rid for rid, _ in outcomes}) == 1
        assert movement_count(sp, movements.c.reference == ref) == 2  # one reserve movement per SKU
    assert count(sp, select(func.count()).select_from(reservations)) == rounds
    assert totals(sp, "A")["reserved"] == 2 * rounds
    assert totals(sp, "B")["reserved"] == rounds
    assert_check_clean(sp)
    report("same reservation reference", rounds=rounds, callers=THREADS, **errors.counts)


def test_same_order_reference_places_once(sp: Stockpilot) -> None:
    rounds = 4
    seed(sp, locations={"wh1": 1}, stock={"A": {"wh1": 20}, "B": {"wh1": 20}})
    errors = DbErrorLog(sp.db.engine)
    for r in range(rounds):
        ref = f"order-{r}"

        def same(index: int, ref: str = ref) -> tuple[int, bool]:
            lines = [RequestedLine("B", 1), RequestedLine("A", 3)]
            if index % 2:
                lines.reverse()
            order, created = sp.orders.place(ref, lines)
            return order["id"], created

        outcomes = race(THREADS, same)
        assert sum(created for _, created in outcomes) == 1
        assert len({oid for oid, _ in outcomes}) == 1
        assert movement_count(sp, movements.c.reference == ref) == 2
    assert count(sp, select(func.count()).select_from(orders)) == rounds
    assert totals(sp, "A")["committed"] == 3 * rounds
    assert totals(sp, "B")["committed"] == rounds
    assert_check_clean(sp)
    report("same order reference", rounds=rounds, callers=THREADS, **errors.counts)


def test_same_adjustment_key_applies_once(sp: Stockpilot) -> None:
    seed(sp, locations={"wh1": 1, "wh2": 2}, stock={"A": {"wh1": 100}})
    errors = DbErrorLog(sp.db.engine)
    expected = 100
    requests: list[tuple[str, dict[str, Any]]] = [
        ("adj-receive", {"delta": 7, "kind": "receive"}),
        ("adj-shrink", {"delta": -5}),
        ("adj-count", {"on_hand": 61}),
        ("adj-return", {"delta": 2, "kind": "return"}),
    ]
    for key, request in requests:

        def same(index: int, key: str = key, request: dict[str, Any] = request) -> tuple[int, bool]:
            movement, replayed = sp.stock.adjust(sku="A", location="wh1", idempotency_key=key, **request)
            return movement["id"], replayed

        outcomes = race(THREADS, same)
        assert [replayed for _, replayed in outcomes].count(False) == 1, f"{key}: applied more than once"
        assert len({mid for mid, _ in outcomes}) == 1
        expected = request["on_hand"] if "on_hand" in request else expected + request["delta"]
        assert level(sp, "A", "wh1")["on_hand"] == expected, key
        assert movement_count(sp, movements.c.idempotency_key == f"client:{key}") == 1

    def same_transfer(index: int) -> list[int]:
        moved = sp.stock.transfer(sku="A", from_location="wh1", to_location="wh2", quantity=11,
                                  idempotency_key="move-1")
        return [m["id"] for m in moved["movements"]]

    assert len({tuple(ids) for ids in race(THREADS, same_transfer)}) == 1
    assert (level(sp, "A", "wh1")["on_hand"], level(sp, "A", "wh2")["on_hand"]) == (expected - 11, 11)
    assert movement_count(sp, movements.c.kind == "transfer") == 2
    assert_check_clean(sp)
    report("same adjustment key", keys=len(requests) + 1, callers=THREADS, **errors.counts)


def test_same_reservation_committed_once(sp: Stockpilot) -> None:
    rounds = 4
    seed(sp, locations={"wh1": 1, "wh2": 2}, stock={"A": {"wh1": 3, "wh2": 20}, "B": {"wh2": 20}})
    errors = DbErrorLog(sp.db.engine)
    for r in range(rounds):
        held, _ = sp.reservations.reserve(f"to-commit-{r}", [RequestedLine("A", 4), RequestedLine("B", 1)],
                                          ttl_seconds=600)
        # Round 0 splits A over two locations (wh1 holds only 3), so the commit has three lines to move.
        reference = f"commit-order-{r}" if r % 2 else None

        def same(index: int, rid: int = held["id"], reference: str | None = reference) -> tuple[int, bool]:
            order, created = sp.reservations.commit(rid, order_reference=reference)
            return order["id"], created

        outcomes = race(THREADS, same)
        assert sum(created for _, created in outcomes) == 1, "one reservation became two orders"
        assert len({oid for oid, _ in outcomes}) == 1
        order = sp.orders.get(outcomes[0][0])
        assert order["reservation_id"] == held["id"]
        assert sum(line["quantity"] for line in order["lines"]) == 5
        assert sp.reservations.get(held["id"])["status"] == "committed"
        assert movement_count(sp, movements.c.kind == "commit", movements.c.reference == f"to-commit-{r}") == len(
            held["lines"]
        )
    assert count(sp, select(func.count()).select_from(orders)) == rounds
    assert totals(sp, "A")["committed"] == 4 * rounds and totals(sp, "A")["reserved"] == 0
    assert totals(sp, "B")["committed"] == rounds and totals(sp, "B")["reserved"] == 0
    assert_check_clean(sp)
    report("same reservation committed", rounds=rounds, callers=THREADS, **errors.counts)


def test_fulfil_cancel_and_return_races_have_one_effect(sp: Stockpilot) -> None:
    seed(sp, locations={"wh1": 1}, stock={"A": {"wh1": 20}})
    errors = DbErrorLog(sp.db.engine)
    first, _ = sp.orders.place("o-1", [RequestedLine("A", 3)])
    second, _ = sp.orders.place("o-2", [RequestedLine("A", 4)])

    # Half the callers fulfil, half cancel the same order: exactly one transition wins, the rest agree with it.
    def fulfil_or_cancel(index: int) -> str:
        try:
            return (sp.orders.fulfil if index % 2 else sp.orders.cancel)(first["id"])["status"]
        except Conflict:
            return "conflict"

    outcomes = Counter(race(THREADS, fulfil_or_cancel))
    final = sp.orders.get(first["id"])["status"]
    assert final in ("fulfilled", "cancelled")
    assert outcomes[final] == THREADS // 2 and outcomes["conflict"] == THREADS // 2, outcomes
    closing = movement_count(sp, movements.c.reference == "o-1", movements.c.kind.in_(["fulfil", "cancel"]))
    assert closing == 1

    statuses = race(THREADS, lambda _i: sp.orders.fulfil(second["id"])["status"])
    assert set(statuses) == {"fulfilled"}
    assert movement_count(sp, movements.c.reference == "o-2", movements.c.kind == "fulfil") == 1

    def same_return(index: int) -> int:
        order = sp.orders.record_return(second["id"], sku="A", quantity=2, restock=True,
                                        idempotency_key="rma-1")
        return order["lines"][0]["returned"]

    assert set(race(THREADS, same_return)) == {2}
    assert movement_count(sp, movements.c.kind == "return") == 1
    shipped = 4 + (3 if final == "fulfilled" else 0)
    assert totals(sp, "A") == {"on_hand": 20 - shipped + 2, "committed": 0, "reserved": 0,
                               "available": 20 - shipped + 2, "incoming": 0}
    assert_check_clean(sp)
    report("fulfil/cancel/return races", winner=final, **errors.counts)


# ---- expiry never blocks a buyer --------------------------------------------------------------------------


def test_expired_holds_never_block_buyers_even_without_the_sweep(sp: Stockpilot, clock: ManualClock) -> None:
    units = 40
    seed(sp, locations={"wh1": 1}, stock={"A": {"wh1": units}, "B": {"wh1": units}})
    # Every unit of A and B is held by two-SKU carts that are about to expire.
    for n in range(units):
        sp.reservations.reserve(f"old-{n}", [RequestedLine("A", 1), RequestedLine("B", 1)], ttl_seconds=60)
    assert totals(sp, "A")["available"] == 0 and totals(sp, "B")["available"] == 0
    clock.advance(seconds=61)  # overdue, and no expire_due() run: the buyers must free the holds themselves
    errors = DbErrorLog(sp.db.engine)

    def buyer(index: int) -> list[tuple[str, Attempt]]:
        sku = "A" if index % 2 else "B"
        return [
            (sku, attempt(lambda n=n: buy_one(sp, sku, f"new-{index}-{n}", direct=n == 2,
                                              location="wh1" if (index // 2 + n) % 2 else None)))
            for n in range(3)
        ]

    raced = [pair for per in race(THREADS, buyer) for pair in per]

    assert_no_errors([a for _, a in raced])
    for sku in ("A", "B"):
        attempts = [a for s, a in raced if s == sku]
        assert [a.kind for a in attempts].count("ok") == units, f"{sku}: expired holds blocked buyers"
        assert_refused_only_when_sold_out(attempts, units)
        t = totals(sp, sku)
        assert t["reserved"] + t["committed"] == units and t["available"] == 0
    old = count(sp, select(func.count()).select_from(reservations).where(
        reservations.c.reference.like("old-%"), reservations.c.status == "expired"))
    assert old == units
    assert movement_count(sp, movements.c.kind == "expire") == 2 * units
    assert sp.reservations.expire_due() == 0
    assert_check_clean(sp)
    report("expiry without sweep", buyers=len(raced), **errors.counts)


# ---- mixed chaos ----------------------------------------------------------------------------------------


CHAOS_SKUS = ("D1", "D2", "AL")
CHAOS_LOCATIONS = ("wh1", "wh2")
EXPECTED_REFUSALS = (InsufficientStock, Conflict, ReservationExpired)


def test_mixed_chaos_keeps_the_ledger_true(sp: Stockpilot, clock: ManualClock) -> None:
    threads, ops_each = 12, 40
    seed(sp, locations={"wh1": 1, "wh2": 1},
         stock={"D1": {"wh1": 15, "wh2": 10}, "D2": {"wh1": 8}, "AL": {"wh2": 5}},
         policies={"AL": "allow"})
    sp.catalog.upsert_sku("AL", {"backorder_cap": 6})
    errors = DbErrorLog(sp.db.engine)
    held_ids: list[int] = []
    order_ids: list[int] = []
    shared = threading.Lock()
    tally: Counter[str] = Counter()

    def pick(items: list[int], rng: random.Random) -> int | None:
        with shared:
            return rng.choice(items) if items else None

    def cart(rng: random.Random) -> list[RequestedLine]:
        return [RequestedLine(rng.choice(CHAOS_SKUS), rng.randint(1, 3),
                              rng.choice([None, None, *CHAOS_LOCATIONS])) for _ in range(rng.randint(1, 3))]

    def chaos(index: int) -> list[str]:
        rng = random.Random(1000 + index)
        failures: list[str] = []
        for n in range(ops_each):
            op = rng.choice(["reserve", "reserve", "place", "release", "commit", "commit", "extend", "fulfil",
                             "cancel", "return", "adjust", "count", "transfer", "tick", "sweep"])
            try:
                if op == "reserve":
                    held, _ = sp.reservations.reserve(f"r-{index}-{n}", cart(rng), ttl_seconds=rng.randint(5, 120))
                    with shared:
                        held_ids.append(held["id"])
                elif op == "place":
                    order, _ = sp.orders.place(f"o-{index}-{n}", cart(rng))
                    with shared:
                        order_ids.append(order["id"])
                elif op in ("release", "commit", "extend"):
                    rid = pick(held_ids, rng)
                    if rid is None:
                        continue
                    if op == "release":
                        sp.reservations.release(rid)
                    elif op == "extend":
                        sp.reservations.extend(rid, ttl_seconds=rng.randint(5, 120))
                    else:
                        order, _ = sp.reservations.commit(rid)
                        with shared:
                            order_ids.append(order["id"])
                elif op in ("fulfil", "cancel", "return"):
                    oid = pick(order_ids, rng)
                    if oid is None:
                        continue
                    if op == "fulfil":
                        sp.orders.fulfil(oid)
                    elif op == "cancel":
                        sp.orders.cancel(oid)
                    else:
                        shipped = [ln for ln in sp.orders.get(oid)["lines"] if ln["fulfilled"] > ln["returned"]]
                        if not shipped:
                            continue
                        sp.orders.record_return(oid, sku=shipped[0]["sku"], quantity=1, restock=rng.random() < 0.7,
                                                idempotency_key=f"rma-{index}-{n}")
                elif op == "adjust":
                    sp.stock.adjust(sku=rng.choice(CHAOS_SKUS), location=rng.choice(CHAOS_LOCATIONS),
                                    idempotency_key=f"adj-{index}-{n}", delta=rng.choice([-2, -1, 2, 3, 5]))
                elif op == "count":
                    sp.stock.adjust(sku=rng.choice(CHAOS_SKUS), location=rng.choice(CHAOS_LOCATIONS),
                                    idempotency_key=f"cnt-{index}-{n}", on_hand=rng.randint(0, 12))
                elif op == "transfer":
                    source, target = rng.sample(CHAOS_LOCATIONS, 2)
                    sp.stock.transfer(sku=rng.choice(CHAOS_SKUS), from_location=source, to_location=target,
                                      quantity=rng.randint(1, 3), idempotency_key=f"tr-{index}-{n}")
                elif op == "tick":
                    clock.advance(seconds=rng.randint(1, 20))
                else:
                    sp.reservations.expire_due()
                outcome = "ok"
            except EXPECTED_REFUSALS as exc:
                outcome = type(exc).__name__
            except Exception:
                failures.append(f"{op}: {traceback.format_exc()}")
                outcome = "error"
            with shared:
                tally[f"{op}:{outcome}"] += 1
        return failures

    failures = [f for per in race(threads, chaos) for f in per]
    assert not failures, f"{len(failures)} unexpected failure(s):\n{failures[0]}"
    assert_check_clean(sp)
    assert_levels_equal_ledger_fold(sp)

    # Wind everything down: expire every hold, settle every order; nothing may stay reserved or committed.
    clock.advance(seconds=3600)
    sp.reservations.expire_due()
    for oid in sorted(set(order_ids)):
        if sp.orders.get(oid)["status"] == "open":
            sp.orders.cancel(oid)
    for sku in CHAOS_SKUS:
        t = totals(sp, sku)
        assert (t["reserved"], t["committed"]) == (0, 0), (sku, t)
    assert_check_clean(sp)
    assert_levels_equal_ledger_fold(sp)
    report("mixed chaos", ops=sum(tally.values()), **errors.counts)
    report("mixed chaos outcomes", **dict(sorted(tally.items())))


def assert_levels_equal_ledger_fold(app: Stockpilot) -> None:
    """Fold every movement through the public API and compare with every level (independently of check())."""
    fold: dict[tuple[str, str], Counter[str]] = {}
    after = 0
    while True:
        page = app.stock.movements(after=after, limit=500)
        if not page:
            break
        for m in page:
            fold.setdefault((m["sku"], m["location"]), Counter()).update(m["delta"])
        after = page[-1]["id"]
    for sku in CHAOS_SKUS:
        described = app.catalog.get_sku(sku)
        summed: Counter[str] = Counter()
        for lv in described["levels"]:
            expected = fold.get((sku, lv["location"]), Counter())
            for bucket in ("on_hand", "committed", "reserved", "incoming"):
                assert lv[bucket] == expected[bucket], (sku, lv["location"], bucket, lv, dict(expected))
                summed[bucket] += lv[bucket]
        for bucket in ("on_hand", "committed", "reserved", "incoming"):
            assert described["totals"][bucket] == summed[bucket], (sku, bucket)
