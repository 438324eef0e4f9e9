"""Loopback webhook-subscription APIs of WooCommerce, BigCommerce and Shopify, as their public references give them.

- WooCommerce REST v3 (`/wp-json/wc/v3/webhooks`): GET (list, `per_page`/`page`), POST (create: name, topic,
  delivery_url, secret, status), GET/PUT `/webhooks/{id}`; HTTP Basic with the consumer key and secret (else 401
  `woocommerce_rest_cannot_view`); `fail(id, n)` counts failed deliveries and, as WooCommerce does, sets
  `status: disabled` after 5 consecutive failures.
- BigCommerce V3 (`/stores/{hash}/v3/hooks`): GET `{data: [...], meta: {pagination}}`, POST (scope, destination,
  is_active, headers) and PUT `/v3/hooks/{id}` -> `{data: hook, meta: {}}`; `X-Auth-Token` (else 401);
  `deactivate(id)` is what BigCommerce does after deliveries keep failing.
- Shopify Admin GraphQL (`/admin/api/2026-10/graphql.json`, `X-Shopify-Access-Token`): `webhookSubscriptions`
  (edges / pageInfo) and `webhookSubscriptionCreate(topic, webhookSubscription: {uri})` with `userErrors` (an
  unknown topic, a duplicate address); `delete(id)` is what Shopify does after 48 h of failed deliveries.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from typing import Any

from tests.support.http_fake import LoopbackServer


class _Fake:
    def __init__(self) -> None:
        self.hooks: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self._next = 100
        self._lock = threading.Lock()
        self.http = LoopbackServer(self._serve)

    def __enter__(self) -> Any:
        self.http.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.stop()

    def _serve(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
               ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            payload = json.loads(body) if body else None
            self.requests.append((method, path, payload))
            return self.answer(method, path, {k: v[-1] for k, v in query.items()}, headers, payload)

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], payload: Any
               ) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    def _id(self) -> int:
        self._next += 1
        return self._next


class WooCommerceWebhooksApi(_Fake):
    TOPICS = {"order.created", "order.updated", "order.deleted", "product.created", "product.updated",
              "product.deleted", "customer.created", "coupon.created"}

    def __init__(self, *, consumer_key: str, consumer_secret: str) -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode()
        self.site_url = self.http.base_url
        self.api_url = f"{self.http.base_url}/wp-json/wc/v3"

    def fail(self, hook_id: int, times: int) -> None:
        with self._lock:
            hook = self.hooks[hook_id]
            hook["failure_count"] = hook.get("failure_count", 0) + times
            if hook["failure_count"] >= 5:  # "disabled after 5 failed deliveries"
                hook["status"] = "disabled"

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], payload: Any
               ) -> tuple[int, Any, dict[str, str]]:
        if headers.get("authorization") != self.auth:
            return 401, {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
                         "data": {"status": 401}}, {}
        if path == "/wp-json/wc/v3/webhooks" and method == "GET":
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 10))
            hooks = [self.hooks[k] for k in sorted(self.hooks)]
            chunk = hooks[(page - 1) * per_page: page * per_page]
            return 200, chunk, {"X-WP-Total": str(len(hooks)), "X-WP-TotalPages": str(-(-len(hooks) // per_page))}
        if path == "/wp-json/wc/v3/webhooks" and method == "POST":
            if payload.get("topic") not in self.TOPICS or not payload.get("delivery_url"):
                return 400, {"code": "woocommerce_rest_webhook_invalid_topic", "message": "Webhook topic is "
                             "required and must be valid.", "data": {"status": 400}}, {}
            hook_id = self._id()
            resource, event = payload["topic"].split(".")
            self.hooks[hook_id] = {
                "id": hook_id, "name": payload.get("name") or "", "status": payload.get("status", "active"),
                "topic": payload["topic"], "resource": resource, "event": event,
                "hooks": [f"woocommerce_{event}_{resource}"], "delivery_url": payload["delivery_url"],
                "secret": payload.get("secret", ""), "failure_count": 0,
                "date_created": time.strftime("%Y-%m-%dT%H:%M:%S"), "date_modified": None,
            }
            return 201, self._public(hook_id), {}
        match = re.match(r"^/wp-json/wc/v3/webhooks/(\d+)$", path)
        if match and int(match[1]) in self.hooks:
            hook_id = int(match[1])
            if method == "PUT":
                for key in ("status", "delivery_url", "name", "secret"):
                    if key in payload:
                        self.hooks[hook_id][key] = payload[key]
                if payload.get("status") == "active":
                    self.hooks[hook_id]["failure_count"] = 0
            return 200, self._public(hook_id), {}
        return 404, {"code": "woocommerce_rest_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}, {}

    def _public(self, hook_id: int) -> dict[str, Any]:
        return {k: v for k, v in self.hooks[hook_id].items() if k not in ("secret", "failure_count")}


class BigCommerceHooksApi(_Fake):
    def __init__(self, *, store_hash: str, token: str) -> None:
        super().__init__()
        self.store_hash, self.token = store_hash, token
        self.api_url = f"{self.http.base_url}/stores/{store_hash}"

    def deactivate(self, hook_id: int) -> None:
        with self._lock:
            self.hooks[hook_id]["is_active"] = False

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], payload: Any
               ) -> tuple[int, Any, dict[str, str]]:
        if headers.get("x-auth-token") != self.token:
            return 401, {"status": 401, "title": "Unauthorized"}, {}
        base = f"/stores/{self.store_hash}/v3/hooks"
        if path == base and method == "GET":
            hooks = [self.hooks[k] for k in sorted(self.hooks)]
            return 200, {"data": hooks, "meta": {"pagination": {"total": len(hooks), "count": len(hooks),
                                                                "per_page": 250, "current_page": 1,
                                                                "total_pages": 1}}}, {}
        if path == base and method == "POST":
            if not str(payload.get("scope", "")).startswith("store/") or not payload.get("destination"):
                return 422, {"status": 422, "title": "Input is invalid", "errors": {"scope": "invalid"}}, {}
            hook_id = self._id()
            now = int(time.time())
            self.hooks[hook_id] = {"id": hook_id, "client_id": "stockpilot", "store_hash": self.store_hash,
                                   "scope": payload["scope"], "destination": payload["destination"],
                                   "headers": payload.get("headers") or {}, "is_active": payload.get("is_active",
                                                                                                     True),
                                   "created_at": now, "updated_at": now}
            return 200, {"data": self.hooks[hook_id], "meta": {}}, {}
        match = re.match(rf"^{base}/(\d+)$", path)
        if match and int(match[1]) in self.hooks and method in ("GET", "PUT"):
            hook = self.hooks[int(match[1])]
            if method == "PUT":
                hook.update({k: payload[k] for k in ("is_active", "destination", "headers") if k in payload})
                hook["updated_at"] = int(time.time())
            return 200, {"data": hook, "meta": {}}, {}
        return 404, {"status": 404, "title": "The requested resource was not found"}, {}


class ShopifyWebhooksApi(_Fake):
    TOPICS = {"ORDERS_CREATE", "ORDERS_CANCELLED", "ORDERS_FULFILLED", "REFUNDS_CREATE", "INVENTORY_LEVELS_UPDATE",
              "PRODUCTS_UPDATE", "CHECKOUTS_CREATE", "CHECKOUTS_UPDATE"}

    def __init__(self, *, token: str) -> None:
        super().__init__()
        self.token = token
        self.api_url = self.http.base_url

    def delete(self, hook_id: int) -> None:
        with self._lock:
            del self.hooks[hook_id]

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], payload: Any
               ) -> tuple[int, Any, dict[str, str]]:
        if path != "/admin/api/2026-10/graphql.json" or method != "POST":
            return 404, {"errors": "Not Found"}, {}
        if headers.get("x-shopify-access-token") != self.token:
            return 401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, {}
        query_text, variables = payload.get("query", ""), payload.get("variables") or {}
        if "webhookSubscriptionCreate" in query_text:
            return 200, {"data": {"webhookSubscriptionCreate": self._create(variables)}}, {}
        if "webhookSubscriptions" in query_text:
            nodes = [self._node(k) for k in sorted(self.hooks)]
            return 200, {"data": {"webhookSubscriptions": {
                "edges": [{"node": n, "cursor": n["id"]} for n in nodes],
                "pageInfo": {"hasNextPage": False, "endCursor": nodes[-1]["id"] if nodes else None}}}}, {}
        return 200, {"errors": [{"message": "Field doesn't exist", "extensions": {"code": "undefinedField"}}]}, {}

    def _create(self, variables: dict[str, Any]) -> dict[str, Any]:
        topic, uri = variables.get("topic"), (variables.get("webhookSubscription") or {}).get("uri")
        if topic not in self.TOPICS:
            return {"webhookSubscription": None, "userErrors": [{"field": ["topic"], "message": "Topic is invalid"}]}
        if any(h["topic"] == topic and h["uri"] == uri for h in self.hooks.values()):
            return {"webhookSubscription": None, "userErrors": [
                {"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already "
                 "been taken"}]}
        hook_id = self._id()
        self.hooks[hook_id] = {"topic": topic, "uri": uri}
        return {"webhookSubscription": self._node(hook_id), "userErrors": []}

    def _node(self, hook_id: int) -> dict[str, Any]:
        return {"id": f"gid://shopify/WebhookSubscription/{hook_id}", **self.hooks[hook_id]}
