"""Intake of channel webhooks: find the store, verify the platform's signature on the raw body, persist, enqueue.

Nothing is applied here. The delivery row and its outbox row commit in one short transaction, so the platform
gets its 200 within milliseconds and a crash after the answer loses nothing; the platform's ids are unique keys,
so a redelivery is recognised and counted instead of stored twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import channel_store, delivery_intake_store
from stockpilot.adapters.db.delivery_intake_store import NewDelivery
from stockpilot.domain import webhook_signatures as sig
from stockpilot.domain.errors import NotFound, StockpilotError
from stockpilot.services.channels import normalise_site_url
from stockpilot.services.context import Context

PROCESS_TOPIC = "channel.webhook"
MAX_BODY_BYTES = 2 * 1024 * 1024  # Shopify order bodies with many lines reach hundreds of KB; 2 MiB is ample
BIGCOMMERCE_SECRET_HEADER = "x-webhook-secret"  # set in the hook's `headers` when it is registered
STANDARD_TOLERANCE_SECONDS = 300
CHANNEL_CACHE_SECONDS = 2.0

# The headers kept with each delivery (lower-cased): what an operator needs to trace it back on the platform.
KEPT_HEADERS = (
    "x-shopify-topic", "x-shopify-shop-domain", "x-shopify-api-version", "x-shopify-webhook-id",
    "x-shopify-event-id", "x-shopify-triggered-at", "x-wc-webhook-source", "x-wc-webhook-topic",
    "x-wc-webhook-resource", "x-wc-webhook-event", "x-wc-webhook-id", "x-wc-webhook-delivery-id",
    "webhook-id", "webhook-timestamp", "content-type", "user-agent",
)


class SignatureInvalid(StockpilotError):
    code = "invalid_signature"


@dataclass(frozen=True)
class Received:
    channel: str
    topic: str
    delivery_key: str
    event_key: str | None


@dataclass(frozen=True)
class Accepted:
    delivery_id: int | None
    duplicate: bool


class WebhookIntake:
    """find the store (`channel`), check the signature (`verify`), persist (`persist`): `receive` does all three
    for one delivery; the HTTP fast path calls the same three steps and persists concurrent deliveries together."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._known: dict[tuple[str, str], tuple[dict[str, Any], datetime]] = {}

    def receive(self, kind: str, name: str | None, headers: Mapping[str, str], body: bytes) -> Accepted:
        """404 NotFound (no such store), 401 SignatureInvalid, else the delivery is stored (or was already)."""
        channel = self.channel(kind, name, headers, body)
        received = self.verify(kind, channel, headers, body)
        (accepted,) = self.persist([self.new_delivery(channel, received, headers, body)])
        return accepted

    def channel(self, kind: str, name: str | None, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """The active channel the delivery is for (NotFound otherwise)."""
        cached = self.cached_channel(kind, name, headers, body)
        if cached is not None:
            return cached
        with self.ctx.db.read() as conn:
            row = self._channel(conn, kind, name, headers, body)
        self._known[_lookup_key(kind, name, headers, body)] = (row, self.ctx.clock.now())
        return row

    def cached_channel(self, kind: str, name: str | None, headers: Mapping[str, str],
                       body: bytes) -> dict[str, Any] | None:
        """A channel found in the last CHANNEL_CACHE_SECONDS: a burst of deliveries reads the registry once, not
        once each. Only finds are kept, so a store registered a moment ago is found at once; a deactivated one
        stops being accepted within that time."""
        hit = self._known.get(_lookup_key(kind, name, headers, body))
        if hit is None or (self.ctx.clock.now() - hit[1]).total_seconds() > CHANNEL_CACHE_SECONDS:
            return None
        return hit[0]

    def new_delivery(self, channel: dict[str, Any], received: Received, headers: Mapping[str, str],
                     body: bytes) -> NewDelivery:
        kept = {k: headers[k] for k in KEPT_HEADERS if k in headers}
        return NewDelivery(channel["id"], received.topic, received.delivery_key, received.event_key, kept, body)

    def persist(self, deliveries: Sequence[NewDelivery]) -> list[Accepted]:
        """Every new delivery's row and outbox row, and each redelivery counted on the row it repeats.

        SQLite: one transaction (in-process, nothing to save). PostgreSQL: first ONE statement in autocommit (one
        round trip, not three) for the new rows, then, only if there are any, the repeats counted in a second
        transaction; two steps, so the first can be re-run whole after a deadlock (nothing of it committed) and a
        counted repeat never is. Either way the whole call may be re-run after WriterBusy: nothing has been
        written when that is raised."""
        now = self.ctx.clock.now()
        if self.ctx.db.is_sqlite:
            stored = self.ctx.db.write(
                lambda conn: delivery_intake_store.store(conn, deliveries, now, PROCESS_TOPIC))
        else:
            new_ids = self.ctx.db.write_statements(
                lambda conn: delivery_intake_store.insert_new(conn, deliveries, now, PROCESS_TOPIC))
            repeats = [d for d, i in zip(deliveries, new_ids, strict=True) if i is None]
            earlier = self.ctx.db.write(
                lambda conn: delivery_intake_store.count_repeats(conn, repeats)) if repeats else []
            stored = delivery_intake_store.with_repeats(new_ids, earlier)
        return [Accepted(delivery_id, duplicate) for delivery_id, duplicate in stored]

    # ---- which store -------------------------------------------------------------------------------------
    def _channel(self, conn: Connection, kind: str, name: str | None, headers: Mapping[str, str],
                 body: bytes) -> dict[str, Any]:
        if name is not None:
            row = channel_store.channel_where(conn, name=name)
        elif kind == "shopify":
            domain = headers.get("x-shopify-shop-domain", "").strip().lower()
            row = channel_store.channel_where(conn, shop_domain=domain) if domain else None
        elif kind == "woocommerce":
            row = _by_source(conn, headers.get("x-wc-webhook-source", ""))
        elif kind == "bigcommerce":
            producer = str(_lenient_json(body).get("producer") or "")
            store_hash = producer.removeprefix("stores/") if producer.startswith("stores/") else ""
            row = channel_store.channel_where(conn, store_hash=store_hash.lower()) if store_hash else None
        else:
            row = None
        if row is None or row["kind"] != kind or not row["active"]:
            raise NotFound(f"no active {kind} channel for this delivery")
        return row

    # ---- signature and identity --------------------------------------------------------------------------
    def verify(self, kind: str, channel: dict[str, Any], headers: Mapping[str, str], body: bytes) -> Received:
        secret = channel["secret"]
        if kind == "shopify":
            if not sig.shopify_valid(secret, body, headers.get("x-shopify-hmac-sha256")):
                raise SignatureInvalid("X-Shopify-Hmac-Sha256 does not match the body")
            topic = headers.get("x-shopify-topic", "unknown")
            webhook_id, event_id = headers.get("x-shopify-webhook-id"), headers.get("x-shopify-event-id")
            return Received(channel["name"], topic, _key("webhook", webhook_id, body),
                            f"{topic}:{event_id}" if event_id else None)
        if kind == "woocommerce":
            if not sig.woocommerce_valid(secret, body, headers.get("x-wc-webhook-signature")):
                raise SignatureInvalid("X-WC-Webhook-Signature does not match the body")
            topic = headers.get("x-wc-webhook-topic", "unknown")
            # A WooCommerce retry gets a new delivery id; the same topic with the same body is the same event.
            return Received(channel["name"], topic, _key("delivery", headers.get("x-wc-webhook-delivery-id"), body),
                            f"{topic}:sha256:{hashlib.sha256(body).hexdigest()}")
        if kind == "bigcommerce":
            if "webhook-signature" in headers:
                self._verify_standard(secret, headers, body)
            elif not sig.same(secret, headers.get(BIGCOMMERCE_SECRET_HEADER)):
                raise SignatureInvalid("neither a Standard Webhooks signature nor the registered secret header")
            payload = _lenient_json(body)
            # BigCommerce's `hash` identifies the event across its retries.
            digest = payload.get("hash") if isinstance(payload.get("hash"), str) else None
            return Received(channel["name"], str(payload.get("scope") or "unknown"),
                            _key("hash", digest or headers.get("webhook-id"), body), None)
        self._verify_standard(secret, headers, body)
        return Received(channel["name"], str(_lenient_json(body).get("type") or "unknown"),
                        _key("webhook", headers.get("webhook-id"), body), None)

    def _verify_standard(self, secret: str, headers: Mapping[str, str], body: bytes) -> None:
        if not sig.standard_valid(secret, headers.get("webhook-id"), headers.get("webhook-timestamp"), body,
                                  headers.get("webhook-signature"), now_epoch=self.ctx.clock.now().timestamp(),
                                  tolerance_seconds=STANDARD_TOLERANCE_SECONDS):
            raise SignatureInvalid("webhook-signature does not match, or webhook-timestamp is too far from now")


def _key(prefix: str, platform_id: str | None, body: bytes) -> str:
    """The platform's id for the delivery; without one, the body's hash (an identical body is the same delivery)."""
    if platform_id and platform_id.strip():
        return f"{prefix}:{platform_id.strip()[:200]}"
    return f"sha256:{hashlib.sha256(body).hexdigest()}"


def _lenient_json(body: bytes) -> dict[str, Any]:
    """Routing fields only (topic, producer); a body that does not parse is still stored, then parked."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _by_source(conn: Connection, source: str) -> dict[str, Any] | None:
    try:
        site = normalise_site_url(source)
    except StockpilotError:
        return None
    return channel_store.channel_where(conn, site_url=site)


def _lookup_key(kind: str, name: str | None, headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    """What identifies the store of a delivery, as `_channel` looks it up."""
    if name is not None:
        return kind, f"name:{name}"
    if kind == "shopify":
        return kind, f"shop:{headers.get('x-shopify-shop-domain', '').strip().lower()}"
    if kind == "woocommerce":
        return kind, f"source:{headers.get('x-wc-webhook-source', '')}"
    if kind == "bigcommerce":
        return kind, f"producer:{_lenient_json(body).get('producer')}"
    return kind, ""
