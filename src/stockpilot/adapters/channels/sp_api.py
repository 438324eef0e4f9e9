"""Amazon Selling Partner API client: Login with Amazon tokens, usage plans, paging.

- Auth: `POST {lwa_url}` (https://api.amazon.com/auth/o2/token) with the refresh_token grant, form-encoded
  `grant_type, refresh_token, client_id, client_secret`; the answer's `access_token` (valid `expires_in` seconds,
  3600) goes in `x-amz-access-token` on every call. It is renewed a minute before it expires, and once more when a
  call is refused 403 (an access token revoked or expired early).
- Usage plans: one token bucket per operation, with Amazon's default rate and burst, re-rated from the
  `x-amzn-RateLimit-Limit` header of each answer. A 429 (`QuotaExceeded`) empties the bucket and waits for the next
  token, a few times; past `max_wait` the call raises Throttled, so the poll is retried by the outbox later
  instead of holding a worker thread.
- Paging: `nextToken` (FBA inventory, in `pagination`) and `NextToken` (Orders, in `payload`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from stockpilot.domain.token_bucket import TokenBucket

DEFAULT_API_URL = "https://sellingpartnerapi-na.amazon.com"
DEFAULT_LWA_URL = "https://api.amazon.com/auth/o2/token"
# Default usage plans (requests per second, burst) from the SP-API references.
USAGE_PLANS: dict[str, tuple[float, float]] = {
    "getInventorySummaries": (2.0, 2.0),
    "getOrders": (0.0167, 20.0),
    "getOrderItems": (0.5, 30.0),
    "patchListingsItem": (5.0, 10.0),
}
_TOKEN_MARGIN_SECONDS = 60.0


class SpApiRefused(Exception):
    """Amazon refused the credentials (LWA invalid_grant / invalid_client, or 403 after a fresh token)."""

    permanent = True


class Throttled(Exception):
    """The usage plan allows no call within `max_wait`: try the whole poll again later."""


@dataclass
class SpApi:
    api_url: str
    lwa_url: str
    client_id: str
    client_secret: str
    refresh_token: str
    timeout: float = 15.0
    max_wait: float = 30.0  # seconds one call may wait for its usage plan before giving up (Throttled)
    retries_429: int = 3
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _token: str | None = None
    _token_until: float = 0.0
    calls: int = 0

    # ---- operations ----------------------------------------------------------------------------------------
    def inventory_summaries(self, marketplace_id: str, start: str | None) -> Iterator[dict[str, Any]]:
        """GET /fba/inventory/v1/summaries, every page; `start` (ISO 8601): only summaries changed since."""
        params: dict[str, Any] = {"details": "true", "granularityType": "Marketplace",
                                  "granularityId": marketplace_id, "marketplaceIds": marketplace_id}
        if start:
            params["startDateTime"] = start
        while True:
            answer = self.call("getInventorySummaries", "GET", "/fba/inventory/v1/summaries", params=params)
            yield from (answer.get("payload") or {}).get("inventorySummaries") or []
            token = (answer.get("pagination") or {}).get("nextToken")
            if not token:
                return
            params = {**params, "nextToken": token}

    def orders(self, marketplace_id: str, last_updated_after: str) -> Iterator[dict[str, Any]]:
        """GET /orders/v0/orders, every page; orders created or changed at or after `last_updated_after`."""
        params: dict[str, Any] = {"MarketplaceIds": marketplace_id, "LastUpdatedAfter": last_updated_after}
        while True:
            payload = self.call("getOrders", "GET", "/orders/v0/orders", params=params).get("payload") or {}
            yield from payload.get("Orders") or []
            token = payload.get("NextToken")
            if not token:
                return
            params = {"MarketplaceIds": marketplace_id, "NextToken": token}

    def order_items(self, order_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        while True:
            payload = self.call("getOrderItems", "GET", f"/orders/v0/orders/{order_id}/orderItems",
                                params=params).get("payload") or {}
            items.extend(payload.get("OrderItems") or [])
            token = payload.get("NextToken")
            if not token:
                return items
            params = {"NextToken": token}

    def patch_listing_quantity(self, seller_id: str, sku: str, marketplace_id: str, quantity: int
                               ) -> dict[str, Any]:
        """PATCH /listings/2021-08-01/items/{sellerId}/{sku}: the merchant-fulfilled quantity."""
        body = {"productType": "PRODUCT", "patches": [{
            "op": "replace", "path": "/attributes/fulfillment_availability",
            "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": quantity}],
        }]}
        return self.call("patchListingsItem", "PATCH", f"/listings/2021-08-01/items/{seller_id}/{sku}",
                         params={"marketplaceIds": marketplace_id}, json=body)

    # ---- transport -----------------------------------------------------------------------------------------
    def call(self, operation: str, method: str, path: str, *, params: dict[str, Any] | None = None,
             json: Any = None) -> dict[str, Any]:
        bucket = self.buckets.setdefault(operation, TokenBucket(*USAGE_PLANS.get(operation, (1.0, 1.0))))
        refreshed = throttled = 0
        while True:
            self._wait(bucket)
            response = self._send(method, path, params, json)
            self.calls += 1
            limit = response.headers.get("x-amzn-RateLimit-Limit")
            if limit:
                with contextlib.suppress(ValueError):  # a malformed header keeps the rate we had
                    bucket.set_rate(float(limit))
            if response.status_code == 429:
                throttled += 1
                bucket.empty(self.monotonic())
                if throttled > self.retries_429:
                    raise Throttled(f"{operation}: still throttled after {self.retries_429} waits")
                continue
            if response.status_code == 403 and not refreshed:
                refreshed = 1
                self._token = None  # an access token that expired or was revoked early: one fresh try
                continue
            if response.status_code in (401, 403):
                raise SpApiRefused(f"{operation}: {response.status_code} {_first_error(response)}")
            response.raise_for_status()
            return response.json() if response.content else {}

    def _wait(self, bucket: TokenBucket) -> None:
        wait = bucket.wait_for(self.monotonic())
        if wait > self.max_wait:
            raise Throttled(f"the usage plan allows the next call in {wait:.0f} s")
        if wait > 0:
            self.sleep(wait)
        bucket.take(self.monotonic())

    def _send(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> httpx.Response:
        headers = {"x-amz-access-token": self._access_token(), "Accept": "application/json",
                   "User-Agent": "Stockpilot/0.1 (Language=Python)"}
        with httpx.Client(timeout=self.timeout) as client:
            return client.request(method, self.api_url.rstrip("/") + path, params=params, json=body,
                                  headers=headers)

    def _access_token(self) -> str:
        if self._token and self.monotonic() < self._token_until:
            return self._token
        with httpx.Client(timeout=self.timeout) as client:
            response = client.post(self.lwa_url, data={
                "grant_type": "refresh_token", "refresh_token": self.refresh_token,
                "client_id": self.client_id, "client_secret": self.client_secret,
            })
        if response.status_code in (400, 401):
            raise SpApiRefused(f"Login with Amazon refused the refresh token: {response.text[:300]}")
        response.raise_for_status()
        grant = response.json()
        self._token = str(grant["access_token"])
        self._token_until = self.monotonic() + float(grant.get("expires_in", 3600)) - _TOKEN_MARGIN_SECONDS
        return self._token


def _first_error(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or [{}]
        return f"{errors[0].get('code')}: {errors[0].get('message')}"
    except (ValueError, AttributeError):
        return response.text[:200]
