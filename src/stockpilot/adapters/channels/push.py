"""The contract between Stockpilot's push pipeline and one platform's pusher (Shopify, WooCommerce, Amazon, ...).

The pipeline (services/channel_push.py) decides WHAT to push and WHEN; a pusher only knows HOW to set counts on its
platform. A pusher receives the channel's account (`ChannelAccount`), the lines to set (`PushLine`: one SKU at one
channel location, the absolute quantity to set, the channel's own ids for the item from `channel_listings`) and
the outbox idempotency key, and sets every line's count to `quantity` (absolute, never a delta: a repeated push is
harmless). It runs outside any transaction, from the outbox, at least once.

Outcomes:
- return a `PushResult` (optionally per-line notes, e.g. the platform's own adjustment ids): the values are recorded
  in `channel_pushes` (echo filter) and a decision-log entry is written.
- raise `PushThrottled(retry_after_seconds)` when the platform says "slow down" (HTTP 429 + Retry-After, Shopify's
  THROTTLED error, BigCommerce's X-Rate-Limit-Time-Reset-Ms, SP-API 429): the outbox tries again after that delay
  and does not count the attempt towards dead-lettering.
- raise `PushRejected` (permanent) when retrying cannot help (bad token, unknown item, a line with no mapping):
  the outbox row is dead at once and shows in `stockpilot outbox list --status dead`.
- raise anything else (connection refused, 5xx, timeout) for "try again later with exponential backoff".

`item_key(line)` names the (item, location) the way the platform's own count webhooks will, so the echo of a push
(Shopify `inventory_levels/update` carrying the value just set) matches the `channel_pushes` row and is ignored.

`read_counts(account, lines)` (optional, `ChannelCounter`) reads the platform's current counts for
`stockpilot reconcile`.

What a failure proves (the echo filter, docs/channels.md "Echoes of failed pushes"): the pipeline writes each value
before sending, so that its echo is recognised; a value the platform provably did NOT set must stop counting as an
echo, or a real count equal to it would be ignored. Proof is: PushRejected and PushThrottled (the platform refused
the request or did not run it), `PushNotApplied` (a retryable refusal, e.g. a Shopify user error: the mutation is
validated whole), a connection never made (`httpx.ConnectError`, `httpx.ConnectTimeout`, ConnectionRefusedError),
and the batch lines in `PushResult.rejected` / `failed` (the platform answered for that item) unless they are listed
in `PushResult.unsure`. Anything else (a timeout after sending, 5xx, an answer that cannot be read) may have been
applied, so its values still count as echoes for the echo window. A pusher that makes several requests per call and
fails at a later one names the lines that were not applied in the exception's `unapplied` (item keys): the earlier
requests' lines were set (`mark_unapplied`).

Batches: a pusher with `batch_limit` > 1 (Shopify 250 quantities per `inventorySetQuantities`, WooCommerce 100
updates per `/batch`, BigCommerce 2,000 items per absolute adjustment) is handed up to that many lines of many SKUs
in one call. One bad item must not sink the others: the pusher reports it in `PushResult.rejected` (permanent for
that item: unknown id, refused value) or `PushResult.failed` (that item may succeed later), keyed by `item_key`, and
every other line counts as set. Whole-request outcomes (throttled, refused token, 5xx) still raise as above.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

import httpx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChannelAccount:
    """What a pusher needs to reach one store (a `channels` row without its webhook secret)."""

    name: str
    kind: str
    api_url: str | None
    api_token: str | None
    shop_domain: str | None = None
    site_url: str | None = None
    store_hash: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)  # platform extras (e.g. a Woo consumer secret)


@dataclass(frozen=True, slots=True)
class PushLine:
    """Set one SKU's count at one channel location to `quantity`.

    item_ids: the channel's ids for the SKU from `channel_listings`, by role ("inventory_item", "variant",
    "product", "variation", "seller_sku", ...); a pusher picks the roles it needs and raises PushRejected when one
    is missing. parent_ids: by role, the parent product a listing names (a WooCommerce variation's variable
    product, shared by its sizes and colours). location_id: the channel's own location id (`channel_locations`),
    None for a channel without locations (WooCommerce). previous: the value Stockpilot last pushed there (None:
    never), for platforms with a compare-and-set.
    """

    sku: str
    quantity: int
    item_ids: Mapping[str, str]
    location_id: str | None
    previous: int | None = None
    parent_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PushResult:
    """Success. `notes` is JSON-able detail kept in the decision log (e.g. the platform's adjustment group id).
    rejected / failed: item_key -> the platform's reason, for lines of a batch that were NOT set (see above)."""

    notes: Mapping[str, Any] = field(default_factory=dict)
    rejected: Mapping[str, str] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)
    unsure: frozenset[str] = frozenset()  # failed lines whose answer leaves open whether the platform set them

    def not_applied(self) -> set[str]:
        """The item keys the platform said it did not set."""
        return (set(self.rejected) | set(self.failed)) - set(self.unsure)


class PushThrottled(Exception):
    """The platform asked us to wait: retry after `retry_after_seconds`; not a failure of the push."""

    throttled = True
    not_applied = True  # a throttled request is not run

    def __init__(self, retry_after_seconds: float, detail: str = "") -> None:
        super().__init__(f"throttled, retry after {retry_after_seconds:g}s{': ' + detail if detail else ''}")
        self.retry_after_seconds = max(float(retry_after_seconds), 0.0)


class PushRejected(Exception):
    """Retrying cannot help (bad credentials, unknown item, missing mapping): the outbox row is dead at once."""

    permanent = True
    not_applied = True  # refused: nothing of the request was set


class PushNotApplied(RuntimeError):
    """The platform refused for now and set nothing (e.g. a Shopify user error on a concurrent request): retried
    with backoff, and its values are known not to be on the channel."""

    not_applied = True


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, ConnectionRefusedError)  # the request never left


def unapplied_keys(exc: BaseException, keys: Collection[str]) -> set[str]:
    """Of the item keys a failed push call carried, those the failure proves were not set (see the module doc)."""
    named = getattr(exc, "unapplied", None)
    if named is not None:
        return set(keys) & set(named)
    if getattr(exc, "not_applied", False) or isinstance(exc, _NOT_SENT):
        return set(keys)
    return set()


def mark_unapplied(exc: BaseException, keys: Collection[str]) -> None:
    """For a pusher that made several requests in one call and failed at one: if the failure proves its request
    was not applied, only `keys` (that request's lines and those not sent yet) are unapplied, not the whole call."""
    proven = getattr(exc, "unapplied", None) is not None or getattr(exc, "not_applied", False) \
        or isinstance(exc, _NOT_SENT)
    if proven:
        exc.unapplied = frozenset(keys)  # type: ignore[attr-defined]


@runtime_checkable
class ChannelPusher(Protocol):
    kind: str

    def item_key(self, line: PushLine) -> str:
        """The (item, location) identity the platform's count webhooks use: the `channel_pushes` key."""
        ...

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult: ...


@runtime_checkable
class ChannelCounter(Protocol):
    def read_counts(self, account: ChannelAccount, lines: Sequence[PushLine]) -> Mapping[str, int | None]:
        """The platform's current count per `item_key(line)` (None: the platform does not track that item)."""
        ...


def waiting_out_throttles(call: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep, tries: int = 6,
                          max_wait: float = 30.0) -> T:
    """For reads that page through a platform's lists (reconciliation): a page the platform throttles is asked
    again after the wait it named, a few times, rather than failing a read of thousands of items halfway. A wait
    over `max_wait`, or the last try, raises PushThrottled to the caller."""
    for attempt in range(tries):
        try:
            return call()
        except PushThrottled as exc:
            if attempt == tries - 1 or exc.retry_after_seconds > max_wait:
                raise
            sleep(exc.retry_after_seconds)
    raise AssertionError("unreachable")


def batch_limit(pusher: object) -> int:
    """How many lines one push call may carry (1: the pusher takes one SKU's lines at a time)."""
    return max(int(getattr(pusher, "batch_limit", 1) or 1), 1)


def required_id(line: PushLine, *roles: str) -> str:
    """The first of the channel's ids for the line in the given roles, or PushRejected naming what is missing."""
    for role in roles:
        value = line.item_ids.get(role)
        if value:
            return value
    raise PushRejected(f"{line.sku}: no channel listing with role {' or '.join(roles)} (map one: PUT "
                       f"/api/v1/channel-listings {{channel, external_id, sku, role: {roles[0]!r}}})")
