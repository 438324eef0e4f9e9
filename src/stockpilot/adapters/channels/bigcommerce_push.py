"""BigCommerce pusher: the Inventory API's absolute adjustments (multi-location inventory).

- `PUT {api_url}/v3/inventory/adjustments/absolute` with `X-Auth-Token`, body `{"reason", "items": [{"location_id",
  "variant_id" | "product_id", "quantity"}]}` -> 200 `{"transaction_id"}`. The item is the listing with role
  `variant` (else `product`, for a product without variants); the location is the channel location's external id
  (BigCommerce's default location is 1, used when the channel has no location mapping).
- Reads for reconciliation: `GET {api_url}/v3/inventory/items?location_id:in=...&limit=1000&page=N`, every page up
  to `meta.pagination.total_pages` -> `data[].identity` and `locations[].available_to_sell`.
- 429 waits `X-Rate-Limit-Time-Reset-Ms` (the window's reset, in milliseconds); 401/403/404/422 are permanent.

Batches: up to 2,000 items per adjustment (BigCommerce's payload limit). The adjustment is validated whole: a 422
for several items is split in halves and each half sent again, so a bad item is found in about 2 log2(n) requests
and only it is rejected; the others are set.

Echo key: `variant:{id}@{location}` or `product:{id}@{location}`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from stockpilot.adapters.channels.bigcommerce import default_api_url
from stockpilot.adapters.channels.http_push import check, seconds_header
from stockpilot.adapters.channels.push import (
    ChannelAccount,
    PushLine,
    PushRejected,
    PushResult,
    mark_unapplied,
    required_id,
    waiting_out_throttles,
)

DEFAULT_LOCATION = "1"
MAX_ITEMS = 2000  # "Limit of 2000 items for payload length"
READ_PAGE = 1000  # GET /inventory/items: "Limit of 1000 items for payload length"


def _reset_wait(response: httpx.Response) -> float:
    return seconds_header(response, "X-Rate-Limit-Time-Reset-Ms", scale=0.001)


class BigCommercePusher:
    kind = "bigcommerce"
    batch_limit = MAX_ITEMS

    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.sleep = sleep  # waits out a throttled page of a read

    def item_key(self, line: PushLine) -> str:
        role, value = self._item(line)
        return f"{role}:{value}@{line.location_id or DEFAULT_LOCATION}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        transactions: list[Any] = []
        rejected: dict[str, str] = {}
        done: set[str] = set()  # lines of the adjustments BigCommerce applied (or refused item by item)
        try:
            for start in range(0, len(lines), MAX_ITEMS):
                self._adjust(account, list(lines[start:start + MAX_ITEMS]), idempotency_key, transactions, rejected,
                             done)
        except Exception as exc:
            mark_unapplied(exc, {self.item_key(line) for line in lines} - done)
            raise
        notes: dict[str, Any] = {"transaction_id": transactions[0] if len(transactions) == 1 else transactions}
        return PushResult(notes, rejected=rejected)

    def _adjust(self, account: ChannelAccount, lines: list[PushLine], idempotency_key: str,
                transactions: list[Any], rejected: dict[str, str], done: set[str]) -> None:
        items: list[dict[str, Any]] = []
        for line in lines:
            role, value = self._item(line)
            items.append({"location_id": int(line.location_id or DEFAULT_LOCATION), f"{role}_id": int(value),
                          "quantity": line.quantity})
        response = self.client.put(f"{self._base(account)}/v3/inventory/adjustments/absolute",
                                   json={"reason": f"Stockpilot available-to-sell ({idempotency_key})",
                                         "items": items},
                                   headers=self._headers(account))
        if response.status_code == 422 and len(lines) > 1:  # one item spoils the whole adjustment: find it
            half = len(lines) // 2
            self._adjust(account, lines[:half], idempotency_key, transactions, rejected, done)
            self._adjust(account, lines[half:], idempotency_key, transactions, rejected, done)
            return
        if response.status_code == 422:
            rejected[self.item_key(lines[0])] = f"BigCommerce answered 422: {response.text[:300]}"
            done.add(self.item_key(lines[0]))
            return
        check(response, "BigCommerce", _reset_wait)
        done.update(self.item_key(line) for line in lines)
        transactions.append(response.json().get("transaction_id"))

    def read_counts(self, account: ChannelAccount, lines: Sequence[PushLine]) -> Mapping[str, int | None]:
        """Every item at the channel's locations, `limit=1000` a page up to `meta.pagination.total_pages`, instead of
        one GET per item; a throttled page is asked again after the reset wait."""
        counts: dict[str, int | None] = {}
        wanted: dict[tuple[str, str, str], str] = {}
        for line in lines:
            role, value = self._item(line)
            key = self.item_key(line)
            counts[key] = None
            wanted[(role, str(value), str(line.location_id or DEFAULT_LOCATION))] = key
        locations = ",".join(sorted({loc for _, _, loc in wanted}))
        page = 1
        while wanted:
            def get(page: int = page) -> dict[str, Any]:
                response = self.client.get(f"{self._base(account)}/v3/inventory/items",
                                           params={"location_id:in": locations, "limit": READ_PAGE, "page": page},
                                           headers=self._headers(account))
                check(response, "BigCommerce", _reset_wait)
                return response.json()

            body = waiting_out_throttles(get, sleep=self.sleep)
            for item in body.get("data") or []:
                identity = item.get("identity") or {}
                for level in item.get("locations") or []:
                    for role in ("variant", "product"):
                        key = wanted.get((role, str(identity.get(f"{role}_id")), str(level.get("location_id"))))
                        if key is not None:
                            counts[key] = level.get("available_to_sell")
            pagination = (body.get("meta") or {}).get("pagination") or {}
            if page >= int(pagination.get("total_pages") or 1):
                break
            page += 1
        return counts

    @staticmethod
    def _item(line: PushLine) -> tuple[str, str]:
        if line.item_ids.get("variant"):
            return "variant", line.item_ids["variant"]
        return "product", required_id(line, "product", "variant")

    @staticmethod
    def _base(account: ChannelAccount) -> str:
        if account.api_url:
            return account.api_url.rstrip("/")
        if account.store_hash:
            return default_api_url(account.store_hash)
        raise PushRejected(f"channel {account.name}: no store hash or --api-url to reach BigCommerce")

    @staticmethod
    def _headers(account: ChannelAccount) -> dict[str, str]:
        if not account.api_token:
            raise PushRejected(f"channel {account.name}: no --api-token (X-Auth-Token)")
        return {"X-Auth-Token": account.api_token, "Accept": "application/json", "Content-Type": "application/json"}
