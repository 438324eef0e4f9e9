"""Waitlist rules: wave sizes, what counts as stock becoming sellable, addresses, unsubscribe tokens."""

from __future__ import annotations

import pytest

from stockpilot.adapters.notify.unsubscribe import UnsubscribeTokenInvalid, sign_unsubscribe, verify_unsubscribe
from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.waitlist import available_rose, normalise_email, wave_size

SECRET = "s" * 32


@pytest.mark.parametrize(("available", "over", "size"),
                         [(10, 0.2, 12), (1, 0.2, 2), (5, 0.0, 5), (3, 0.5, 5), (0, 0.2, 0), (-4, 0.2, 0)])
def test_a_wave_is_the_units_plus_the_over_notification_margin(available, over, size):
    assert wave_size(available, over) == size


def _levels(on_hand, incoming=0):
    return {"on_hand": on_hand, "committed": 0, "reserved": 0, "incoming": incoming}


def test_only_more_sellable_units_release_a_wave():
    assert available_rose("BackInStock", {"available": 3})
    assert available_rose("StockChanged", {"before": _levels(2), "after": _levels(5), "total_available": 5})
    po_placed = {"before": _levels(0), "after": _levels(0, incoming=12), "total_available": 0}
    assert not available_rose("StockChanged", po_placed)
    assert not available_rose("StockChanged", {"before": _levels(5), "after": _levels(2), "total_available": 2})
    assert not available_rose("LowStock", {"available": 2})


def test_addresses_are_normalised_and_checked():
    assert normalise_email("  Ann@Example.COM ") == "ann@example.com"
    for bad in ("ann", "ann@", "a b@example.com", "ann@example", "<ann@example.com>"):
        with pytest.raises(ValidationFailed):
            normalise_email(bad)


def test_unsubscribe_tokens_verify_and_refuse_tampering():
    token = sign_unsubscribe(42, SECRET)
    assert verify_unsubscribe(token, SECRET) == 42
    version, _body, mac = token.split(".")
    forged = sign_unsubscribe(43, SECRET).split(".")[1]
    for bad in (f"{version}.{forged}.{mac}", token + "x", "v1.abc", sign_unsubscribe(42, "t" * 32)):
        with pytest.raises(UnsubscribeTokenInvalid):
            verify_unsubscribe(bad, SECRET)
