"""Shopify pusher: sets `available` through the Admin GraphQL API's `inventorySetQuantities` (API 2026-10).

- POST {api_url or https://SHOP}/admin/api/2026-10/graphql.json with `X-Shopify-Access-Token` (the app's Admin API
  access token, `--api-token`).
- The input names the quantity `available`, reason `correction`, a `referenceDocumentUri` naming the Stockpilot
  push, and per line `inventoryItemId` / `locationId` as GIDs with `changeFromQuantity: null`: Stockpilot is the
  source of truth for these counts, and a sale made on Shopify meanwhile reaches the ledger through its own
  `inventory_levels/update` webhook, after which the next push carries it. (2026-04 made `changeFromQuantity`
  mandatory, null allowed, and the `@idempotent` directive required on this mutation.)
- The idempotency key is derived from the outbox key AND the quantities: Shopify refuses one key reused with
  other parameters, and a retried outbox row re-reads the newest values.
- Throttling: HTTP 429 (Retry-After) or a `THROTTLED` error with `extensions.cost.throttleStatus`: wait for the
  bucket to refill the request's cost (requested - currentlyAvailable) / restoreRate, as PushThrottled.
- 401/403 and user errors about the item, location or quantity are permanent (PushRejected); 5xx and connection
  errors are retried with backoff.

Channel ids: the listing with role `inventory_item` (numeric id or GID), the channel location's external id (numeric
or GID). Echo key: `inventory_item:{item}@{location}` with numeric ids, as the inbound parser builds it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from stockpilot.adapters.channels.push import (
    ChannelAccount,
    PushLine,
    PushRejected,
    PushResult,
    PushThrottled,
    required_id,
)

API_VERSION = "2026-10"
SET_QUANTITIES = """
mutation StockpilotSetAvailable($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { createdAt reason referenceDocumentUri changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
""".strip()
READ_LEVEL = """
query StockpilotAvailable($item: ID!, $location: ID!) {
  inventoryItem(id: $item) {
    id
    inventoryLevel(locationId: $location) { quantities(names: ["available"]) { name quantity } }
  }
}
""".strip()
_RETRYABLE_USER_ERRORS = {"IDEMPOTENCY_CONCURRENT_REQUEST", "CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"}
_KEY_NAMESPACE = uuid.UUID("6f1f5a0e-3c55-4c1e-9a57-5f0c2b7d9e11")


def numeric_id(value: str) -> str:
    """`gid://shopify/InventoryItem/123` or `123` -> `123`."""
    return value.rsplit("/", 1)[-1]


def gid(kind: str, value: str) -> str:
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


class ShopifyPusher:
    kind = "shopify"

    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def item_key(self, line: PushLine) -> str:
        if not line.location_id:
            raise PushRejected(f"{line.sku}: a Shopify push needs the channel's location id "
                               "(stockpilot channel location NAME LOCATION --external-id SHOPIFY_LOCATION_ID)")
        item = numeric_id(required_id(line, "inventory_item"))
        return f"inventory_item:{item}@{numeric_id(line.location_id)}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        quantities = [
            {"inventoryItemId": gid("InventoryItem", required_id(line, "inventory_item")),
             "locationId": gid("Location", self._location(line)), "quantity": line.quantity,
             "changeFromQuantity": None}
            for line in lines
        ]
        reference = "gid://stockpilot/ChannelPush/" + re.sub(r"[^A-Za-z0-9_.-]+", "-", idempotency_key)
        variables = {
            "input": {"name": "available", "reason": "correction", "referenceDocumentUri": reference,
                      "quantities": quantities},
            # One key per (outbox row, values): a retry with the same values is deduplicated by Shopify, a retry
            # that re-read newer values is a new request.
            "idempotencyKey": str(uuid.uuid5(_KEY_NAMESPACE, idempotency_key + json.dumps(quantities,
                                                                                       sort_keys=True))),
        }
        data = self._graphql(account, SET_QUANTITIES, variables)
        outcome = data.get("inventorySetQuantities") or {}
        errors = outcome.get("userErrors") or []
        if errors:
            codes = {str(e.get("code")) for e in errors}
            detail = "; ".join(f"{e.get('code')}: {e.get('message')} ({'.'.join(map(str, e.get('field') or []))})"
                               for e in errors)
            if codes <= _RETRYABLE_USER_ERRORS:
                raise RuntimeError(f"Shopify refused for now: {detail}")
            raise PushRejected(f"Shopify refused the quantities: {detail}")
        group = outcome.get("inventoryAdjustmentGroup") or {}
        return PushResult({"adjustment_group": {"createdAt": group.get("createdAt"),
                                                "changes": group.get("changes") or []}})

    def read_counts(self, account: ChannelAccount, lines: Sequence[PushLine]) -> Mapping[str, int | None]:
        counts: dict[str, int | None] = {}
        for line in lines:
            data = self._graphql(account, READ_LEVEL, {
                "item": gid("InventoryItem", required_id(line, "inventory_item")),
                "location": gid("Location", self._location(line))})
            level = (data.get("inventoryItem") or {}).get("inventoryLevel")
            quantities = {q.get("name"): q.get("quantity") for q in (level or {}).get("quantities") or []}
            counts[self.item_key(line)] = quantities.get("available") if level else None
        return counts

    # ---- transport ---------------------------------------------------------------------------------------------
    def _location(self, line: PushLine) -> str:
        if not line.location_id:
            self.item_key(line)  # raises the explanation
        return str(line.location_id)

    def _graphql(self, account: ChannelAccount, query: str, variables: dict[str, Any]) -> dict[str, Any]:
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

