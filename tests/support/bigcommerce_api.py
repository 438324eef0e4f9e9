"""A loopback BigCommerce V2 Orders API: GET /stores/{hash}/v2/orders/{id} and /v2/orders/{id}/products.

Speaks the real shapes (an order with `status_id`, `status`, RFC 2822 `date_modified`; order products with
`product_id`, `variant_id`, `sku`, `quantity`) and checks the `X-Auth-Token` header: a wrong token is 401, an unknown
order 404, `fail_next(n)` answers 503.
"""

from __future__ import annotations

import json
import re
import threading
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stockpilot.domain.clock import ManualClock

STATUS_NAMES = {0: "Incomplete", 1: "Pending", 2: "Shipped", 5: "Cancelled", 10: "Completed",
                11: "Awaiting Fulfillment"}
_PATH = re.compile(r"^/stores/(?P<hash>[a-z0-9]+)/v2/orders/(?P<id>\d+)(?P<products>/products)?(?:\?.*)?$")


class BigCommerceApi:
    def __init__(self, *, store_hash: str, token: str, clock: ManualClock) -> None:
        self.store_hash, self.token, self.clock = store_hash, token, clock
        self.orders: dict[int, dict[str, Any]] = {}
        self.products: dict[int, list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, X-Auth-Token)
        self.updates: list[tuple[int, dict[str, Any]]] = []  # accepted PUT /v2/orders/{id} bodies
        self._failures = 0
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):

            disable_nagle_algorithm = True  # answer at once: no 40 ms Nagle / delayed-ACK stall per request
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status, body = api._answer(self.path, self.headers.get("X-Auth-Token"))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_PUT(self) -> None:  # PUT /v2/orders/{id}: update an order (e.g. {"status_id": 5}, cancel)
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = api._update(self.path, self.headers.get("X-Auth-Token"),
                                           self.headers.get("Content-Type", ""), raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/stores/{store_hash}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> BigCommerceApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put_order(self, order_id: int, status_id: int, lines: list[tuple[str, int, int]]) -> None:
        """lines: (sku, quantity, variant_id)."""
        with self._lock:
            self.orders[order_id] = {
                "id": order_id, "customer_id": 0, "status_id": status_id, "status": STATUS_NAMES.get(status_id, "?"),
                "date_created": format_datetime(self.clock.now()), "date_modified": format_datetime(self.clock.now()),
                "items_total": sum(q for _, q, _ in lines), "currency_code": "USD", "channel_id": 1,
                "products": {"url": f"{self.api_url}/v2/orders/{order_id}/products", "resource": "/orders/products"},
            }
            self.products[order_id] = [
                {"id": 100 + n, "order_id": order_id, "product_id": 77, "variant_id": variant, "name": sku,
                 "sku": sku, "quantity": quantity, "base_price": "10.0000", "type": "physical"}
                for n, (sku, quantity, variant) in enumerate(lines)
            ]

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._failures += count

    def _answer(self, path: str, token: str | None) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((path, token))
            if self._failures:
                self._failures -= 1
                return 503, {"status": 503, "title": "Service Unavailable"}
            if token != self.token:
                return 401, [{"status": 401, "message": "You have not been authenticated"}]
            match = _PATH.match(path)
            if not match or match["hash"] != self.store_hash or int(match["id"]) not in self.orders:
                return 404, [{"status": 404, "message": "The requested resource was not found."}]
            order_id = int(match["id"])
            return 200, self.products[order_id] if match["products"] else self.orders[order_id]

    def _update(self, path: str, token: str | None, content_type: str, raw: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((path, token))
            if self._failures:
                self._failures -= 1
                return 503, {"status": 503, "title": "Service Unavailable"}
            if token != self.token:
                return 401, [{"status": 401, "message": "You have not been authenticated"}]
            match = _PATH.match(path)
            known = match is not None and match["hash"] == self.store_hash and int(match["id"]) in self.orders
            if match is None or match["products"] or not known:
                return 404, [{"status": 404, "message": "The requested resource was not found."}]
            try:
                body = json.loads(raw) if content_type.startswith("application/json") else None
            except json.JSONDecodeError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("status_id"), int):
                return 400, [{"status": 400, "message": "The request body is malformed or status_id is invalid."}]
            order = self.orders[int(match["id"])]
            order.update(status_id=body["status_id"], status=STATUS_NAMES.get(body["status_id"], "?"),
                         date_modified=format_datetime(self.clock.now()))
            self.updates.append((int(match["id"]), body))
            return 200, order
