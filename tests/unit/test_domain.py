"""Pure domain rules: no database."""

from __future__ import annotations

import pytest

from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.events import EventKind, derive_events
from stockpilot.domain.model import BackorderPolicy, Delta, Levels, MovementKind, availability_floor, movement_delta
from stockpilot.domain.reservations import LocationOption, RequestedLine, merge_lines, rank_locations


def _events(before: int, after: int, threshold: int | None = None) -> list[EventKind]:
    delta = Delta(on_hand=after - before)
    loc_after = Levels(on_hand=max(after, 0), committed=max(-after, 0))
    total_after = loc_after
    total_before = Levels(on_hand=loc_after.on_hand - delta.on_hand, committed=loc_after.committed)
    return [
        e.kind
        for e in derive_events(
            sku="A", location="L", movement="adjust", reference=None,
            location_before=total_before, location_after=total_after,
            total_before=total_before, total_after=total_after, low_stock_threshold=threshold,
        )
    ]


def test_available_is_on_hand_minus_committed_minus_reserved():
    assert Levels(on_hand=10, committed=3, reserved=2).available == 5
    assert Levels(on_hand=1, committed=3).available == -2


def test_before_undoes_a_delta():
    after = Levels(on_hand=7, committed=2, reserved=1, incoming=4)
    assert after.before(Delta(on_hand=2, reserved=1)) == Levels(5, 2, 0, 4)


@pytest.mark.parametrize(
    ("kind", "delta"),
    [
        (MovementKind.RECEIVE, Delta(on_hand=3)),
        (MovementKind.RESERVE, Delta(reserved=3)),
        (MovementKind.RELEASE, Delta(reserved=-3)),
        (MovementKind.EXPIRE, Delta(reserved=-3)),
        (MovementKind.COMMIT, Delta(reserved=-3, committed=3)),
        (MovementKind.FULFIL, Delta(on_hand=-3, committed=-3)),
        (MovementKind.CANCEL, Delta(committed=-3)),
        (MovementKind.RETURN, Delta(on_hand=3)),
    ],
)
def test_movement_deltas(kind, delta):
    assert movement_delta(kind, 3) == delta


def test_commit_keeps_available_unchanged():
    assert movement_delta(MovementKind.COMMIT, 5).available == 0


def test_set_and_transfer_need_explicit_deltas():
    with pytest.raises(ValueError):
        movement_delta(MovementKind.SET, 1)


def test_availability_floor_by_policy():
    assert availability_floor(BackorderPolicy.DENY, None) == 0
    assert availability_floor(BackorderPolicy.DENY, 10) == 0
    assert availability_floor(BackorderPolicy.ALLOW, None) is None
    assert availability_floor(BackorderPolicy.ALLOW_NOTIFY, 5) == -5


def test_merge_sums_lines_of_the_same_sku_and_sorts_for_lock_order():
    merged = merge_lines([RequestedLine("B", 1), RequestedLine("A", 2), RequestedLine("B", 3),
                          RequestedLine("A", 1, "WH")])
    assert merged == [RequestedLine("A", 1, "WH"), RequestedLine("A", 2), RequestedLine("B", 4)]


def test_merge_gives_opposite_carts_the_same_order():
    one = merge_lines([RequestedLine("X", 1), RequestedLine("Y", 1)])
    two = merge_lines([RequestedLine("Y", 1), RequestedLine("X", 1)])
    assert one == two


@pytest.mark.parametrize("lines", [[], [RequestedLine("A", 0)], [RequestedLine("A", -2)]])
def test_merge_rejects_empty_or_non_positive(lines):
    with pytest.raises(ValidationFailed):
        merge_lines(lines)


def test_routing_prefers_priority_then_most_available():
    ranked = rank_locations([
        LocationOption("store", 30, 100),
        LocationOption("wh-b", 10, 5),
        LocationOption("wh-a", 10, 8),
    ])
    assert [o.code for o in ranked] == ["wh-a", "wh-b", "store"]


def test_out_of_stock_and_back_in_stock_fire_on_crossing_only():
    assert EventKind.WENT_OUT_OF_STOCK in _events(2, 0)
    assert EventKind.WENT_OUT_OF_STOCK not in _events(0, 0)
    assert EventKind.BACK_IN_STOCK in _events(0, 3)
    assert EventKind.BACK_IN_STOCK not in _events(3, 5)


def test_oversold_fires_when_available_goes_further_below_zero():
    assert EventKind.OVERSOLD in _events(1, -1)
    assert EventKind.OVERSOLD in _events(-1, -3)
    assert EventKind.OVERSOLD not in _events(-3, -1)


def test_low_stock_fires_once_when_entering_the_band():
    assert EventKind.LOW_STOCK in _events(10, 4, threshold=5)
    assert EventKind.LOW_STOCK not in _events(4, 3, threshold=5)
    assert EventKind.LOW_STOCK not in _events(10, 0, threshold=5)
    assert EventKind.LOW_STOCK not in _events(10, 4, threshold=None)


def test_no_events_when_nothing_changes():
    assert _events(5, 5) == []
