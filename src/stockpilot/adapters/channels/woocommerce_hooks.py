"""WooCommerce webhooks through its REST API (v3): `GET/POST /wp-json/wc/v3/webhooks`, `PUT .../webhooks/{id}`.

A webhook is `{id, name, status: active|paused|disabled, topic, delivery_url, secret, ...}`; WooCommerce sets
`disabled` after 5 consecutive failed deliveries. Authentication: the REST key pair as HTTP Basic (`ck_...:cs_...`
in the channel's API token), the base `{site_url}/wp-json/wc/v3` unless `--api-url` says otherwise. The hook is
created with the channel's secret, which is what WooCommerce signs deliveries with.
"""

from __future__ import annotations

from typing import Any

import httpx

from stockpilot.adapters.channels.hooks import HooksRefused, Subscription


class WooCommerceHooks:
    can_reenable = True

    def __init__(self, base_url: str, api_token: str, secret: str, timeout: float = 10.0) -> None:
        key, _, consumer_secret = api_token.partition(":")
        self.base, self.auth, self.secret, self.timeout = base_url.rstrip("/"), (key, consumer_secret), secret, timeout

    @staticmethod
    def topic_key(topic: str) -> str:
        return topic

    def list(self) -> list[Subscription]:
        found: list[Subscription] = []
        page = 1
        while True:
            batch = self._call("GET", "/webhooks", params={"per_page": 100, "page": page})
            found.extend(_subscription(hook) for hook in batch)
            if len(batch) < 100:
                return found
            page += 1

    def create(self, topic: str, address: str) -> Subscription:
        return _subscription(self._call("POST", "/webhooks", json={
            "name": f"Stockpilot {topic}", "topic": topic, "delivery_url": address, "secret": self.secret,
            "status": "active"}))

    def reenable(self, subscription: Subscription) -> Subscription:
        return _subscription(self._call("PUT", f"/webhooks/{subscription.platform_id}", json={"status": "active"}))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        with httpx.Client(timeout=self.timeout) as client:
            response = client.request(method, self.base + path, auth=self.auth, **kwargs)
        if response.status_code in (400, 401, 403, 404):
            raise HooksRefused(f"WooCommerce {method} {path}: {response.status_code} {response.text[:300]}")
        response.raise_for_status()
        return response.json()


def _subscription(hook: dict[str, Any]) -> Subscription:
    status = str(hook.get("status") or "")
    return Subscription(str(hook["id"]), str(hook.get("topic") or ""), str(hook.get("delivery_url") or ""),
                        status == "active", status)
