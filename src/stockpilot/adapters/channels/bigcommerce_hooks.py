"""BigCommerce webhooks (V3): `GET/POST /stores/{hash}/v3/hooks`, `PUT /v3/hooks/{id}`, header `X-Auth-Token`.

A hook is `{id, scope, destination, is_active, headers, ...}` inside `{"data": ..., "meta": ...}`; BigCommerce
sets `is_active: false` after deliveries keep failing. Stockpilot creates each hook with the channel's secret in
its `headers` (`X-Webhook-Secret`), which the intake checks on every delivery.
"""

from __future__ import annotations

from typing import Any

import httpx

from stockpilot.adapters.channels.hooks import HooksRefused, Subscription

SECRET_HEADER = "X-Webhook-Secret"


class BigCommerceHooks:
    can_reenable = True

    def __init__(self, api_url: str, token: str, secret: str, timeout: float = 10.0) -> None:
        self.base, self.token, self.secret, self.timeout = api_url.rstrip("/"), token, secret, timeout

    @staticmethod
    def topic_key(topic: str) -> str:
        return topic

    def list(self) -> list[Subscription]:
        found: list[Subscription] = []
        page = 1
        while True:
            answer = self._call("GET", "/v3/hooks", params={"page": page, "limit": 250})
            found.extend(_subscription(hook) for hook in answer.get("data") or [])
            pagination = (answer.get("meta") or {}).get("pagination") or {}
            if page >= int(pagination.get("total_pages") or 1):
                return found
            page += 1

    def create(self, topic: str, address: str) -> Subscription:
        return _subscription(self._call("POST", "/v3/hooks", json={
            "scope": topic, "destination": address, "is_active": True,
            "headers": {SECRET_HEADER: self.secret}})["data"])

    def reenable(self, subscription: Subscription) -> Subscription:
        return _subscription(self._call("PUT", f"/v3/hooks/{subscription.platform_id}",
                                        json={"is_active": True})["data"])

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Auth-Token": self.token, "Accept": "application/json"}
        with httpx.Client(timeout=self.timeout) as client:
            response = client.request(method, self.base + path, headers=headers, **kwargs)
        if response.status_code in (400, 401, 403, 404, 422):
            raise HooksRefused(f"BigCommerce {method} {path}: {response.status_code} {response.text[:300]}")
        response.raise_for_status()
        return response.json()


def _subscription(hook: dict[str, Any]) -> Subscription:
    active = hook.get("is_active") is True
    return Subscription(str(hook["id"]), str(hook.get("scope") or ""), str(hook.get("destination") or ""), active,
                        "active" if active else "inactive")
