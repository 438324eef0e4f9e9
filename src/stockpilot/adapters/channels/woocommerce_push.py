"""WooCommerce pusher: the REST API v3 product / variation stock.

- A simple product (listing role `product`): `PUT {site}/wp-json/wc/v3/products/{id}`; a variation (role
  `variation`, with its parent as role `product`): `PUT .../products/{product}/variations/{id}`; body
  `{"manage_stock": true, "stock_quantity": N}` (WooCommerce only keeps a count for managed stock).
- Authentication: the REST API key pair as HTTP Basic (consumer key : consumer secret), which WooCommerce accepts
  over HTTPS; `--api-token ck_...:cs_...`. `--api-url` overrides `{site_url}/wp-json/wc/v3`.
- WooCommerce has no locations: a channel sums the Stockpilot locations that feed it into one count.
- 429 waits Retry-After (hosts and security plugins rate-limit the REST API); 401/403/404 and 400 (e.g.
  `woocommerce_rest_product_invalid_id`) are permanent.

Echo key: `product:{id}` or `variation:{id}` (WooCommerce's product.updated webhooks name the product or variation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from stockpilot.adapters.channels.http_push import check, seconds_header
from stockpilot.adapters.channels.push import ChannelAccount, PushLine, PushRejected, PushResult, required_id


class WooCommercePusher:
    kind = "woocommerce"

    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None) -> None:
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def item_key(self, line: PushLine) -> str:
        if line.item_ids.get("variation"):
            required_id(line, "product")  # a variation is addressed under its parent
            return f"variation:{line.item_ids['variation']}"
        return f"product:{required_id(line, 'product', 'variation')}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        notes: dict[str, Any] = {}
        for line in lines:  # one SKU per push: one line (WooCommerce has no locations)
            body = {"manage_stock": True, "stock_quantity": line.quantity}
            response = self.client.put(self._url(account, line), json=body, auth=self._auth(account),
                                       headers={"Accept": "application/json"})
            check(response, "WooCommerce", lambda r: seconds_header(r, "Retry-After"))
            answer = response.json()
            if answer.get("stock_quantity") != line.quantity:
                raise RuntimeError(f"WooCommerce kept stock_quantity {answer.get('stock_quantity')!r}, "
                                   f"not {line.quantity}")
            notes[self.item_key(line)] = {"stock_status": answer.get("stock_status")}
        return PushResult(notes)

    def read_counts(self, account: ChannelAccount, lines: Sequence[PushLine]) -> Mapping[str, int | None]:
        counts: dict[str, int | None] = {}
        for line in lines:
            response = self.client.get(self._url(account, line), auth=self._auth(account),
                                       headers={"Accept": "application/json"})
            check(response, "WooCommerce", lambda r: seconds_header(r, "Retry-After"))
            answer = response.json()
            counts[self.item_key(line)] = answer.get("stock_quantity") if answer.get("manage_stock") else None
        return counts

    @staticmethod
    def _url(account: ChannelAccount, line: PushLine) -> str:
        base = rest_base(account)
        if line.item_ids.get("variation"):
            return f"{base}/products/{required_id(line, 'product')}/variations/{line.item_ids['variation']}"
        return f"{base}/products/{required_id(line, 'product', 'variation')}"

    @staticmethod
    def _auth(account: ChannelAccount) -> tuple[str, str]:
        return rest_auth(account)


def rest_base(account: ChannelAccount) -> str:
    """The store's REST API v3 root (`--api-url`, else `{site_url}/wp-json/wc/v3`); shared with the order cancel."""
    base = (account.api_url or f"{account.site_url or ''}/wp-json/wc/v3").rstrip("/")
    if not base.startswith("http"):
        raise PushRejected(f"channel {account.name}: no --site-url or --api-url to reach WooCommerce")
    return base


def rest_auth(account: ChannelAccount) -> tuple[str, str]:
    """HTTP Basic from the REST key pair `ck_...:cs_...` kept as the channel's api_token."""
    key, _, secret = (account.api_token or "").partition(":")
    if not key or not secret:
        raise PushRejected(f"channel {account.name}: --api-token must be the REST key pair ck_...:cs_...")
    return key, secret
