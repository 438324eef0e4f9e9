"""WooCommerce pusher: the REST API v3 product / variation stock.

- A simple product (listing role `product`): `PUT {site}/wp-json/wc/v3/products/{id}`; a variation (role
  `variation`, its listing naming the parent product: `parent_external_id`): `PUT .../products/{parent}/variations/
  {id}`; body `{"manage_stock": true, "stock_quantity": N}` (WooCommerce only keeps a count for managed stock).
  The parent must be the variation's own: WooCommerce refuses a PUT under another parent (403
  `woocommerce_rest_cannot_edit`), and its batch endpoint would move the variation there.
- Authentication: the REST API key pair as HTTP Basic (consumer key : consumer secret), which WooCommerce accepts
  over HTTPS; `--api-token ck_...:cs_...`. `--api-url` overrides `{site_url}/wp-json/wc/v3`.
- WooCommerce has no locations: a channel sums the Stockpilot locations that feed it into one count.
- 429 waits Retry-After (hosts and security plugins rate-limit the REST API); 401/403/404 and 400 (e.g.
  `woocommerce_rest_product_invalid_id`) are permanent.

Batches (more than one line): `POST .../products/batch` for simple products and `POST .../products/{parent}/
variations/batch` per parent (the sizes and colours of one product in one request), `{"update": [{"id",
"manage_stock": true, "stock_quantity"}]}`, at most 100 items a request (WooCommerce's
`woocommerce_rest_batch_items_limit`; more is 413). The answer lists each item, the product or `{"id", "error":
{"code", "message", "data": {"status"}}}`: a 4xx error rejects that line only, anything else leaves it failed
(tried again on its own).

Reads for reconciliation: `GET .../products` and `.../products/{parent}/variations` with `per_page=100&page=N`,
every page up to the `X-WP-TotalPages` header.

Echo key: `product:{id}` or `variation:{id}` (WooCommerce's product.updated webhooks name the product or variation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

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
from stockpilot.domain.channel_listings import is_post_id

MAX_BATCH = 100  # WooCommerce's default woocommerce_rest_batch_items_limit
PAGE = 100  # per_page's maximum on the list endpoints


class WooCommercePusher:
    kind = "woocommerce"
    batch_limit = MAX_BATCH

    def __init__(self, timeout: float = 10.0, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.sleep = sleep  # waits out a throttled page of a read

    def item_key(self, line: PushLine) -> str:
        if line.item_ids.get("variation"):
            _parent(line)  # a variation is addressed under its parent
            return f"variation:{line.item_ids['variation']}"
        return f"product:{required_id(line, 'product')}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        if len(lines) > 1:
            return self._push_batches(account, lines)
        notes: dict[str, Any] = {}
        for line in lines:  # one SKU alone: one line (WooCommerce has no locations)
            bad = self._bad_id(line)
            if bad is not None:
                raise PushRejected(bad)
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

    def _push_batches(self, account: ChannelAccount, lines: Sequence[PushLine]) -> PushResult:
        by_url: dict[str, list[PushLine]] = {}
        rejected: dict[str, str] = {}
        for line in lines:
            bad = self._bad_id(line)
            if bad is not None:  # that line alone: the others of the batch still go
                rejected[self.item_key(line)] = bad
                continue
            by_url.setdefault(self._batch_url(account, line), []).append(line)
        notes: dict[str, Any] = {}
        failed: dict[str, str] = {}
        unsure: set[str] = set()
        answered: set[str] = set()  # lines of the batch requests WooCommerce answered item by item
        for url, group in by_url.items():
            for start in range(0, len(group), MAX_BATCH):
                chunk = group[start:start + MAX_BATCH]
                body = {"update": [{"id": int(self._own_id(line)), "manage_stock": True,
                                    "stock_quantity": line.quantity} for line in chunk]}
                try:
                    response = self.client.post(url, json=body, auth=self._auth(account),
                                                headers={"Accept": "application/json"})
                    check(response, "WooCommerce", lambda r: seconds_header(r, "Retry-After"))
                    answers = {str(a.get("id")): a for a in (response.json().get("update") or [])
                               if isinstance(a, dict)}
                except Exception as exc:  # the requests before this one were applied
                    mark_unapplied(exc, {self.item_key(line) for line in lines} - answered)
                    raise
                answered.update(self.item_key(line) for line in chunk)
                for line in chunk:
                    key, answer = self.item_key(line), answers.get(self._own_id(line))
                    if answer is None:
                        failed[key] = "WooCommerce's batch answer did not list the item"
                        unsure.add(key)
                    elif "error" in answer:
                        error = answer["error"] or {}
                        status = (error.get("data") or {}).get("status")
                        detail = f"WooCommerce: {error.get('code')}: {error.get('message')} (status {status})"
                        permanent = isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429)
                        (rejected if permanent else failed)[key] = detail
                    elif answer.get("stock_quantity") != line.quantity:
                        failed[key] = f"WooCommerce kept stock_quantity {answer.get('stock_quantity')!r}, " \
                                      f"not {line.quantity}"
                        unsure.add(key)
                    else:
                        notes[key] = {"stock_status": answer.get("stock_status")}
        return PushResult(notes, rejected=rejected, failed=failed, unsure=frozenset(unsure))

    def read_counts(self, account: ChannelAccount, lines: Sequence[PushLine]) -> Mapping[str, int | None]:
        """Page through `GET /products` (and `/products/{parent}/variations` for variations), 100 a page, up to
        the `X-WP-TotalPages` header, instead of one GET per item; a throttled page is asked again."""
        counts: dict[str, int | None] = {}
        simple: dict[str, str] = {}
        variations: dict[str, dict[str, str]] = {}
        for line in lines:
            key = self.item_key(line)
            counts[key] = None
            if line.item_ids.get("variation"):
                variations.setdefault(_parent(line), {})[line.item_ids["variation"]] = key
            else:
                simple[self._own_id(line)] = key
        base = self._base(account)
        lists = ([(f"{base}/products", simple)] if simple else []) + [
            (f"{base}/products/{parent}/variations", ids) for parent, ids in variations.items()]
        for url, ids in lists:
            for item in self._pages(account, url):
                key = ids.get(str(item.get("id")))
                if key is not None:
                    # A variation's `manage_stock` may be "parent": its stock_quantity is then the parent's pool,
                    # not a count of its own (WooCommerce's variations schema: true, false or "parent").
                    counts[key] = item.get("stock_quantity") if item.get("manage_stock") is True else None
        return counts

    def _pages(self, account: ChannelAccount, url: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            def get(page: int = page) -> httpx.Response:
                response = self.client.get(url, params={"per_page": PAGE, "page": page}, auth=self._auth(account),
                                           headers={"Accept": "application/json"})
                check(response, "WooCommerce", lambda r: seconds_header(r, "Retry-After"))
                return response

            response = waiting_out_throttles(get, sleep=self.sleep)
            yield from (i for i in response.json() if isinstance(i, dict))
            try:
                total = int(response.headers.get("X-WP-TotalPages") or 1)
            except ValueError:
                total = 1
            if page >= total:
                return
            page += 1

    @classmethod
    def _url(cls, account: ChannelAccount, line: PushLine) -> str:
        base = cls._base(account)
        if line.item_ids.get("variation"):
            return f"{base}/products/{_parent(line)}/variations/{line.item_ids['variation']}"
        return f"{base}/products/{required_id(line, 'product')}"

    @classmethod
    def _batch_url(cls, account: ChannelAccount, line: PushLine) -> str:
        base = cls._base(account)
        if line.item_ids.get("variation"):
            return f"{base}/products/{_parent(line)}/variations/batch"
        return f"{base}/products/batch"

    @staticmethod
    def _own_id(line: PushLine) -> str:
        return line.item_ids.get("variation") or required_id(line, "product")

    @classmethod
    def _bad_id(cls, line: PushLine) -> str | None:
        """Why the line's id cannot be addressed (a listing made before ids were checked), or None."""
        own = cls._own_id(line)
        if is_post_id(own):
            return None
        return f"{line.sku}: WooCommerce id {own!r} is not a whole number (list the SKU again with its id)"

    @staticmethod
    def _base(account: ChannelAccount) -> str:
        base = (account.api_url or f"{account.site_url or ''}/wp-json/wc/v3").rstrip("/")
        if not base.startswith("http"):
            raise PushRejected(f"channel {account.name}: no --site-url or --api-url to reach WooCommerce")
        return base

    @staticmethod
    def _auth(account: ChannelAccount) -> tuple[str, str]:
        return rest_auth(account)


def _parent(line: PushLine) -> str:
    """The variation's parent product, from its own listing (never guessed from another listing of the SKU)."""
    parent = line.parent_ids.get("variation")
    if not parent:
        raise PushRejected(f"{line.sku}: variation {line.item_ids.get('variation')} has no parent product listed "
                           f"(list it again: stockpilot channel listing NAME {line.item_ids.get('variation')} "
                           f"{line.sku} --role variation --parent PARENT_ID)")
    return parent


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
