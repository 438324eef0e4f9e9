"""Purchase-order vocabulary and rules: the lifecycle, what needs a person, how a growing need is met. Pure."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class POStatus(StrEnum):
    DRAFT = "draft"
    NEEDS_REVIEW = "needs_review"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    DELIVERY_FAILED = "delivery_failed"


# Where each status may go. Receiving is allowed from sent too: goods can arrive before any acknowledgement.
TRANSITIONS: dict[POStatus, frozenset[POStatus]] = {
    POStatus.DRAFT: frozenset({POStatus.NEEDS_REVIEW, POStatus.SENT, POStatus.CANCELLED}),
    POStatus.NEEDS_REVIEW: frozenset({POStatus.SENT, POStatus.CANCELLED}),
    POStatus.SENT: frozenset({POStatus.ACKNOWLEDGED, POStatus.PARTIALLY_RECEIVED, POStatus.RECEIVED,
                              POStatus.CANCELLED, POStatus.DELIVERY_FAILED}),
    POStatus.ACKNOWLEDGED: frozenset({POStatus.PARTIALLY_RECEIVED, POStatus.RECEIVED, POStatus.CANCELLED}),
    POStatus.PARTIALLY_RECEIVED: frozenset({POStatus.PARTIALLY_RECEIVED, POStatus.RECEIVED, POStatus.CLOSED}),
    POStatus.RECEIVED: frozenset({POStatus.CLOSED}),
    POStatus.DELIVERY_FAILED: frozenset({POStatus.CANCELLED, POStatus.SENT}),
    POStatus.CLOSED: frozenset(),
    POStatus.CANCELLED: frozenset(),
}

# A PO in one of these still brings (or may bring) stock: it holds the SKU's "in flight" slot.
OPEN_STATUSES = frozenset({POStatus.DRAFT, POStatus.NEEDS_REVIEW, POStatus.SENT, POStatus.ACKNOWLEDGED,
                           POStatus.PARTIALLY_RECEIVED})
# The event a change of when a SKU's supply is expected writes (a sent PO rescheduled, a supplier's lead time or
# availability changed): {"cause": "po_eta" | "lead_time", ...}. Backorder ETAs are recomputed from it.
SUPPLY_REDATED = "SupplyRedated"
# Not yet with the supplier: its quantities are not counted as `incoming` in the ledger yet.
UNSENT_STATUSES = frozenset({POStatus.DRAFT, POStatus.NEEDS_REVIEW})


def can_move(current: POStatus, target: POStatus) -> bool:
    return target in TRANSITIONS[current]


class Growth(StrEnum):
    """How a need that outgrew what is on order is met."""

    EDIT_DRAFT = "edit_draft"  # not sent yet: change the draft in place
    CHANGE_ORDER = "change_order"  # sent, not acknowledged: a new revision to the same supplier
    TOP_UP = "top_up"  # acknowledged (the supplier has committed to it): a separate, additional PO


def growth_for(status: POStatus) -> Growth:
    if status in UNSENT_STATUSES:
        return Growth.EDIT_DRAFT
    if status is POStatus.SENT:
        return Growth.CHANGE_ORDER
    return Growth.TOP_UP


COST_JUMP_LIMIT = Decimal("0.15")  # a unit cost more than 15% above the last PO's goes to a person


def review_reasons(
    *,
    has_offers: bool,
    chosen: str | None,
    over_capacity: bool,
    unit_cost: Decimal | None,
    last_unit_cost: Decimal | None,
    cost_jump_limit: Decimal = COST_JUMP_LIMIT,
) -> list[str]:
    """The exceptions that send a PO to the review queue instead of to the supplier; empty: send it."""
    if not has_offers:
        return ["no supplier on file for the SKU"]
    if chosen is None:
        return ["no supplier available"]
    reasons: list[str] = []
    if over_capacity:
        reasons.append("quantity above every supplier's capacity")
    if unit_cost is not None and last_unit_cost is not None and last_unit_cost > 0:
        rise = (unit_cost - last_unit_cost) / last_unit_cost
        if rise > cost_jump_limit:
            reasons.append(
                f"unit cost {unit_cost} is {rise * 100:.0f}% above the last PO's {last_unit_cost}"
                f" (limit {cost_jump_limit * 100:.0f}%)"
            )
    return reasons


def po_number(po_id: int) -> str:
    return f"PO-{po_id:06d}"
