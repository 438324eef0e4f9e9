"""What a channel delivery means, in Stockpilot's words: the commands the platform parsers produce. Pure values.

A parser turns one platform payload into a list of these; the processor applies them through the core. A payload
that cannot be understood raises Unprocessable with a short machine reason (the delivery is parked with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class Unprocessable(Exception):
    """The delivery is kept but not applied: `reason` is a short code (malformed_json, unknown_sku, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ChannelLine:
    """One order line as the channel sent it: the SKU string and/or the channel's ids for the variant."""

    quantity: int
    sku: str | None
    external_ids: tuple[str, ...] = ()  # listing ids to try first (channel_listings), e.g. a variant id


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    order_id: str
    lines: tuple[ChannelLine, ...]
    updated_at: datetime | None = None
    at_channel_location: bool = False  # the channel ships it from its own stock (Amazon FBA): take it there
    customer_email: str | None = None  # for backorder notices (adapters/channels/contact.py)
    customer_phone: str | None = None  # E.164, for backorder notices by SMS when there is no email


@dataclass(frozen=True, slots=True)
class CancelOrder:
    order_id: str
    updated_at: datetime | None = None
    only_if_open: bool = False  # a refund: an order already shipped stays shipped


@dataclass(frozen=True, slots=True)
class FulfilOrder:
    order_id: str
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReturnLine:
    line: ChannelLine
    restock: bool
    key: str  # the platform's id for this returned line: the idempotency key of its ledger entry


@dataclass(frozen=True, slots=True)
class ReturnStock:
    order_id: str
    lines: tuple[ReturnLine, ...]


@dataclass(frozen=True, slots=True)
class SetCount:
    """The channel's own count of an item changed (a POS sale, a manual edit in the platform's admin)."""

    item: ChannelLine  # quantity unused; sku / external ids identify the item
    item_key: str  # per-channel identity of the counted item (and location), for ordering and echo detection
    on_hand: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ListingUpkeep:
    """The channel's catalog changed (Shopify products/update): its ids for each SKU, to keep in channel_listings."""

    item_key: str  # the product, for ordering (an older product update never overwrites a newer mapping)
    entries: tuple[tuple[str, str, str], ...]  # (the channel's id, the SKU string, the id's role)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NoEffect:
    """Understood, and nothing to do (a pending order, a status Stockpilot does not act on)."""

    reason: str


Command = PlaceOrder | CancelOrder | FulfilOrder | ReturnStock | SetCount | ListingUpkeep | NoEffect
