"""Reservations on the real databases: all-or-nothing, routing, TTL, release, extend, commit, expiry."""

from __future__ import annotations

import pytest

from stockpilot.domain.errors import (
    Conflict,
    IdempotencyConflict,
    InsufficientStock,
    NotFound,
    ReservationExpired,
    ValidationFailed,
)
from tests.integration.helpers import level, line, stock, totals


def test_reserve_holds_units_and_sets_expiry(sp, clock):
    stock(sp, "A", {"WH": 10})
    reservation, created = sp.reservations.reserve("cart-1", [line("A", 3)], ttl_seconds=600)
    assert created
    assert reservation["status"] == "active"
    assert reservation["lines"] == [{"sku": "A", "location": "WH", "quantity": 3}]
    assert reservation["expires_at"].startswith("2026-01-01T00:10:00")
    assert totals(sp, "A") == {"on_hand": 10, "committed": 0, "reserved": 3, "available": 7, "incoming": 0}


def test_default_ttl_is_thirty_minutes(sp):
    stock(sp, "A", {"WH": 1})
    reservation, _ = sp.reservations.reserve("cart-1", [line("A", 1)])
    assert reservation["expires_at"].startswith("2026-01-01T00:30:00")


def test_multi_line_is_all_or_nothing(sp):
    stock(sp, "A", {"WH": 5})
    stock(sp, "B", {"WH": 1})
    with pytest.raises(InsufficientStock) as refused:
        sp.reservations.reserve("cart-1", [line("A", 2), line("B", 2)])
    assert (refused.value.sku, refused.value.requested, refused.value.available) == ("B", 2, 1)
    assert totals(sp, "A")["reserved"] == 0
    assert sp.stock.movements(sku="A")[-1]["kind"] == "set"


def test_lines_for_the_same_sku_are_summed_before_the_check(sp):
    stock(sp, "A", {"WH": 3})
    with pytest.raises(InsufficientStock) as refused:
        sp.reservations.reserve("cart-1", [line("A", 2), line("A", 2)])
    assert refused.value.requested == 4
    assert totals(sp, "A")["reserved"] == 0


def test_routing_prefers_priority_then_most_available(sp):
    stock(sp, "A", {"NEAR": 2, "FAR": 50})  # NEAR has priority 10, FAR 20
    first, _ = sp.reservations.reserve("c1", [line("A", 2)])
    assert first["lines"][0]["location"] == "NEAR"
    second, _ = sp.reservations.reserve("c2", [line("A", 2)])
    assert second["lines"][0]["location"] == "FAR"


def test_routing_splits_a_line_when_no_single_location_has_it(sp):
    stock(sp, "A", {"NEAR": 2, "FAR": 3})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 4)])
    assert sorted((ln["location"], ln["quantity"]) for ln in reservation["lines"]) == [("FAR", 3), ("NEAR", 1)] or \
        sorted((ln["location"], ln["quantity"]) for ln in reservation["lines"]) == [("FAR", 2), ("NEAR", 2)]
    assert totals(sp, "A")["available"] == 1


def test_explicit_location_is_honoured(sp):
    stock(sp, "A", {"NEAR": 5, "FAR": 5})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 5, "FAR")])
    assert reservation["lines"][0]["location"] == "FAR"
    with pytest.raises(InsufficientStock):
        sp.reservations.reserve("c2", [line("A", 1, "FAR")])


def test_same_reference_is_a_replay_with_one_effect(sp):
    stock(sp, "A", {"WH": 10})
    first, created = sp.reservations.reserve("cart-1", [line("A", 2)])
    again, created_again = sp.reservations.reserve("cart-1", [line("A", 2)])
    assert created and not created_again
    assert again["id"] == first["id"]
    assert totals(sp, "A")["reserved"] == 2
    with pytest.raises(IdempotencyConflict):
        sp.reservations.reserve("cart-1", [line("A", 3)])


def test_release_returns_units_and_is_idempotent(sp):
    stock(sp, "A", {"WH": 4})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 4)])
    assert sp.reservations.release(reservation["id"])["status"] == "released"
    assert sp.reservations.release(reservation["id"])["status"] == "released"
    assert totals(sp, "A")["available"] == 4
    assert [m["kind"] for m in sp.stock.movements(sku="A")].count("release") == 1


def test_commit_creates_one_order_even_when_repeated(sp):
    stock(sp, "A", {"WH": 4})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 3)])
    order, created = sp.reservations.commit(reservation["id"], "ORDER-1")
    again, created_again = sp.reservations.commit(reservation["id"], "ORDER-1")
    assert created and not created_again and again["id"] == order["id"]
    assert order["reference"] == "ORDER-1"
    assert totals(sp, "A") == {"on_hand": 4, "committed": 3, "reserved": 0, "available": 1, "incoming": 0}
    assert sp.reservations.get(reservation["id"])["order_id"] == order["id"]
    with pytest.raises(Conflict):
        sp.reservations.release(reservation["id"])


def test_released_reservation_cannot_be_committed(sp):
    stock(sp, "A", {"WH": 4})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 1)])
    sp.reservations.release(reservation["id"])
    with pytest.raises(Conflict):
        sp.reservations.commit(reservation["id"])


def test_expired_reservation_cannot_be_committed_and_frees_stock(sp, clock):
    stock(sp, "A", {"WH": 2})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 2)], ttl_seconds=60)
    clock.advance(seconds=60)
    assert sp.reservations.get(reservation["id"])["status"] == "expired"
    with pytest.raises(ReservationExpired):
        sp.reservations.commit(reservation["id"])
    assert totals(sp, "A")["available"] == 2
    assert sp.checker.run().ok


def test_extend_pushes_expiry_but_not_for_an_expired_hold(sp, clock):
    stock(sp, "A", {"WH": 2})
    reservation, _ = sp.reservations.reserve("c1", [line("A", 1)], ttl_seconds=60)
    clock.advance(seconds=30)
    extended = sp.reservations.extend(reservation["id"], 120)
    assert extended["expires_at"].startswith("2026-01-01T00:02:30")
    clock.advance(seconds=200)
    with pytest.raises(ReservationExpired):
        sp.reservations.extend(reservation["id"], 120)


def test_an_expired_hold_never_blocks_a_buyer_even_before_the_sweep(sp, clock):
    stock(sp, "A", {"WH": 3})
    sp.reservations.reserve("slow-cart", [line("A", 3)], ttl_seconds=60)
    clock.advance(seconds=61)
    reservation, _ = sp.reservations.reserve("fast-cart", [line("A", 3)])
    assert reservation["status"] == "active"
    kinds = [m["kind"] for m in sp.stock.movements(sku="A")]
    assert kinds.count("expire") == 1
    assert sp.checker.run().ok


def test_sweep_records_expiry_once(sp, clock):
    stock(sp, "A", {"WH": 10})
    for i in range(7):
        sp.reservations.reserve(f"c{i}", [line("A", 1)], ttl_seconds=10 + i)
    clock.advance(seconds=13)
    assert sp.reservations.expire_due(batch=2) == 4
    assert sp.reservations.expire_due() == 0
    assert totals(sp, "A")["reserved"] == 3
    assert sp.checker.run().ok


def test_backorder_policy_allows_negative_availability_up_to_the_cap(sp):
    stock(sp, "A", {"WH": 1}, backorder_policy="allow_notify", backorder_cap=2)
    reservation, _ = sp.reservations.reserve("c1", [line("A", 3)])
    assert reservation["lines"] == [{"sku": "A", "location": "WH", "quantity": 3}]
    assert totals(sp, "A")["available"] == -2
    with pytest.raises(InsufficientStock):
        sp.reservations.reserve("c2", [line("A", 1)])
    oversold = sp.stock.events(kind="Oversold")
    assert oversold and oversold[-1]["payload"]["oversold_units"] == 2


def test_deny_policy_never_goes_below_zero(sp):
    stock(sp, "A", {"WH": 1})
    with pytest.raises(InsufficientStock):
        sp.reservations.reserve("c1", [line("A", 2)])
    assert level(sp, "A", "WH")["available"] == 1


def test_unknown_sku_or_location_is_not_found(sp):
    stock(sp, "A", {"WH": 1})
    with pytest.raises(NotFound):
        sp.reservations.reserve("c1", [line("NOPE", 1)])
    with pytest.raises(NotFound):
        sp.reservations.reserve("c2", [line("A", 1, "NOWHERE")])
    with pytest.raises(ValidationFailed):
        sp.reservations.reserve("c3", [line("A", 1)], ttl_seconds=0)


def test_threshold_events_in_order(sp):
    stock(sp, "A", {"WH": 6}, low_stock_threshold=3)
    r1, _ = sp.reservations.reserve("c1", [line("A", 4)])
    sp.reservations.reserve("c2", [line("A", 2)])
    sp.reservations.release(r1["id"])
    kinds = [e["kind"] for e in sp.stock.events(sku="A") if e["kind"] != "StockChanged"]
    assert kinds == ["BackInStock", "LowStock", "WentOutOfStock", "BackInStock"]
