"""Shopify pusher: sets `available` through the Admin GraphQL API's `inventorySetQuantities` (API 2026-10).

- Through the shared Admin GraphQL client (shopify_admin.py: endpoint, token header, throttling, HTTP outcomes).
- The input names the quantity `available`, reason `correction`, a `referenceDocumentUri` naming the Stockpilot
  push, and per line `inventoryItemId` / `locationId` as GIDs with `changeFromQuantity: null`: Stockpilot is the
  source of truth for these counts, and a sale made on Shopify meanwhile reaches the ledger through its own
  `inventory_levels/update` webhook, after which the next push carries it. (2026-04 made `changeFromQuantity`
  mandatory, null allowed, and the `@idempotent` directive required on this mutation.)
- The idempotency key is derived from the outbox key AND the quantities: Shopify refuses one key reused with
  other parameters, and a retried outbox row re-reads the newest values.
- User errors about the item, location or quantity are permanent (PushRejected); a concurrent request or a stale
  compare value is retried with backoff.
- Batches: up to 250 quantities per mutation (Shopify's input array limit), for the cost of one mutation. The
  mutation is applied whole or not at all; user errors that name a quantity by index (`field: ["input",
  "quantities", "3", ...]`) set that line aside (reported rejected, or failed for a transient code) and the rest is
  sent again at once.

Channel ids: the listing with role `inventory_item` (numeric id or GID), the channel location's external id (numeric
or GID). Echo key: `inventory_item:{item}@{location}` with numeric ids, as the inbound parser builds it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from stockpilot.adapters.channels.push import (
    ChannelAccount,
    PushLine,
    PushNotApplied,
    PushRejected,
    PushResult,
    mark_unapplied,
    required_id,
    waiting_out_throttles,
)
from stockpilot.adapters.channels.shopify_admin import API_VERSION, ShopifyAdmin, gid, numeric_id, user_error_text

__all__ = ["API_VERSION", "ShopifyPusher", "gid", "numeric_id"]
SET_QUANTITIES = """
mutation StockpilotSetAvailable($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { createdAt reason referenceDocumentUri changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}
""".strip()
READ_LEVELS = """
query StockpilotLevels($location: ID!, $first: Int!, $after: String) {
  location(id: $location) {
    inventoryLevels(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { item { id } quantities(names: ["available"]) { name quantity } }
    }
  }
}
""".strip()
LEVELS_PAGE = 250  # connections return at most 250 nodes a page; cost 3 + 3 a node, within the 1,000 a query
MAX_QUANTITIES = 250  # Shopify: "input arguments that accept an array have a maximum size of 250"
_RETRYABLE_USER_ERRORS = {"IDEMPOTENCY_CONCURRENT_REQUEST", "CHANGE_FROM_QUANTITY_STALE", "COMPARE_QUANTITY_STALE"}
_KEY_NAMESPACE = uuid.UUID("6f1f5a0e-3c55-4c1e-9a57-5f0c2b7d9e11")


class ShopifyPusher:
    kind = "shopify"
    batch_limit = MAX_QUANTITIES  # one mutation sets up to 250 quantities, for the cost of one (10 points)

    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.admin = ShopifyAdmin(timeout, client=client)
        self.sleep = sleep  # waits out a throttled page of a read

    def item_key(self, line: PushLine) -> str:
        if not line.location_id:
            raise PushRejected(f"{line.sku}: a Shopify push needs the channel's location id "
                               "(stockpilot channel location NAME LOCATION --external-id SHOPIFY_LOCATION_ID)")
        item = numeric_id(required_id(line, "inventory_item"))
        return f"inventory_item:{item}@{numeric_id(line.location_id)}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        groups: list[dict[str, Any]] = []
        rejected: dict[str, str] = {}
        failed: dict[str, str] = {}
        done: set[str] = set()  # lines of the mutations Shopify applied
        for start in range(0, len(lines), MAX_QUANTITIES):  # an input array holds at most 250 items
            chunk = list(lines[start:start + MAX_QUANTITIES])
            try:
                self._push_chunk(account, chunk, idempotency_key, groups, rejected, failed)
            except Exception as exc:
                mark_unapplied(exc, {self.item_key(line) for line in lines} - done)
                raise
            done.update(self.item_key(line) for line in chunk)
        return PushResult({"adjustment_groups": groups}, rejected=rejected, failed=failed)

    def _push_chunk(self, account: ChannelAccount, lines: list[PushLine], idempotency_key: str,
                    groups: list[dict[str, Any]], rejected: dict[str, str], failed: dict[str, str]) -> None:
        """One mutation for the lines. Shopify applies a mutation whole or not at all: when user errors name
        quantities by index (`["input", "quantities", "3", ...]`), those lines are set aside (rejected, or failed
        when the code is transient) and the others are sent again, as a new request with its own key."""
        pending = lines
        while pending:
            quantities = [
                {"inventoryItemId": gid("InventoryItem", required_id(line, "inventory_item")),
                 "locationId": gid("Location", self._location(line)), "quantity": line.quantity,
                 "changeFromQuantity": None}
                for line in pending
            ]
            reference = "gid://stockpilot/ChannelPush/" + re.sub(r"[^A-Za-z0-9_.-]+", "-", idempotency_key)
            variables = {
                "input": {"name": "available", "reason": "correction", "referenceDocumentUri": reference,
                          "quantities": quantities},
                # One key per (outbox row, values): a retry with the same values is deduplicated by Shopify, a
                # retry that re-read newer values (or left a bad item out) is a new request.
                "idempotencyKey": str(uuid.uuid5(_KEY_NAMESPACE, idempotency_key + json.dumps(quantities,
                                                                                           sort_keys=True))),
            }
            data = self._graphql(account, SET_QUANTITIES, variables)
            outcome = data.get("inventorySetQuantities") or {}
            errors = outcome.get("userErrors") or []
            if not errors:
                group = outcome.get("inventoryAdjustmentGroup") or {}
                groups.append({"createdAt": group.get("createdAt"), "changes": len(group.get("changes") or [])})
                return
            by_index: dict[int, list[dict[str, Any]]] = {}
            general: list[dict[str, Any]] = []
            for error in errors:
                index = _quantity_index(error.get("field"))
                if index is None or index >= len(pending):
                    general.append(error)
                else:
                    by_index.setdefault(index, []).append(error)
            if general:  # about the request itself (reason, idempotency...): nothing of it can be kept apart
                detail = user_error_text(general)
                if {str(e.get("code")) for e in general} <= _RETRYABLE_USER_ERRORS:
                    raise PushNotApplied(f"Shopify refused for now: {detail}")
                raise PushRejected(f"Shopify refused the quantities: {detail}")
            for index, item_errors in by_index.items():
                key, detail = self.item_key(pending[index]), user_error_text(item_errors)
                if {str(e.get("code")) for e in item_errors} <= _RETRYABLE_USER_ERRORS:
                    failed[key] = f"Shopify refused for now: {detail}"
                else:
                    rejected[key] = f"Shopify refused the quantity: {detail}"
            pending = [line for index, line in enumerate(pending) if index not in by_index]

    def read_counts(self, account: ChannelAccount, lines: Sequence[PushLine]) -> Mapping[str, int | None]:
        """Every level at each channel location, 250 a page through the connection's cursor (`pageInfo`), instead
        of one query per item; a throttled page is asked again after Shopify's wait."""
        counts: dict[str, int | None] = {}
        wanted: dict[str, dict[str, str]] = {}  # location gid -> numeric item id -> item key
        for line in lines:
            key = self.item_key(line)
            counts[key] = None
            location = gid("Location", self._location(line))
            wanted.setdefault(location, {})[numeric_id(required_id(line, "inventory_item"))] = key
        for location, items in wanted.items():
            after: str | None = None
            while True:
                variables = {"location": location, "first": LEVELS_PAGE, "after": after}
                data = waiting_out_throttles(lambda v=variables: self._graphql(account, READ_LEVELS, v),
                                             sleep=self.sleep)
                levels = (data.get("location") or {}).get("inventoryLevels")
                if levels is None:  # an unknown location: nothing of it is tracked
                    break
                for node in levels.get("nodes") or []:
                    key = items.get(numeric_id(str((node.get("item") or {}).get("id") or "")))
                    if key is not None:
                        quantities = {q.get("name"): q.get("quantity") for q in node.get("quantities") or []}
                        counts[key] = quantities.get("available")
                page = levels.get("pageInfo") or {}
                if not page.get("hasNextPage"):
                    break
                after = page.get("endCursor")
        return counts

    # ---- transport ---------------------------------------------------------------------------------------------
    def _location(self, line: PushLine) -> str:
        if not line.location_id:
            self.item_key(line)  # raises the explanation
        return str(line.location_id)

    def _graphql(self, account: ChannelAccount, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return self.admin.graphql(account, query, variables)


def _quantity_index(field: Any) -> int | None:
    """["input", "quantities", "3", "inventoryItemId"] -> 3; None for an error not about one quantity."""
    if isinstance(field, list) and len(field) >= 3 and field[:2] == ["input", "quantities"]:
        try:
            return int(field[2])
        except (TypeError, ValueError):
            return None
    return None
