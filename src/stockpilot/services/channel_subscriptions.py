"""Webhook subscription health: Stockpilot registers its subscriptions on each platform and keeps them alive.

Platforms drop subscriptions that fail (WooCommerce disables a hook after 5 failed deliveries, BigCommerce
deactivates one, Shopify deletes one after 48 h), and then nothing arrives and nobody notices. So a durable
`channel.subscriptions` timer sweeps every `subscription_check_minutes`: for each Shopify, WooCommerce and
BigCommerce channel with an API token it enqueues a `channel.subscriptions` outbox row, whose handler (outside any
transaction) reads the platform's subscriptions and, per topic Stockpilot handles, decides:
- one of ours (same topic, our address) is active: healthy, nothing to do;
- ours exists but is disabled / inactive: re-enable it (WooCommerce `status: active`, BigCommerce
  `is_active: true`);
- none (or, on Shopify, which deletes failing ones, none active): create it.
The outcome of every topic is kept in `channel_subscriptions` (platform id, status, what was found and done) and
written as one `subscription_health` decision on `channel:NAME`, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.channels import bigcommerce, shopify, woocommerce
from stockpilot.adapters.channels.bigcommerce_hooks import BigCommerceHooks
from stockpilot.adapters.channels.hooks import HookApi, HooksRefused
from stockpilot.adapters.channels.shopify_hooks import ShopifyHooks
from stockpilot.adapters.channels.woocommerce_hooks import WooCommerceHooks
from stockpilot.adapters.db import channel_store, subscription_store
from stockpilot.domain.errors import NotFound, ValidationFailed
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.services.channels import webhook_path
from stockpilot.services.context import Context

TIMER, SWEEP_KEY = "channel.subscriptions", "channel-subscriptions"
TOPIC = "channel.subscriptions"
TOPICS: dict[str, tuple[str, ...]] = {
    "shopify": shopify.TOPICS, "woocommerce": woocommerce.TOPICS, "bigcommerce": bigcommerce.TOPICS,
}

ApiFor = Callable[[dict[str, Any]], HookApi | None]


def hook_api_for(channel: dict[str, Any]) -> HookApi | None:
    """The platform's subscription API for the channel, or None when it has no API credentials."""
    token = channel["api_token"]
    if not token:
        return None
    if channel["kind"] == "shopify":
        return ShopifyHooks(channel["api_url"] or f"https://{channel['shop_domain']}", token)
    if channel["kind"] == "woocommerce":
        base = channel["api_url"] or (f"{channel['site_url']}/wp-json/wc/v3" if channel["site_url"] else None)
        return WooCommerceHooks(base, token, channel["secret"]) if base else None
    if channel["kind"] == "bigcommerce":
        return BigCommerceHooks(channel["api_url"], token, channel["secret"])
    return None


class ChannelSubscriptions:
    def __init__(self, ctx: Context, api_for: ApiFor = hook_api_for) -> None:
        self.ctx = ctx
        self.api_for = api_for

    def address(self, channel: dict[str, Any]) -> str:
        return self.ctx.settings.public_url.rstrip("/") + webhook_path(channel["kind"], channel["name"])

    # ---- the schedule ----------------------------------------------------------------------------------------
    def schedule_sweep(self) -> bool:
        """Book the first sweep now unless one is pending (a worker calls this on start)."""

        def work(conn: Connection) -> bool:
            if timers.has_scheduled(conn, SWEEP_KEY, TIMER):
                return False
            now = self.ctx.clock.now()
            timers.schedule(conn, TIMER, SWEEP_KEY, now, {}, now=now)
            return True

        return self.ctx.db.write(work)

    def timer_handlers(self) -> dict[str, timers.TimerHandler]:
        return {TIMER: self._on_sweep}

    def _on_sweep(self, conn: Connection, payload: dict[str, Any]) -> None:
        # Inside the timer's transaction: only ask for one check per channel and book the next sweep.
        now = self.ctx.clock.now()
        # Platforms deliver to public HTTPS addresses only (Shopify and BigCommerce refuse others): with the
        # default loopback public_url there is nothing to register, so the sweep only books the next one.
        reachable = self.ctx.settings.public_url.startswith("https://")
        for channel in channel_store.list_channels(conn) if reachable else []:
            if channel["active"] and channel["kind"] in TOPICS and channel["api_token"]:
                outbox.enqueue(conn, TOPIC, {"channel": channel["name"]},
                               f"subscriptions:{channel['name']}:{now.isoformat()}", now, max_attempts=5)
        minutes = self.ctx.settings.subscription_check_minutes
        timers.schedule(conn, TIMER, SWEEP_KEY, now + timedelta(minutes=minutes), {}, now=now)

    # ---- one check (the outbox handler, and `stockpilot channel subscriptions NAME --check`) -----------------
    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return {"channel": payload["channel"], "topics": self.check(payload["channel"])}

    def check(self, name: str) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            channel = channel_store.channel_where(conn, name=name)
        if channel is None:
            raise NotFound(f"unknown channel {name!r}")
        if channel["kind"] not in TOPICS:
            raise ValidationFailed(f"{channel['kind']} channels have no webhook subscriptions to check")
        api = self.api_for(channel)
        if api is None:
            raise ValidationFailed(f"channel {name} needs --api-token (and a site URL / API URL) to manage its "
                                   "webhook subscriptions")
        address = self.address(channel)
        outcomes: list[dict[str, Any]] = []
        try:
            found = api.list()
            for topic in TOPICS[channel["kind"]]:
                outcomes.append(self._repair(api, topic, address, found))
        except HooksRefused as exc:
            # Credentials or a request the platform refuses: recorded (and shown), not retried.
            done = {o["topic"] for o in outcomes}
            outcomes.extend({"topic": t, "platform_id": None, "status": "failed", "action": "none",
                             "detail": str(exc)[:500]} for t in TOPICS[channel["kind"]] if t not in done)
        self.ctx.db.write(lambda conn: self._record(conn, channel, address, outcomes))
        return outcomes

    @staticmethod
    def _repair(api: HookApi, topic: str, address: str, found: list[Any]) -> dict[str, Any]:
        key = api.topic_key(topic)
        ours = [s for s in found if s.topic == key and s.address == address]
        healthy = next((s for s in ours if s.active), None)
        if healthy is not None:
            return {"topic": topic, "platform_id": healthy.platform_id, "status": "active", "action": "none",
                    "detail": "active"}
        if ours and api.can_reenable:
            again = api.reenable(ours[0])
            return {"topic": topic, "platform_id": again.platform_id, "status": "active" if again.active else
                    again.status, "action": "reenabled", "detail": f"was {ours[0].status}"}
        created = api.create(topic, address)
        return {"topic": topic, "platform_id": created.platform_id, "status": "active" if created.active else
                created.status, "action": "created",
                "detail": f"was {ours[0].status}" if ours else "missing"}

    def _record(self, conn: Connection, channel: dict[str, Any], address: str, outcomes: list[dict[str, Any]]
                ) -> None:
        now = self.ctx.clock.now()
        for outcome in outcomes:
            subscription_store.upsert(conn, channel["id"], outcome["topic"], address, outcome["platform_id"],
                                      outcome["status"], outcome["detail"], now)
        changed = [o for o in outcomes if o["action"] != "none" or o["status"] != "active"]
        reason = ("every subscription active" if not changed else
                  "; ".join(f"{o['topic']}: {o['action'] if o['action'] != 'none' else o['status']} "
                            f"({o['detail']})" for o in changed))
        decisions.record(conn, f"channel:{channel['name']}", "subscription_health",
                         {"address": address, "found": {o["topic"]: o["detail"] for o in outcomes}},
                         ["none", "reenable", "create"], [{k: o[k] for k in ("topic", "action", "status")}
                                                          for o in outcomes], reason, now)

    def list(self, name: str) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            channel = channel_store.channel_where(conn, name=name)
            if channel is None:
                raise NotFound(f"unknown channel {name!r}")
            return subscription_store.for_channel(conn, channel["id"])
