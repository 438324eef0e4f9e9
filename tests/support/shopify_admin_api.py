"""A loopback Shopify Admin GraphQL API (2026-10) for inventory: `inventorySetQuantities` and `inventoryItem {
inventoryLevel { quantities } }`, as the public docs give them.

- POST /admin/api/2026-10/graphql.json only; `X-Shopify-Access-Token` must be the shop's token (else 401 with
  Shopify's `{"errors": "[API] Invalid API key or access token ..."}`); the body is `{"query", "variables"}`.
- inventorySetQuantities: `input.name` must be `available` or `on_hand`, `reason` a known reason, each quantity must
  carry `changeFromQuantity` (null allowed: mandatory since 2026-04, else a user error), the `@idempotent(key:)`
  directive is required (2026-04); a key replayed with the same variables returns the first answer without
  applying again, with other variables `IDEMPOTENCY_KEY_PARAMETER_MISMATCH`. Unknown item / location give
  `INVALID_INVENTORY_ITEM` / `INVALID_LOCATION` user errors. The answer carries `inventoryAdjustmentGroup` with
  `changes { name delta quantityAfterChange }`.
- Batches: up to 250 quantities per mutation (Shopify's input array limit; more is a top-level
  `MAX_INPUT_SIZE_EXCEEDED` error). The mutation is validated whole: every bad quantity gets its own user error with
  its index in `field` (`["input", "quantities", "3", "inventoryItemId"]`) and then nothing is applied. A mutation
  costs 10 points whatever the number of quantities (a mutation field costs 10; its payload's lists are not
  connections), so 250 SKUs in one mutation cost what one SKU costs.
- Reads: `location(id) { inventoryLevels(first <= 250, after) { pageInfo { hasNextPage endCursor } nodes { item { id }
  quantities(names) } } }`, by item id with an opaque cursor; requested cost 3 + 3 x first (location, connection,
  and per node the level, its item and its quantities list), refunded to 3 + 3 x the nodes returned.
- Cost-based throttle: a leaky bucket (maximumAvailable 2000, restoreRate 100/s by default) charged the request's
  cost; every answer has `extensions.cost` with `throttleStatus`; an empty bucket answers 200 with
  `errors: [{message: "Throttled", extensions: {code: "THROTTLED"}}]`. `throttle_next(n)` forces THROTTLED answers,
  `too_many_next(n, retry_after)` HTTP 429 with Retry-After, `fail_next(n)` 503. `slow_next(n, seconds)` applies the
  next requests as usual and answers them only after `seconds` (a platform that is slow to answer, not to apply:
  the client's timeout then leaves it open whether the change was made). `hold_next()` applies the next request and
  holds its answer until the event it returns is set (`held` is set meanwhile): a push that Shopify has applied
  and whose answer is still on its way.
- orderCancel (orders added with `add_order`): the arguments as the 2026-10 schema has them (`orderId` an Order GID,
  `reason` an OrderCancelReason, `restock: Boolean!`, `refundMethod` an OrderCancelRefundMethodInput; a missing
  required variable or an unknown reason is a top-level error, as GraphQL coercion answers). It answers `job { id
  done: false }` (Shopify cancels in a background job; the fake completes it at once for later reads) or
  `orderCancelUserErrors`: NOT_FOUND for an unknown order, INVALID for one already cancelled or with fulfillments
  (`add_order(..., fulfilled=True)`). Applied cancels are kept in `cancels` (their variables); `order(id:) { id
  cancelledAt }` reads an order back.
- `echo_payload(item, location)` is the REST-shaped `inventory_levels/update` webhook body Shopify sends after a
  change (what the inbound endpoint receives).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VERSION = "2026-10"
REASONS = {"correction", "cycle_count_available", "damaged", "movement_created", "movement_updated",
           "movement_received", "movement_canceled", "other", "promotion", "quality_control", "received",
           "reservation_created", "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage"}
MUTATION_COST, QUERY_COST = 10, 2
MAX_INPUT = 250
LEVEL_NODE_COST = 3
_ITEM = re.compile(r"^gid://shopify/InventoryItem/(\d+)$")
_LOCATION = re.compile(r"^gid://shopify/Location/(\d+)$")
_ORDER = re.compile(r"^gid://shopify/Order/(\d+)$")
CANCEL_REASONS = {"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"}


class ShopifyAdminApi:
    def __init__(self, *, shop: str, token: str, maximum_available: float = 2000.0, restore_rate: float = 100.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.shop, self.token = shop, token
        self.levels: dict[tuple[str, str], int] = {}  # (item id, location id) -> available
        self.updated_at: dict[tuple[str, str], datetime] = {}
        self.requests: list[dict[str, Any]] = []  # every GraphQL request that passed authentication
        self.mutations: list[dict[str, Any]] = []  # the inventorySetQuantities inputs that were applied
        self.pages = 0  # inventoryLevels pages served
        self.maximum, self.rate, self.monotonic = maximum_available, restore_rate, monotonic
        self.available = maximum_available
        self._last = monotonic()
        self.orders: dict[str, dict[str, Any]] = {}  # order id -> {"cancelledAt", "fulfilled"}
        self.cancels: list[dict[str, Any]] = []  # the variables of every orderCancel that cancelled an order
        self._idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self._forced: list[tuple[str, float]] = []  # ("throttle" | "429" | "503", retry_after)
        self._slow: list[float] = []  # seconds to hold the next answers back
        self._holds: list[threading.Event] = []  # answers held until released
        self.held = threading.Event()  # an answer is being held
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):

            disable_nagle_algorithm = True  # answer at once: no 40 ms Nagle / delayed-ACK stall per request
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, headers = api._answer(self.path, dict(self.headers.items()), raw)
                with api._lock:
                    delay = api._slow.pop(0) if api._slow else 0.0
                    hold = api._holds.pop(0) if api._holds else None
                if delay:
                    time.sleep(delay)
                if hold is not None:
                    api.held.set()
                    hold.wait(30)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ShopifyAdminApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ---- test controls -----------------------------------------------------------------------------------------
    def stock(self, item: str, location: str, available: int) -> None:
        with self._lock:
            self.levels[(item, location)] = available
            self.updated_at[(item, location)] = datetime.now(UTC)

    def add_order(self, order_id: int, *, fulfilled: bool = False) -> None:
        with self._lock:
            self.orders[str(order_id)] = {"cancelledAt": None, "fulfilled": fulfilled}

    def throttle_next(self, n: int = 1) -> None:
        self._forced.extend([("throttle", 0.0)] * n)

    def too_many_next(self, n: int = 1, retry_after: float = 2.0) -> None:
        self._forced.extend([("429", retry_after)] * n)

    def fail_next(self, n: int = 1) -> None:
        self._forced.extend([("503", 0.0)] * n)

    def slow_next(self, n: int = 1, seconds: float = 1.0) -> None:
        with self._lock:
            self._slow.extend([seconds] * n)

    def hold_next(self) -> threading.Event:
        """The next request is applied and its answer held until the returned event is set."""
        release = threading.Event()
        with self._lock:
            self.held.clear()
            self._holds.append(release)
        return release

    def echo_payload(self, item: str, location: str) -> dict[str, Any]:
        with self._lock:
            return {"inventory_item_id": int(item), "location_id": int(location),
                    "available": self.levels[(item, location)],
                    "updated_at": self.updated_at[(item, location)].isoformat(),
                    "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{item}?inventory_item_id={item}"}

    def set_values(self) -> list[int]:
        """The quantities applied by inventorySetQuantities, in order."""
        with self._lock:
            return [q["quantity"] for m in self.mutations for q in m["quantities"]]

    # ---- the API -----------------------------------------------------------------------------------------------
    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if path != f"/admin/api/{VERSION}/graphql.json":
            return 404, {"errors": "Not Found"}, {}
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("x-shopify-access-token") != self.token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, {}
        if not lowered.get("content-type", "").startswith("application/json"):
            return 415, {"errors": "Unsupported Media Type"}, {}
        try:
            request = json.loads(raw)
            query, variables = request["query"], request.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return 400, {"errors": [{"message": "Invalid JSON in request body"}]}, {}
        with self._lock:
            self.requests.append({"query": query, "variables": variables})
            if self._forced:
                kind, retry_after = self._forced.pop(0)
                if kind == "429":
                    return 429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates "
                                           "to resume uninterrupted service."}, {"Retry-After": f"{retry_after:g}"}
                if kind == "503":
                    return 503, {"errors": "Service Unavailable"}, {}
                self.available = 0.0
                self._last = self.monotonic()
            quantities = ((variables.get("input") or {}).get("quantities") or []) if isinstance(variables, dict) else []
            if isinstance(quantities, list) and len(quantities) > MAX_INPUT:
                return 200, {"errors": [{
                    "message": f"The input array size of {len(quantities)} is greater than the maximum allowed of "
                               f"{MAX_INPUT}.", "path": ["inventorySetQuantities", "input", "quantities"],
                    "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"}}]}, {}
            cost = MUTATION_COST if query.lstrip().startswith("mutation") else QUERY_COST
            paged = "inventoryLevels(" in query
            if paged:
                first = variables.get("first") if isinstance(variables, dict) else None
                if not isinstance(first, int) or not 0 < first <= MAX_INPUT:
                    return 200, {"errors": [{"message": "The first argument must be between 1 and 250.",
                                             "extensions": {"code": "argumentLiteralsIncompatible"}}]}, {}
                cost = 3 + LEVEL_NODE_COST * first  # location 1 + connection 2 + per node (level, item, list)
            self._refill()
            if self.available < cost:
                return 200, {"errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": self._cost(cost, None)}, {}
            self.available -= cost
            if "orderCancel(" in query:
                return 200, {**self._order_cancel(variables), "extensions": self._cost(cost, cost)}, {}
            if "order(id:" in query:
                data = self._read_order(variables)
            elif "inventorySetQuantities" in query:
                data = self._set_quantities(query, variables)
            elif paged:
                data, returned = self._levels(variables)
                actual = 3 + LEVEL_NODE_COST * returned
                self.available += cost - actual  # charged the requested cost, refunded to the actual one
                return 200, {"data": data, "extensions": self._cost(cost, actual)}, {}
            elif "inventoryItem(" in query:
                data = self._read_level(variables)
            else:
                return 200, {"errors": [{"message": "Field is not supported by this fake",
                                         "extensions": {"code": "undefinedField"}}]}, {}
            return 200, {"data": data, "extensions": self._cost(cost, cost)}, {}

    def _refill(self) -> None:
        now = self.monotonic()
        self.available = min(self.maximum, self.available + (now - self._last) * self.rate)
        self._last = now

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": {"maximumAvailable": self.maximum,
                                            "currentlyAvailable": int(self.available),
                                            "restoreRate": self.rate}}}

    def _set_quantities(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        directive = re.search(r"@idempotent\(\s*key:\s*\$(\w+)\s*\)", query)
        key = variables.get(directive.group(1)) if directive else None
        if not key:
            return _user_errors("IDEMPOTENCY_KEY_REQUIRED" if not directive else "INVALID",
                                "The @idempotent directive with a key is required for this mutation.", [])
        payload = variables.get("input") or {}
        fingerprint = json.dumps(payload, sort_keys=True)
        if key in self._idempotency:
            seen, answer = self._idempotency[key]
            if seen != fingerprint:
                return _user_errors("IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                                    "The same idempotency key cannot be used with different operation parameters.",
                                    [])
            return answer
        answer = self._apply(payload)
        self._idempotency[key] = (fingerprint, answer)
        return answer

    def _apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("name") not in ("available", "on_hand"):
            return _user_errors("INVALID_NAME", "The quantity name must be either 'available' or 'on_hand'.",
                                ["input", "name"])
        if payload.get("reason") not in REASONS:
            return _user_errors("INVALID_REASON", "The specified reason is invalid.", ["input", "reason"])
        changes, keys, errors = [], [], []
        for index, quantity in enumerate(payload.get("quantities") or []):
            problem = self._check(index, quantity)
            if problem is not None:
                errors.append(problem)
                continue
            item, location = _ITEM.match(quantity["inventoryItemId"]), _LOCATION.match(quantity["locationId"])
            keys.append(((item.group(1), location.group(1)), quantity["quantity"]))  # type: ignore[union-attr]
        if errors:  # validated whole: one bad quantity and nothing is applied
            return {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": errors}}
        for key, value in keys:
            changes.append({"name": payload["name"], "delta": value - self.levels[key], "quantityAfterChange": None})
            self.levels[key] = value
            self.updated_at[key] = datetime.now(UTC)
        self.mutations.append(payload)
        return {"inventorySetQuantities": {
            "inventoryAdjustmentGroup": {"createdAt": datetime.now(UTC).isoformat(), "reason": payload["reason"],
                                         "referenceDocumentUri": payload.get("referenceDocumentUri"),
                                         "changes": changes},
            "userErrors": []}}

    def _order_cancel(self, variables: dict[str, Any]) -> dict[str, Any]:
        """{"data": ...} or, for variables GraphQL cannot coerce, {"errors": ...}."""
        for name, kind in (("orderId", "ID!"), ("reason", "OrderCancelReason!"), ("restock", "Boolean!")):
            if variables.get(name) is None:
                return {"errors": [{"message": f"Variable ${name} of type {kind} was provided invalid value",
                                    "extensions": {"code": "INVALID_VARIABLE", "problems": [
                                        {"path": [], "explanation": "Expected value to not be null"}]}}]}
        if variables["reason"] not in CANCEL_REASONS:
            return {"errors": [{"message": "Variable $reason of type OrderCancelReason! was provided invalid value",
                                "extensions": {"code": "INVALID_VARIABLE", "problems": [
                                    {"path": [], "explanation": f"Expected \"{variables['reason']}\" to be one of: "
                                                                + ", ".join(sorted(CANCEL_REASONS))}]}}]}
        match = _ORDER.match(str(variables["orderId"]))
        order = self.orders.get(match.group(1)) if match else None
        if order is None:
            return _cancel_errors("NOT_FOUND", "Order does not exist", ["orderId"])
        if order["cancelledAt"] is not None:
            return _cancel_errors("INVALID", "Cannot cancel an order that has already been cancelled", ["orderId"])
        if order["fulfilled"]:
            return _cancel_errors("INVALID", "Cannot cancel an order with fulfillments", ["orderId"])
        order["cancelledAt"] = datetime.now(UTC).isoformat()
        self.cancels.append(dict(variables))
        job = f"gid://shopify/Job/{uuid.uuid4()}"
        return {"data": {"orderCancel": {"job": {"id": job, "done": False}, "orderCancelUserErrors": []}}}

    def _read_order(self, variables: dict[str, Any]) -> dict[str, Any]:
        match = _ORDER.match(str(variables.get("id")))
        order = self.orders.get(match.group(1)) if match else None
        if order is None:
            return {"order": None}
        return {"order": {"id": f"gid://shopify/Order/{match.group(1)}", "cancelledAt": order["cancelledAt"]}}
    def _check(self, index: int, quantity: dict[str, Any]) -> dict[str, Any] | None:
        field = ["input", "quantities", str(index)]
        if "changeFromQuantity" not in quantity:
            return _error("CHANGE_FROM_QUANTITY_REQUIRED",
                          "changeFromQuantity must be given (null opts out of the check).", field)
        item, location = _ITEM.match(str(quantity.get("inventoryItemId"))), _LOCATION.match(
            str(quantity.get("locationId")))
        if item is None or not any(k[0] == item.group(1) for k in self.levels):
            return _error("INVALID_INVENTORY_ITEM", "The specified inventory item could not be found.",
                          [*field, "inventoryItemId"])
        if location is None or (item.group(1), location.group(1)) not in self.levels:
            return _error("INVALID_LOCATION", "The specified location could not be found.", [*field, "locationId"])
        value = quantity.get("quantity")
        if not isinstance(value, int) or value < 0:
            return _error("INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.", [*field, "quantity"])
        expected = quantity["changeFromQuantity"]
        if expected is not None and expected != self.levels[(item.group(1), location.group(1))]:
            return _error("CHANGE_FROM_QUANTITY_STALE", "The changeFromQuantity value does not match persisted value.",
                          field)
        return None

    def _levels(self, variables: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """`location(id) { inventoryLevels(first, after) { pageInfo nodes { item quantities } } }`, by item id, with
        an opaque cursor (the last item id of the page, base64)."""
        location = _LOCATION.match(str(variables.get("location")))
        held = sorted((k[0] for k in self.levels if location and k[1] == location.group(1)), key=int)
        if location is None or not held:
            return {"location": None}, 0
        after = variables.get("after")
        start = 0
        if after:
            last = base64.b64decode(str(after)).decode().removeprefix("level:")
            start = next((i + 1 for i, item in enumerate(held) if item == last), len(held))
        page = held[start:start + int(variables["first"])]
        nodes = [{"item": {"id": f"gid://shopify/InventoryItem/{item}"},
                  "quantities": [{"name": "available", "quantity": self.levels[(item, location.group(1))]}]}
                 for item in page]
        end = base64.b64encode(f"level:{page[-1]}".encode()).decode() if page else None
        self.pages += 1
        return {"location": {"inventoryLevels": {
            "pageInfo": {"hasNextPage": start + len(page) < len(held), "endCursor": end}, "nodes": nodes}}}, len(page)

    def _read_level(self, variables: dict[str, Any]) -> dict[str, Any]:
        item, location = _ITEM.match(str(variables.get("item"))), _LOCATION.match(str(variables.get("location")))
        if item is None or not any(k[0] == item.group(1) for k in self.levels):
            return {"inventoryItem": None}
        node: dict[str, Any] = {"id": f"gid://shopify/InventoryItem/{item.group(1)}", "inventoryLevel": None}
        if location is not None and (item.group(1), location.group(1)) in self.levels:
            node["inventoryLevel"] = {"quantities": [
                {"name": "available", "quantity": self.levels[(item.group(1), location.group(1))]}]}
        return {"inventoryItem": node}


def _error(code: str, message: str, field: list[str]) -> dict[str, Any]:
    return {"code": code, "field": field or None, "message": message}


def _user_errors(code: str, message: str, field: list[str]) -> dict[str, Any]:
    return {"inventorySetQuantities": {"inventoryAdjustmentGroup": None,
                                       "userErrors": [{"code": code, "field": field or None, "message": message}]}}


def _cancel_errors(code: str, message: str, field: list[str]) -> dict[str, Any]:
    return {"data": {"orderCancel": {"job": None,
                                     "orderCancelUserErrors": [{"code": code, "field": field, "message": message}]}}}
    return {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": [_error(code, message, field)]}}
