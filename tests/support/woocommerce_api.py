"""A loopback WooCommerce REST API v3 for product and variation stock, as its docs give it.

- `GET|PUT /wp-json/wc/v3/products/{id}` and `/products/{id}/variations/{vid}`; HTTP Basic with the consumer key
  and secret (else 401 `woocommerce_rest_authentication_error`... as WooCommerce answers: `{"code", "message",
  "data": {"status"}}`); an unknown id is 404 `woocommerce_rest_product_invalid_id` (under `/variations/`:
  `woocommerce_rest_product_variation_invalid_id`). A variation named under a parent that is not its own is 403
  `woocommerce_rest_cannot_edit` "Parent product does not match current variation." (the variations
  controller's check). `GET /products/{vid}` of a variation answers it in the products endpoint's shape (`type:
  variation`, `parent_id`, `_links.up`): the body WooCommerce's `product.updated` webhook carries for a variation
  (`webhook_body(id)`).
- Variable products (`add_variable`): `type: variable`, no stock of their own, their variation ids in
  `variations`; a variation (`add_product(..., variation_of=PARENT)`) is listed under its parent.
- PUT takes `manage_stock` and `stock_quantity` (an integer; a string or negative is 400
  `rest_invalid_param`), and answers the whole product with `stock_status` following the count.
- `GET|PUT /wp-json/wc/v3/orders/{id}` (orders added with `add_order`): PUT takes `status`, one of the core order
  statuses (else 400 `rest_invalid_param`), and answers the whole order; an unknown id is 404
  `woocommerce_rest_shop_order_invalid_id` "Invalid ID.". Accepted order PUTs are kept in `order_puts`.
- `POST /products/batch` and `/products/{id}/variations/batch` `{"update": [{"id", ...}]}` (WooCommerce's
  batch_items): at most 100 items (`woocommerce_rest_batch_items_limit`; more is 413
  `woocommerce_rest_request_entity_too_large`), each updated like a PUT; the answer is `{"update": [...]}` in the
  request's order, the product, or `{"id", "error": {"code", "message", "data": {"status"}}}` for an item that
  failed (unknown id: `woocommerce_rest_product_invalid_id` / `..._product_variation_invalid_id`, status 400),
  the others applied. `fail_item(id)` makes one item fail with status 500 once (a store-side write error). A
  variations batch sets each item's parent to the URL's product (WooCommerce's variations batch injects the URL's
  `product_id` into every item and saving sets it): a variation sent under another parent is MOVED there
  (`parent_of(vid)` tells where each one is).
- `GET /products` and `/products/{id}/variations` (the lists): `per_page` 1-100 (default 10; else 400
  `rest_invalid_param`) and `page`, by id, with the `X-WP-Total` and `X-WP-TotalPages` headers. (A variable parent
  appears in `/products`, its variations only under it.)
- `too_many_next(n, retry_after, after=k)` answers 429 with Retry-After (after serving k requests);
  `fail_next(n)` 503.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import UTC, datetime
from typing import Any

from tests.support.http_fake import LoopbackServer

_PATH = re.compile(r"^/wp-json/wc/v3/products/(?P<id>\d+)(?:/variations/(?P<vid>\d+))?$")
_ORDER = re.compile(r"^/wp-json/wc/v3/orders/(?P<id>\d+)$")
ORDER_STATUSES = {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft"}
_LIST = re.compile(r"^/wp-json/wc/v3/products(?:/(?P<parent>\d+)/variations)?$")
_BATCH = re.compile(r"^/wp-json/wc/v3/products(?:/(?P<parent>\d+)/variations)?/batch$")
BATCH_LIMIT = 100


class WooCommerceApi:
    def __init__(self, *, consumer_key: str, consumer_secret: str) -> None:
        self.key, self.secret = consumer_key, consumer_secret
        self.products: dict[str, dict[str, Any]] = {}  # "123" or "123/456" -> the REST resource
        self.puts: list[tuple[str, dict[str, Any]]] = []
        self.orders: dict[str, dict[str, Any]] = {}  # "123" -> the REST order resource
        self.order_puts: list[tuple[str, dict[str, Any]]] = []
        self.list_pages = 0  # list pages served (GET /products, /products/{id}/variations)
        self.batches: list[tuple[str, dict[str, Any]]] = []  # (path, body) of every batch request that was applied
        self._failing_items: set[int] = set()
        self._forced: list[tuple[int, float] | None] = []  # None: served as usual
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._answer)
        self.site_url = self._server.base_url
        self.api_url = f"{self.site_url}/wp-json/wc/v3"

    def __enter__(self) -> WooCommerceApi:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()

    def add_product(self, product_id: int, sku: str, stock: int | None, variation_of: int | None = None) -> None:
        key = f"{variation_of}/{product_id}" if variation_of else str(product_id)
        self.products[key] = {"id": product_id, "sku": sku, "type": "variation" if variation_of else "simple",
                              "parent_id": variation_of or 0, "manage_stock": stock is not None,
                              "stock_quantity": stock, "stock_status": _status(stock),
                              "date_modified_gmt": _now()}
        parent = self.products.get(str(variation_of))
        if parent is not None and parent["type"] == "variable":
            parent["variations"].append(product_id)

    def add_variable(self, product_id: int, sku: str = "") -> None:
        """A variable product: its stock lives on its variations (add them with `variation_of=product_id`)."""
        self.products[str(product_id)] = {"id": product_id, "sku": sku, "type": "variable", "parent_id": 0,
                                          "manage_stock": False, "stock_quantity": None, "stock_status": "instock",
                                          "variations": [], "date_modified_gmt": _now()}

    def parent_of(self, variation_id: int) -> int | None:
        key = self._variation_key(str(variation_id))
        return int(key.split("/")[0]) if key else None

    def webhook_body(self, product_id: int) -> dict[str, Any]:
        """What `product.updated` carries for this product or variation: `GET /products/{id}`'s answer."""
        key = self._variation_key(str(product_id)) or str(product_id)
        return _as_product(self.products[key], self.site_url)

    def _variation_key(self, variation_id: str) -> str | None:
        return next((k for k in self.products if k.endswith(f"/{variation_id}")), None)

    def add_order(self, order_id: int, status: str = "processing") -> None:
        self.orders[str(order_id)] = {"id": order_id, "status": status, "currency": "USD",
                                      "date_modified_gmt": _now(), "line_items": []}

    def stock(self, product_id: int, variation_of: int | None = None) -> int | None:
        return self.products[f"{variation_of}/{product_id}" if variation_of else str(product_id)]["stock_quantity"]

    def too_many_next(self, n: int = 1, retry_after: float = 2.0, *, after: int = 0) -> None:
        """The next `n` requests answer 429, once `after` more have been served as usual."""
        self._forced.extend([None] * after + [(429, retry_after)] * n)

    def fail_next(self, n: int = 1) -> None:
        self._forced.extend([(503, 0.0)] * n)

    def fail_item(self, product_id: int) -> None:
        self._failing_items.add(product_id)

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != "Basic " + base64.b64encode(f"{self.key}:{self.secret}".encode()).decode():
            return 401, _error("woocommerce_rest_authentication_error", "Invalid signature - provided signature "
                               "does not match.", 401), {}
        with self._lock:
            forced = self._forced.pop(0) if self._forced else None
            if forced is not None:
                status, wait = forced
                if status == 429:
                    return 429, _error("rest_too_many_requests", "Too many requests.", 429), {
                        "Retry-After": f"{wait:g}"}
                return 503, _error("service_unavailable", "Service Unavailable", 503), {}
            if _ORDER.match(path):
                return self._order(method, _ORDER.match(path)["id"], raw)
            listing = _LIST.match(path)
            if listing is not None and method == "GET":
                return self._list(listing["parent"], query)
            batch = _BATCH.match(path)
            if batch is not None and method == "POST":
                return self._batch(path, batch["parent"], raw)
            match = _PATH.match(path)
            if match is None:
                return 404, _error("rest_no_route", "No route was found matching the URL and request method.",
                                   404), {}
            if match["vid"]:
                key = f"{match['id']}/{match['vid']}"
                if key not in self.products:
                    if self._variation_key(match["vid"]) is not None:
                        return 403, _error("woocommerce_rest_cannot_edit",
                                           "Parent product does not match current variation.", 403), {}
                    return 404, _error("woocommerce_rest_product_variation_invalid_id", "Invalid ID.", 404), {}
            else:
                key = match["id"]
                elsewhere = self._variation_key(key) if key not in self.products else None
                if elsewhere is not None and method == "GET":
                    return 200, _as_product(self.products[elsewhere], self.site_url), {}
                if key not in self.products:
                    return 404, _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404), {}
            product = self.products[key]
            if method == "GET":
                return 200, product, {}
            if method != "PUT":
                return 405, _error("rest_no_route", "No route was found matching the URL and request method.",
                                   404), {}
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, _error("rest_invalid_json", "Invalid JSON body passed.", 400), {}
            problem = _update(product, body)
            if problem is not None:
                return 400, problem, {}
            self.puts.append((key, body))
            return 200, product, {}

    def _list(self, parent: str | None, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = int((query.get("per_page") or ["10"])[0])
            page = int((query.get("page") or ["1"])[0])
        except ValueError:
            return 400, _error("rest_invalid_param", "Invalid parameter(s): per_page, page", 400), {}
        if not 1 <= per_page <= 100 or page < 1:
            return 400, _error("rest_invalid_param", "Invalid parameter(s): per_page", 400), {}
        if parent is not None and parent not in self.products:
            return 404, _error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404), {}
        rows = sorted((p for k, p in self.products.items()
                       if (k.startswith(f"{parent}/") if parent else "/" not in k)), key=lambda p: p["id"])
        pages = max(1, -(-len(rows) // per_page))
        self.list_pages += 1
        return 200, rows[(page - 1) * per_page:page * per_page], {"X-WP-Total": str(len(rows)),
                                                                  "X-WP-TotalPages": str(pages)}

    def _batch(self, path: str, parent: str | None, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _error("rest_invalid_json", "Invalid JSON body passed.", 400), {}
        items = [i for i in (body.get("update") or []) if isinstance(i, dict)]
        if sum(len(body.get(k) or []) for k in ("create", "update", "delete")) > BATCH_LIMIT:
            return 413, _error("woocommerce_rest_request_entity_too_large",
                               f"Unable to accept more than {BATCH_LIMIT} items for this request.", 413), {}
        kind = "product_variation" if parent else "product"
        answers: list[dict[str, Any]] = []
        for item in items:
            item_id = item.get("id")
            key = f"{parent}/{item_id}" if parent else str(item_id)
            elsewhere = self._variation_key(str(item_id)) if parent and key not in self.products else None
            if elsewhere is not None:  # saved with the URL's product as its parent: it moves there
                moved = self.products.pop(elsewhere)
                moved["parent_id"] = int(parent or 0)
                self.products[key] = moved
                for old_or_new, change in ((elsewhere.split("/")[0], "remove"), (parent, "append")):
                    owner = self.products.get(str(old_or_new))
                    if owner is not None and owner["type"] == "variable":
                        getattr(owner["variations"], change)(item_id)
            if key not in self.products or (not parent and self.products[key]["type"] == "variation"):
                answers.append({"id": item_id, "error": _error(f"woocommerce_rest_{kind}_invalid_id", "Invalid ID.",
                                                               400)})
                continue
            if item_id in self._failing_items:
                self._failing_items.discard(item_id)
                answers.append({"id": item_id, "error": _error("woocommerce_rest_cannot_edit",
                                                               "Could not save the product.", 500)})
                continue
            fields = {k: v for k, v in item.items() if k != "id"}
            problem = _update(self.products[key], fields)
            answers.append({"id": item_id, "error": problem} if problem else dict(self.products[key]))
        self.batches.append((path, body))
        return 200, {"update": answers}, {}


    def _order(self, method: str, order_id: str, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        order = self.orders.get(order_id)
        if order is None:
            return 404, _error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404), {}
        if method == "GET":
            return 200, order, {}
        if method != "PUT":
            return 404, _error("rest_no_route", "No route was found matching the URL and request method.", 404), {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _error("rest_invalid_json", "Invalid JSON body passed.", 400), {}
        if "status" in body and body["status"] not in ORDER_STATUSES:
            return 400, _error("rest_invalid_param", "Invalid parameter(s): status", 400), {}
        if "status" in body:
            order["status"] = body["status"]
        order["date_modified_gmt"] = _now()
        self.order_puts.append((order_id, body))
        return 200, order, {}


def _update(product: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
    """Apply a product update; the error body when a field is invalid (nothing applied then)."""
    quantity = body.get("stock_quantity")
    if "stock_quantity" in body and (not isinstance(quantity, int) or isinstance(quantity, bool)):
        return _error("rest_invalid_param", "Invalid parameter(s): stock_quantity", 400)
    if "manage_stock" in body:
        product["manage_stock"] = bool(body["manage_stock"])
    if "stock_quantity" in body and product["manage_stock"]:
        product["stock_quantity"] = quantity
        product["stock_status"] = _status(quantity)
    product["date_modified_gmt"] = _now()
    return None


def _as_product(resource: dict[str, Any], site_url: str) -> dict[str, Any]:
    """A product or variation as `/products/{id}` answers it (and `product.updated` carries it)."""
    body = {k: v for k, v in resource.items() if k != "variations"} | {
        "_links": {"self": [{"href": f"{site_url}/wp-json/wc/v3/products/{resource['id']}"}]}}
    if resource["type"] == "variable":
        body["variations"] = list(resource["variations"])
    if resource["parent_id"]:
        body["_links"]["up"] = [{"href": f"{site_url}/wp-json/wc/v3/products/{resource['parent_id']}"}]
    return body


def _status(stock: int | None) -> str:
    return "instock" if stock is None or stock > 0 else "outofstock"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _error(code: str, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "data": {"status": status}}
