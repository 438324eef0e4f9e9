"""What a platform's webhook-subscription API looks like to Stockpilot: list, create, re-enable.

Each platform loses subscriptions its own way (WooCommerce disables a hook after 5 failed deliveries, BigCommerce
deactivates one after failing for a while, Shopify deletes one after 48 h of failures), so the health check
(services/channel_subscriptions.py) reads them back and repairs them through these clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Subscription:
    platform_id: str
    topic: str
    address: str
    active: bool
    status: str  # the platform's own word (active, disabled, paused, is_active=false, ...)


class HooksRefused(Exception):
    """The platform refused the credentials or the request: retrying cannot help."""

    permanent = True


class HookApi(Protocol):
    can_reenable: bool  # False: a lost subscription is re-created (Shopify deletes failing ones)

    def topic_key(self, topic: str) -> str:
        """How the platform spells Stockpilot's topic name in `Subscription.topic`."""
        ...

    def list(self) -> list[Subscription]: ...

    def create(self, topic: str, address: str) -> Subscription: ...

    def reenable(self, subscription: Subscription) -> Subscription: ...
