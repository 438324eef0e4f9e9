"""The one Shopify Admin GraphQL client (API 2026-10): the pusher's `inventorySetQuantities` and the backorder
cancel's `orderCancel` both go through it.

- POST {api_url or https://SHOP}/admin/api/2026-10/graphql.json with `X-Shopify-Access-Token` (the app's Admin API
  access token, `--api-token`) and `{"query", "variables"}`.
- Throttling: HTTP 429 (Retry-After) or a `THROTTLED` error with `extensions.cost.throttleStatus`: wait for the
  bucket to refill the request's cost (requested - currentlyAvailable) / restoreRate, as PushThrottled (the outbox
  waits that long without spending an attempt).
- 401/403, other 4xx and top-level GraphQL errors are permanent (PushRejected); 5xx, 408/409, a body that is not
  JSON and connection errors are retried with backoff. User errors are the caller's to judge.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from stockpilot.adapters.channels.push import ChannelAccount, PushRejected, PushThrottled

API_VERSION = "2026-10"


def numeric_id(value: str) -> str:
    """`gid://shopify/InventoryItem/123` or `123` -> `123`."""
    return value.rsplit("/", 1)[-1]


def gid(kind: str, value: str) -> str:
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


class ShopifyAdmin:
    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def graphql(self, account: ChannelAccount, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The answer's `data`, or the outcome the outbox understands (PushThrottled / PushRejected / an error)."""
        if not account.api_token:
            raise PushRejected(f"channel {account.name}: no Admin API access token (--api-token)")
        base = (account.api_url or f"https://{account.shop_domain}").rstrip("/")
        response = self.client.post(
            f"{base}/admin/api/{API_VERSION}/graphql.json",
            headers={"X-Shopify-Access-Token": account.api_token, "Content-Type": "application/json",
                     "Accept": "application/json"},
            content=json.dumps({"query": query, "variables": variables}),
        )
        if response.status_code == 429:
            raise PushThrottled(_retry_after(response.headers.get("Retry-After")), "HTTP 429 from Shopify")
        if response.status_code in (401, 403):
            raise PushRejected(f"Shopify answered {response.status_code}: {response.text[:200]}")
        if response.status_code >= 500 or response.status_code in (408, 409):
            raise RuntimeError(f"Shopify answered {response.status_code}: {response.text[:200]}")
        if response.status_code != 200:
            raise PushRejected(f"Shopify answered {response.status_code}: {response.text[:200]}")
        try:
            body = response.json()
        except ValueError:
            raise RuntimeError(f"Shopify answered with a body that is not JSON: {response.text[:200]}") from None
        errors = body.get("errors")
        if errors:
            listed = errors if isinstance(errors, list) else [{"message": str(errors)}]
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in listed):
                raise PushThrottled(_cost_wait(body), "Shopify THROTTLED (cost bucket empty)")
            raise PushRejected("Shopify GraphQL errors: " + "; ".join(str(e.get("message")) for e in listed)[:500])
        return body.get("data") or {}


def user_error_text(errors: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e.get('code')}: {e.get('message')} ({'.'.join(map(str, e.get('field') or []))})"
                     for e in errors)


def _retry_after(value: str | None) -> float:
    try:
        return max(float(value or 1.0), 0.0)
    except ValueError:
        return 1.0


def _cost_wait(body: dict[str, Any]) -> float:
    """Seconds until the leaky bucket holds the request's cost again (at least a short pause)."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        needed = float(cost.get("requestedQueryCost") or 0) - float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return 1.0
    return max(needed / rate, 0.1) if rate > 0 else 1.0
