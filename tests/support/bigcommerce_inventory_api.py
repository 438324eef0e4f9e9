"""A loopback BigCommerce Inventory API (V3, multi-location), as its docs give it.

- `PUT /stores/{hash}/v3/inventory/adjustments/absolute` `{"reason", "items": [{"location_id", "variant_id" |
  "product_id" | "sku", "quantity"}]}` -> 200 `{"transaction_id"}`; an unknown location or item is 422
  `{"status": 422, "title": "...", "type": "...", "errors": {}}`, and the whole adjustment is refused (nothing of
  it applied); at most 2,000 items ("Limit of 2000 items for payload length"), more is 422 too.
- `GET /stores/{hash}/v3/inventory/items?variant_id:in=..&location_id:in=..&limit=..&page=..` -> `{"data":
  [{"identity": {...}, "locations": [{"location_id", "available_to_sell", "total_inventory_onhand", ...}]}],
  "meta": {"pagination": {"total", "count", "per_page", "current_page", "total_pages", "links"}}}`; `limit` 1-1000
  (default 50; "Limit of 1000 items for payload length"), items by kind and id.
- `X-Auth-Token` must match (else 401). Every answer carries the rate-limit headers
  (X-Rate-Limit-Requests-Left, -Requests-Quota, -Time-Window-Ms, -Time-Reset-Ms); `too_many_next(n, reset_ms)`
  answers 429 with X-Rate-Limit-Time-Reset-Ms; `fail_next(n)` 500.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from tests.support.http_fake import LoopbackServer

_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"


class BigCommerceInventoryApi:
    def __init__(self, *, store_hash: str, token: str) -> None:
        self.store_hash, self.token = store_hash, token
        self.levels: dict[tuple[str, int], int] = {}  # ("variant:101" | "product:7", location_id) -> quantity
        self.skus: dict[str, str] = {}  # "variant:101" -> sku
        self.adjustments: list[dict[str, Any]] = []
        self.item_pages = 0  # GET /inventory/items pages served
        self._forced: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._answer)
        self.api_url = f"{self._server.base_url}/stores/{store_hash}"

    def __enter__(self) -> BigCommerceInventoryApi:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()

    def add_variant(self, variant_id: int, sku: str, location_id: int, quantity: int) -> None:
        self.skus[f"variant:{variant_id}"] = sku
        self.levels[(f"variant:{variant_id}", location_id)] = quantity

    def too_many_next(self, n: int = 1, reset_ms: int = 1500) -> None:
        self._forced.extend([(429, reset_ms)] * n)

    def fail_next(self, n: int = 1) -> None:
        self._forced.extend([(500, 0)] * n)

    def _limits(self, left: int, reset_ms: int) -> dict[str, str]:
        return {"X-Rate-Limit-Requests-Left": str(left), "X-Rate-Limit-Requests-Quota": "150",
                "X-Rate-Limit-Time-Window-Ms": "30000", "X-Rate-Limit-Time-Reset-Ms": str(reset_ms)}

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if headers.get("x-auth-token") != self.token:
            return 401, {"status": 401, "title": "Unauthorized", "type": _TYPE}, {}
        with self._lock:
            if self._forced:
                status, reset_ms = self._forced.pop(0)
                if status == 429:
                    return 429, {"status": 429, "title": "Too many requests", "type": _TYPE}, self._limits(0, reset_ms)
                return 500, {"status": 500, "title": "Internal Server Error", "type": _TYPE}, {}
            prefix = f"/stores/{self.store_hash}/v3/inventory"
            if method == "PUT" and path == f"{prefix}/adjustments/absolute":
                return self._absolute(raw)
            if method == "GET" and path == f"{prefix}/items":
                return self._items(query)
            return 404, {"status": 404, "title": "Not Found", "type": _TYPE}, {}

    def _absolute(self, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw)
            items = body["items"]
        except (ValueError, KeyError, TypeError):
            return 422, {"status": 422, "title": "Input is invalid", "type": _TYPE, "errors": {"items": "required"}}, {}
        if not isinstance(items, list) or len(items) > 2000:
            return 422, {"status": 422, "title": "Input is invalid", "type": _TYPE,
                         "errors": {"items": "at most 2000 items"}}, {}
        changes = []
        for item in items:
            ids = [k for k in ("variant_id", "product_id", "sku") if k in item]
            if len(ids) != 1 or not isinstance(item.get("quantity"), int) or "location_id" not in item:
                return 422, {"status": 422, "title": "Input is invalid", "type": _TYPE, "errors": {}}, {}
            key = (f"{ids[0][:-3]}:{item[ids[0]]}", int(item["location_id"]))
            if key not in self.levels:
                title = (f"Location not found, identities: [{item['location_id']}]"
                         if not any(k[1] == key[1] for k in self.levels) else f"Item not found: {key[0]}")
                return 422, {"status": 422, "title": title, "type": _TYPE, "errors": {}}, {}
            changes.append((key, item["quantity"]))
        for key, quantity in changes:
            self.levels[key] = quantity
        self.adjustments.append(body)
        return 200, {"transaction_id": str(uuid.uuid4())}, self._limits(149, 30000)

    def _items(self, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        variants = set((query.get("variant_id:in") or [""])[0].split(",")) - {""}
        locations = set((query.get("location_id:in") or [""])[0].split(",")) - {""}
        try:
            limit, page = int((query.get("limit") or ["50"])[0]), int((query.get("page") or ["1"])[0])
        except ValueError:
            return 422, {"status": 422, "title": "Input is invalid", "type": _TYPE, "errors": {"limit": "integer"}}, {}
        if not 1 <= limit <= 1000 or page < 1:
            return 422, {"status": 422, "title": "Input is invalid", "type": _TYPE,
                         "errors": {"limit": "between 1 and 1000"}}, {}
        data = []
        for item in sorted({k[0] for k in self.levels}, key=lambda k: (k.split(":")[0], int(k.split(":")[1]))):
            kind, value = item.split(":")
            if variants and (kind != "variant" or value not in variants):
                continue
            levels = [{"location_id": loc, "location_code": f"LOC-{loc}", "location_name": f"Location {loc}",
                       "available_to_sell": qty, "total_inventory_onhand": qty, "location_enabled": True,
                       "settings": {"safety_stock": 0, "is_in_stock": qty > 0, "warning_level": 0,
                                    "bin_picking_number": ""}}
                      for (key, loc), qty in sorted(self.levels.items())
                      if key == item and (not locations or str(loc) in locations)]
            if levels or not locations:
                data.append({"identity": {"sku": self.skus.get(item, ""), f"{kind}_id": int(value),
                                          "product_id" if kind == "variant" else "variant_id": 0, "sku_id": 0},
                             "locations": levels})
        pages = max(1, -(-len(data) // limit))
        shown = data[(page - 1) * limit:page * limit]
        self.item_pages += 1
        meta = {"pagination": {"total": len(data), "count": len(shown), "per_page": limit, "current_page": page,
                               "total_pages": pages, "links": {"current": f"?page={page}&limit={limit}",
                                                               **({"next": f"?page={page + 1}&limit={limit}"}
                                                                  if page < pages else {})}}}
        return 200, {"data": shown, "meta": meta}, self._limits(149, 30000)
