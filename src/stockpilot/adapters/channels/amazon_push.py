"""Amazon pusher: the merchant-fulfilled (MFN) quantity of a listing through the Listings Items API.

`PATCH /listings/2021-08-01/items/{sellerId}/{sku}?marketplaceIds=M` with a JSON Patch replacing
`/attributes/fulfillment_availability` by `[{"fulfillment_channel_code": "DEFAULT", "quantity": N}]` (DEFAULT is the
merchant's own fulfilment; FBA quantities belong to Amazon and are read, never set). The answer's `status` is
ACCEPTED or INVALID with `issues`; an INVALID submission or a 4xx other than 429 cannot succeed by retrying
(PushRejected), a 429 the client could not wait out is PushThrottled, anything else is retried with backoff.
Tokens (LWA) and usage-plan buckets live in one SpApi client per account for the process's life.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from stockpilot.adapters.channels.push import (
    ChannelAccount,
    PushLine,
    PushRejected,
    PushResult,
    PushThrottled,
    mark_unapplied,
)
from stockpilot.adapters.channels.sp_api import DEFAULT_LWA_URL, SpApi, SpApiRefused, Throttled


class AmazonPusher:
    kind = "amazon"

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._apis: dict[tuple[Any, ...], SpApi] = {}

    def item_key(self, line: PushLine) -> str:
        # Not an FBA count key (`fba:...`): Amazon never echoes an MFN quantity through the FBA summaries.
        return f"mfn:{self._seller_sku(line)}"

    def push(self, account: ChannelAccount, lines: Sequence[PushLine], idempotency_key: str) -> PushResult:
        settings = account.settings
        seller, marketplace = settings.get("seller_id"), settings.get("marketplace_id")
        if not seller or not marketplace:
            raise PushRejected(f"channel {account.name}: no Amazon seller / marketplace configured")
        api = self._api(account)
        submissions: dict[str, str] = {}
        done: set[str] = set()  # one request per line: those before a failure were applied
        for line in lines:
            try:
                submissions[self._seller_sku(line)] = self._patch(api, str(seller), str(marketplace), line)
            except Exception as exc:
                mark_unapplied(exc, {self.item_key(other) for other in lines} - done)
                raise
            done.add(self.item_key(line))
        return PushResult(notes={"submissions": submissions})

    def _patch(self, api: SpApi, seller: str, marketplace: str, line: PushLine) -> str:
        sku = self._seller_sku(line)
        try:
            answer = api.patch_listing_quantity(seller, sku, marketplace, max(line.quantity, 0))
        except Throttled as exc:
            rate = api.buckets["patchListingsItem"].rate if "patchListingsItem" in api.buckets else 1.0
            raise PushThrottled(1.0 / max(rate, 0.01), str(exc)) from None
        except SpApiRefused as exc:
            raise PushRejected(str(exc)) from None
        except httpx.HTTPStatusError as exc:
            if 400 <= exc.response.status_code < 500:
                raise PushRejected(f"{sku}: {exc.response.status_code} {exc.response.text[:300]}") from None
            raise
        if answer.get("status") != "ACCEPTED":
            issues = "; ".join(f"{i.get('code')}: {i.get('message')}" for i in answer.get("issues") or [])
            raise PushRejected(f"{sku}: Amazon answered {answer.get('status')!r} ({issues or 'no issues'})")
        return str(answer.get("submissionId") or "")

    @staticmethod
    def _seller_sku(line: PushLine) -> str:
        return line.item_ids.get("seller_sku") or line.sku

    def _api(self, account: ChannelAccount) -> SpApi:
        s = account.settings
        key = (account.name, account.api_url, s.get("lwa_url"), s.get("lwa_client_id"), s.get("secret"),
               account.api_token)
        if key not in self._apis:
            # A push waits at most a few seconds for its usage plan; past that the outbox retries it later.
            self._apis[key] = SpApi(api_url=account.api_url or "", lwa_url=str(s.get("lwa_url") or DEFAULT_LWA_URL),
                                    client_id=str(s.get("lwa_client_id") or ""), client_secret=str(s.get("secret")),
                                    refresh_token=account.api_token or "", timeout=self.timeout, max_wait=5.0,
                                    retries_429=1)
        return self._apis[key]
