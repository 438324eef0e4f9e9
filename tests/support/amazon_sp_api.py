"""A loopback Amazon Selling Partner API with its Login with Amazon token endpoint, as the public references give
them:

- `POST /auth/o2/token` (form: grant_type=refresh_token, refresh_token, client_id, client_secret) ->
  `{"access_token": "Atza|...", "token_type": "bearer", "expires_in": 3600}`; a wrong refresh token is 400
  `{"error": "invalid_grant", ...}`, a wrong client 401 `{"error": "invalid_client", ...}`.
- Every SP-API call needs `x-amz-access-token` (one this server issued, not expired or revoked), else 403
  `{"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.", ...}]}`. Answers carry
  `x-amzn-RequestId` and `x-amzn-RateLimit-Limit`.
- Usage plans per operation (token buckets: rate per second, burst); an empty bucket answers 429
  `{"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the requested resource."}]}`.
- `GET /fba/inventory/v1/summaries` (details, granularityType=Marketplace, granularityId, marketplaceIds,
  startDateTime, nextToken): `{"pagination": {"nextToken"}, "payload": {"granularity", "inventorySummaries"}}`,
  the summaries shaped like the sandbox example in shared/fixtures/amazon.
- `GET /orders/v0/orders` (MarketplaceIds, LastUpdatedAfter or CreatedAfter, NextToken) ->
  `{"payload": {"Orders", "NextToken", "LastUpdatedBefore"}}`; `GET /orders/v0/orders/{id}/orderItems`.
- `PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=` with a JSON Patch of
  `/attributes/fulfillment_availability` -> `{"sku", "status": "ACCEPTED", "submissionId", "issues": []}`.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.channel_signing import fixture

PLANS = {"getInventorySummaries": (2.0, 2.0), "getOrders": (0.0167, 20.0), "getOrderItems": (0.5, 30.0),
         "patchListingsItem": (5.0, 10.0)}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class AmazonSpApi:
    def __init__(self, *, client_id: str = "amzn1.application-oa2-client.test", client_secret: str = "lwa-secret",
                 refresh_token: str = "Atzr|test-refresh", seller_id: str = "A2SELLER", marketplace_id: str =
                 "ATVPDKIKX0DER", page_size: int = 2, plans: dict[str, tuple[float, float]] | None = None) -> None:
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.seller_id, self.marketplace_id, self.page_size = seller_id, marketplace_id, page_size
        self.plans = {**PLANS, **(plans or {})}
        self.summaries: dict[str, dict[str, Any]] = {}  # sellerSku -> summary
        self.orders: dict[str, dict[str, Any]] = {}
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.listings: dict[str, int] = {}  # sellerSku -> merchant-fulfilled quantity set by PATCH
        self.tokens: dict[str, float] = {}  # issued access token -> expiry (monotonic)
        self.requests: list[dict[str, Any]] = []
        self.token_grants = 0
        self._buckets: dict[str, list[float]] = {}  # operation -> [tokens, at]
        self._throttle: dict[str, int] = {}
        self._pages: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):

            disable_nagle_algorithm = True  # answer at once: no 40 ms Nagle / delayed-ACK stall per request
            protocol_version = "HTTP/1.1"

            def _run(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, answer, extra = api._answer(self.command, self.path, dict(self.headers.items()), body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = _run

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.lwa_url = f"{self.url}/auth/o2/token"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> AmazonSpApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- what the seller's account holds -----------------------------------------------------------------------
    def put_summary(self, sku: str, fulfillable: int, *, pending_orders: int = 0, updated: datetime | None = None,
                    asin: str = "B00T9QONN6") -> None:
        """An FBA summary in the sandbox example's shape; `updated` None leaves lastUpdatedTime empty, as there."""
        template = fixture("amazon/getInventorySummaries_sandbox_response.json")["payload"]["inventorySummaries"][2]
        summary = copy.deepcopy(template)
        summary.update({"asin": asin, "fnSku": f"X00{abs(hash(sku)) % 10**7:07d}", "sellerSku": sku,
                        "lastUpdatedTime": _iso(updated) if updated else "", "productName": f"Product {sku}"})
        details = summary["inventoryDetails"]
        details["fulfillableQuantity"] = fulfillable
        details["reservedQuantity"]["pendingCustomerOrderQuantity"] = pending_orders
        details["reservedQuantity"]["totalReservedQuantity"] = pending_orders
        summary["totalQuantity"] = fulfillable + pending_orders + details["inboundWorkingQuantity"]
        with self._lock:
            self.summaries[sku] = summary

    def put_order(self, order_id: str, status: str, updated: datetime, lines: list[tuple[str, int]], *,
                  channel: str = "AFN") -> None:
        with self._lock:
            self.orders[order_id] = {
                "AmazonOrderId": order_id, "PurchaseDate": _iso(updated), "LastUpdateDate": _iso(updated),
                "OrderStatus": status, "FulfillmentChannel": channel, "SalesChannel": "Amazon.com",
                "ShipServiceLevel": "Std US D2D Dom", "OrderType": "StandardOrder", "MarketplaceId":
                self.marketplace_id, "IsPrime": False, "IsBusinessOrder": False, "IsReplacementOrder": False,
                "NumberOfItemsShipped": sum(q for _, q in lines) if status == "Shipped" else 0,
                "NumberOfItemsUnshipped": 0 if status == "Shipped" else sum(q for _, q in lines),
                "OrderTotal": {"CurrencyCode": "USD", "Amount": "10.00"},
            }
            self.items[order_id] = [
                {"ASIN": "B00T9QONN6", "SellerSKU": sku, "OrderItemId": f"{order_id[-5:]}{n:03d}",
                 "Title": f"Product {sku}", "QuantityOrdered": quantity,
                 "QuantityShipped": quantity if status == "Shipped" else 0,
                 "ItemPrice": {"CurrencyCode": "USD", "Amount": "10.00"}}
                for n, (sku, quantity) in enumerate(lines)
            ]

    def throttle_next(self, operation: str, count: int) -> None:
        """The next `count` calls of `operation` answer 429, whatever the bucket holds."""
        with self._lock:
            self._throttle[operation] = self._throttle.get(operation, 0) + count

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def calls(self, operation: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["operation"] == operation]

    # ---- the wire ----------------------------------------------------------------------------------------------
    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            if method == "POST" and parts.path == "/auth/o2/token":
                return self._token(body)
            operation = self._operation(method, parts.path)
            self.requests.append({"operation": operation, "method": method, "path": parts.path, "query": query,
                                  "body": json.loads(body) if body else None})
            if operation is None:
                return 404, {"errors": [{"code": "NotFound", "message": "Resource not found"}]}, {}
            token = {k.lower(): v for k, v in headers.items()}.get("x-amz-access-token")
            if token not in self.tokens or self.tokens[token] < time.monotonic():
                return 403, {"errors": [{"code": "Unauthorized", "message": "Access to requested resource is denied.",
                                         "details": "The access token you provided is revoked, malformed or "
                                                    "expired."}]}, {}
            rate, burst = self.plans[operation]
            limit = {"x-amzn-RateLimit-Limit": f"{rate}"}
            if not self._take(operation, rate, burst):
                return 429, {"errors": [{"code": "QuotaExceeded", "message": "You exceeded your quota for the "
                                         "requested resource.", "details": ""}]}, limit
            status, answer = getattr(self, f"_{operation}")(parts.path, query, body)
            return status, answer, limit

    def _token(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}, {}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return 400, {"error": "invalid_grant",
                         "error_description": "The request has an invalid grant parameter : refresh_token"}, {}
        token = f"Atza|{secrets.token_urlsafe(24)}"
        self.tokens[token] = time.monotonic() + 3600
        self.token_grants += 1
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600}, {}

    @staticmethod
    def _operation(method: str, path: str) -> str | None:
        if method == "GET" and path == "/fba/inventory/v1/summaries":
            return "getInventorySummaries"
        if method == "GET" and path == "/orders/v0/orders":
            return "getOrders"
        if method == "GET" and path.startswith("/orders/v0/orders/") and path.endswith("/orderItems"):
            return "getOrderItems"
        if method == "PATCH" and path.startswith("/listings/2021-08-01/items/"):
            return "patchListingsItem"
        return None

    def _take(self, operation: str, rate: float, burst: float) -> bool:
        if self._throttle.get(operation):
            self._throttle[operation] -= 1
            return False
        now = time.monotonic()
        tokens, at = self._buckets.get(operation, [burst, now])
        tokens = min(burst, tokens + (now - at) * rate)
        if tokens < 1:
            self._buckets[operation] = [tokens, now]
            return False
        self._buckets[operation] = [tokens - 1, now]
        return True

    def _page(self, items: list[Any], token: str | None) -> tuple[list[Any], str | None]:
        if token is not None:
            items = self._pages.pop(token, [])
        page, rest = items[:self.page_size], items[self.page_size:]
        if not rest:
            return page, None
        next_token = secrets.token_urlsafe(12)
        self._pages[next_token] = rest
        return page, next_token

    def _bad(self, message: str) -> tuple[int, Any]:
        return 400, {"errors": [{"code": "InvalidInput", "message": message, "details": ""}]}

    def _getInventorySummaries(self, _path: str, q: dict[str, str], _body: bytes) -> tuple[int, Any]:
        if q.get("nextToken") is None:
            if q.get("granularityType") != "Marketplace" or q.get("granularityId") != self.marketplace_id \
                    or q.get("marketplaceIds") != self.marketplace_id:
                return self._bad("granularityType, granularityId and marketplaceIds are required")
            start = _parse(q["startDateTime"]) if q.get("startDateTime") else None
            chosen = [copy.deepcopy(s) for _, s in sorted(self.summaries.items())
                      if start is None or (s["lastUpdatedTime"] and _parse(s["lastUpdatedTime"]) >= start)]
            if q.get("details") != "true":
                for summary in chosen:
                    summary.pop("inventoryDetails", None)
            page, token = self._page(chosen, None)
        else:
            page, token = self._page([], q["nextToken"])
        answer: dict[str, Any] = {"payload": {"granularity": {"granularityType": "Marketplace",
                                                              "granularityId": self.marketplace_id},
                                              "inventorySummaries": page}}
        if token:
            answer["pagination"] = {"nextToken": token}
        return 200, answer

    def _getOrders(self, _path: str, q: dict[str, str], _body: bytes) -> tuple[int, Any]:
        if q.get("MarketplaceIds") != self.marketplace_id:
            return self._bad("MarketplaceIds is required")
        if q.get("NextToken") is None:
            if not q.get("LastUpdatedAfter") and not q.get("CreatedAfter"):
                return self._bad("Either the CreatedAfter parameter or the LastUpdatedAfter parameter is required")
            after = _parse(q.get("LastUpdatedAfter") or q["CreatedAfter"])
            field = "LastUpdateDate" if q.get("LastUpdatedAfter") else "PurchaseDate"
            chosen = sorted((copy.deepcopy(o) for o in self.orders.values() if _parse(o[field]) >= after),
                            key=lambda o: o["LastUpdateDate"])
            page, token = self._page(chosen, None)
        else:
            page, token = self._page([], q["NextToken"])
        payload: dict[str, Any] = {"Orders": page, "LastUpdatedBefore": _iso(datetime.now(UTC))}
        if token:
            payload["NextToken"] = token
        return 200, {"payload": payload}

    def _getOrderItems(self, path: str, q: dict[str, str], _body: bytes) -> tuple[int, Any]:
        order_id = path.split("/")[4]
        if order_id not in self.items:
            return 404, {"errors": [{"code": "InvalidInput", "message": "Invalid Input", "details": ""}]}
        page, token = self._page(copy.deepcopy(self.items[order_id]), q.get("NextToken"))
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": page}
        if token:
            payload["NextToken"] = token
        return 200, {"payload": payload}

    def _patchListingsItem(self, path: str, q: dict[str, str], body: bytes) -> tuple[int, Any]:
        seller, sku = path.split("/")[4], path.split("/")[5]
        if seller != self.seller_id or q.get("marketplaceIds") != self.marketplace_id:
            return self._bad("sellerId or marketplaceIds do not match this seller")
        patch = json.loads(body or b"{}")
        for op in patch.get("patches") or []:
            if op.get("path") == "/attributes/fulfillment_availability" and op.get("op") in ("replace", "merge"):
                self.listings[sku] = int(op["value"][0]["quantity"])
        return 200, {"sku": sku, "status": "ACCEPTED", "submissionId": uuid.uuid4().hex, "issues": []}
