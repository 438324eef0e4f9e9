"""Shopify webhook subscriptions through the Admin GraphQL API: the `webhookSubscriptions` query and
`webhookSubscriptionCreate` (topic enum ORDERS_CREATE, ..., `webhookSubscription: {uri}`).

Shopify deletes a subscription whose deliveries keep failing (48 h), so a lost one is re-created, never
re-enabled. POST {api_url or https://SHOP}/admin/api/2026-10/graphql.json with `X-Shopify-Access-Token`.
"""

from __future__ import annotations

from typing import Any

import httpx

from stockpilot.adapters.channels.hooks import HooksRefused, Subscription

API_VERSION = "2026-10"
LIST = """query webhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    edges { node { id topic uri } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CREATE = """mutation webhookSubscriptionCreate($topic: WebhookSubscriptionTopic!,
    $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""


def topic_enum(topic: str) -> str:
    """`orders/create` -> `ORDERS_CREATE` (the GraphQL enum of the REST-style topic)."""
    return topic.upper().replace("/", "_")


class ShopifyHooks:
    can_reenable = False

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.url = f"{base_url.rstrip('/')}/admin/api/{API_VERSION}/graphql.json"
        self.token, self.timeout = token, timeout

    @staticmethod
    def topic_key(topic: str) -> str:
        return topic_enum(topic)

    def list(self) -> list[Subscription]:
        found: list[Subscription] = []
        after = None
        while True:
            page = self._graphql(LIST, {"after": after})["webhookSubscriptions"]
            found.extend(_subscription(edge["node"]) for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                return found
            after = page["pageInfo"]["endCursor"]

    def create(self, topic: str, address: str) -> Subscription:
        answer = self._graphql(CREATE, {"topic": topic_enum(topic), "webhookSubscription": {"uri": address}})
        created = answer["webhookSubscriptionCreate"]
        if created["userErrors"]:
            raise HooksRefused(f"webhookSubscriptionCreate {topic}: {created['userErrors']}")
        return _subscription(created["webhookSubscription"])

    def reenable(self, subscription: Subscription) -> Subscription:
        raise HooksRefused("Shopify subscriptions cannot be re-enabled, only re-created")

    def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(timeout=self.timeout) as client:
            response = client.post(self.url, json={"query": query, "variables": variables},
                                   headers={"X-Shopify-Access-Token": self.token})
        if response.status_code in (401, 403):
            raise HooksRefused(f"Shopify refused the access token ({response.status_code})")
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"Shopify GraphQL errors: {body['errors']}")  # THROTTLED and the like: retry later
        return body["data"]


def _subscription(node: dict[str, Any]) -> Subscription:
    # topic stays the enum (ORDERS_CREATE): compared through topic_key
    return Subscription(str(node["id"]), str(node.get("topic") or ""), str(node.get("uri") or ""), True, "active")
