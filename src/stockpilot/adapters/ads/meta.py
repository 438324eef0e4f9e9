"""Meta Marketing API (Graph API) ad sets: read status, pause / activate, read recent spend.

Requests (https://graph.facebook.com/{version}/...), every one carrying `access_token` (and `appsecret_proof`,
HMAC-SHA256 of the token under the app secret, when one is configured):
- GET  /{ad_set_id}?fields=status,effective_status,daily_budget,updated_time
- POST /{ad_set_id} with form fields status=PAUSED|ACTIVE          -> {"success": true}
- GET  /{ad_set_id}/insights?fields=spend&date_preset=last_7d      -> {"data": [{"spend": "12.34", ...}]}
Errors are {"error": {"message", "type", "code", "error_subcode", "fbtrace_id", "is_transient"?}}. Throttling
(codes 4, 17, 32, 613, 80000-80014 such as 80004 "too many calls to this ad-account") and outages (1, 2, 5xx) are
retried; bad tokens (190, 102), permissions (10, 200-299) and invalid parameters (100) are permanent.

Who changed it: `updated_time` moves on every edit of the ad set, so the value read right after our pause is a
fingerprint; a different value at resume time means someone edited it since.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from stockpilot.adapters.ads.platform import AdsApiError, AdSetRef, AdSetStatus, PermanentAdsApiError
from stockpilot.domain.ads import daily_spend_micros

_THROTTLED = {4, 17, 32, 613} | set(range(80000, 80015))
_TRANSIENT = {1, 2} | _THROTTLED
_STATUS_FIELDS = "status,effective_status,daily_budget,updated_time"


class MetaAds:
    def __init__(self, access_token: str, *, base_url: str = "https://graph.facebook.com", version: str = "v21.0",
                 app_secret: str | None = None, client: httpx.Client | None = None, timeout: float = 15) -> None:
        self.token = access_token
        self.base = f"{base_url.rstrip('/')}/{version}"
        self.app_secret = app_secret
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def status(self, ref: AdSetRef) -> AdSetStatus:
        body = self._call("GET", _id(ref), params={"fields": _STATUS_FIELDS})
        status = str(body.get("status") or "")
        if not status:
            raise AdsApiError(f"Meta ad set {ref.external_id}: no status in the answer")
        return AdSetStatus(active=status == "ACTIVE", status=status, fingerprint=body.get("updated_time"))

    def set_active(self, ref: AdSetRef, active: bool) -> None:
        body = self._call("POST", _id(ref), data={"status": "ACTIVE" if active else "PAUSED"})
        if body.get("success") is not True:
            raise AdsApiError(f"Meta ad set {ref.external_id}: update not confirmed: {body!r}"[:500])

    def daily_spend_micros(self, ref: AdSetRef) -> int | None:
        body = self._call("GET", f"{_id(ref)}/insights", params={"fields": "spend", "date_preset": "last_7d"})
        rows = body.get("data")
        if not isinstance(rows, list):
            return None
        try:
            total = sum((Decimal(str(r.get("spend", "0"))) for r in rows if isinstance(r, dict)), Decimal(0))
        except InvalidOperation:
            return None
        return daily_spend_micros(total, 7)  # no rows: nothing spent in the last 7 days

    def changed_by_someone_else(self, ref: AdSetRef, *, since: datetime, until: datetime,
                                fingerprint: str | None) -> str | None:
        now = self.status(ref)
        if fingerprint is None or now.fingerprint == fingerprint:
            return None
        return f"edited on Meta since our pause (updated_time {fingerprint} -> {now.fingerprint})"

    # ---- wire ----------------------------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        params = {"access_token": self.token}
        if self.app_secret:
            params["appsecret_proof"] = hmac.new(self.app_secret.encode(), self.token.encode(),
                                                 hashlib.sha256).hexdigest()
        return params

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
              data: dict[str, str] | None = None) -> dict[str, Any]:
        url = f"{self.base}/{path}"
        try:
            if method == "GET":
                response = self.client.get(url, params={**(params or {}), **self._auth()})
            else:
                response = self.client.post(url, data={**(data or {}), **self._auth()})
        except httpx.HTTPError as exc:
            raise AdsApiError(f"Meta {method} {path}: {type(exc).__name__}: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code < 400 and isinstance(body, dict) and "error" not in body:
            return body
        raise _error(method, path, response.status_code, body)


def _id(ref: AdSetRef) -> str:
    if not ref.external_id.isdigit():
        raise PermanentAdsApiError(f"Meta ad set id must be digits, got {ref.external_id!r}")
    return ref.external_id


def _error(method: str, path: str, status: int, body: Any) -> AdsApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        text = f"Meta {method} {path}: HTTP {status} without a Graph error body"
        return AdsApiError(text) if status >= 500 or status == 429 else PermanentAdsApiError(text)
    code = error.get("code")
    text = (f"Meta {method} {path}: HTTP {status} code {code} subcode {error.get('error_subcode')}: "
            f"{error.get('message')} (fbtrace_id {error.get('fbtrace_id')})")
    if code in _TRANSIENT or error.get("is_transient") is True or status >= 500:
        return AdsApiError(text)
    return PermanentAdsApiError(text)
