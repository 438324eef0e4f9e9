"""Google Ads API (REST) ad groups: read status, pause / enable, read recent cost, find changes made by people.

Every request carries `developer-token`, `Authorization: Bearer <OAuth access token>` and, when the ad group's
account is reached through a manager account, `login-customer-id` (digits only). The access token is either
given as is, or obtained from a refresh token (`POST https://oauth2.googleapis.com/token`, form
`grant_type=refresh_token&client_id&client_secret&refresh_token` -> {"access_token", "expires_in"}), kept until a
minute before it expires, and renewed once when the API answers 401.
- POST /{version}/customers/{cid}/adGroups:mutate
      {"operations": [{"update": {"resourceName": "customers/{cid}/adGroups/{id}", "status": "PAUSED"},
                       "updateMask": "status"}]}                               -> {"results": [{"resourceName"}]}
- POST /{version}/customers/{cid}/googleAds:searchStream {"query": GAQL}
      -> [{"results": [{"adGroup": {...}, "metrics": {"costMicros": "123"}}], "fieldMask", "requestId"}, ...]
  status:  SELECT ad_group.resource_name, ad_group.status FROM ad_group WHERE ad_group.resource_name = '...'
  cost:    SELECT metrics.cost_micros FROM ad_group WHERE ad_group.resource_name = '...'
           AND segments.date DURING LAST_7_DAYS                  (no row: nothing spent)
  changes: SELECT change_event.change_date_time, change_event.client_type, change_event.user_email
           FROM change_event WHERE change_event.change_resource_name = '...' AND change_event.change_date_time
           >= '...' AND change_event.change_date_time <= '...' ORDER BY change_event.change_date_time DESC
           LIMIT 100                     (times are in the account's time zone: SELECT customer.time_zone)
Errors are {"error": {"code", "message", "status", "details": [{"@type": ".../GoogleAdsFailure", "errors":
[{"errorCode": {...}, "message"}], "requestId"}]}}. 429 RESOURCE_EXHAUSTED (quota), 5xx / UNAVAILABLE /
INTERNAL / DEADLINE_EXCEEDED are retried; 400 / 401 / 403 / 404 are permanent.

Who changed it: change_event says which client made each change. Anything after our pause not made through the
API (the web UI, the mobile app, Editor) is a person's, and Stockpilot then leaves the ad group alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from stockpilot.adapters.ads.platform import AdsApiError, AdSetRef, AdSetStatus, PermanentAdsApiError
from stockpilot.domain.ads import daily_spend_micros

_RETRYABLE_STATUS = {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED"}
_API_CLIENT = "GOOGLE_ADS_API"
_CHANGE_EVENT_DAYS = 29  # change_event answers for the last 30 days only


@dataclass(frozen=True)
class RefreshToken:
    """An installed-app or web OAuth client and a refresh token for the Google Ads scope."""

    client_id: str
    client_secret: str
    refresh_token: str
    token_url: str = "https://oauth2.googleapis.com/token"


class GoogleAds:
    def __init__(self, developer_token: str, access_token: str | None = None, *,
                 refresh: RefreshToken | None = None, login_customer_id: str | None = None,
                 base_url: str = "https://googleads.googleapis.com", version: str = "v18",
                 client: httpx.Client | None = None, timeout: float = 15) -> None:
        if access_token is None and refresh is None:
            raise ValueError("Google Ads needs an access token or a refresh token")
        self.base = f"{base_url.rstrip('/')}/{version}"
        self.headers = {"developer-token": developer_token, "content-type": "application/json"}
        if login_customer_id:
            self.headers["login-customer-id"] = login_customer_id.replace("-", "")
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.refresh = refresh
        self._token = access_token
        self._expires = float("inf") if access_token else 0.0  # monotonic seconds
        self._lock = threading.Lock()  # one outbox worker thread may share this client with another

    def status(self, ref: AdSetRef) -> AdSetStatus:
        cid, name = _names(ref)
        rows = self.search(cid, f"SELECT ad_group.resource_name, ad_group.status FROM ad_group "
                                f"WHERE ad_group.resource_name = '{name}'")
        if not rows:
            raise PermanentAdsApiError(f"Google Ads: no ad group {name}")
        status = str(rows[0].get("adGroup", {}).get("status") or "")
        return AdSetStatus(active=status == "ENABLED", status=status)

    def set_active(self, ref: AdSetRef, active: bool) -> None:
        cid, name = _names(ref)
        body = {"operations": [{"update": {"resourceName": name, "status": "ENABLED" if active else "PAUSED"},
                                "updateMask": "status"}]}
        answer = self._post(f"customers/{cid}/adGroups:mutate", body)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not results or results[0].get("resourceName") != name:
            raise AdsApiError(f"Google Ads mutate of {name}: unexpected answer {answer!r}"[:500])

    def daily_spend_micros(self, ref: AdSetRef) -> int | None:
        cid, name = _names(ref)
        rows = self.search(cid, f"SELECT metrics.cost_micros FROM ad_group WHERE ad_group.resource_name = "
                                f"'{name}' AND segments.date DURING LAST_7_DAYS")
        total = sum(int(r.get("metrics", {}).get("costMicros", 0)) for r in rows)
        return daily_spend_micros(Decimal(total) / 1_000_000, 7)

    def changed_by_someone_else(self, ref: AdSetRef, *, since: datetime, until: datetime,
                                fingerprint: str | None) -> str | None:
        cid, name = _names(ref)
        zone = self._time_zone(cid)
        start = max(since, until - timedelta(days=_CHANGE_EVENT_DAYS)).astimezone(zone)
        end = (until + timedelta(days=1)).astimezone(zone)
        rows = self.search(cid, (
            "SELECT change_event.change_date_time, change_event.client_type, change_event.user_email "
            f"FROM change_event WHERE change_event.change_resource_name = '{name}' "
            f"AND change_event.change_date_time >= '{start:%Y-%m-%d %H:%M:%S}' "
            f"AND change_event.change_date_time <= '{end:%Y-%m-%d %H:%M:%S}' "
            "ORDER BY change_event.change_date_time DESC LIMIT 100"))
        for row in rows:
            event = row.get("changeEvent", {})
            if event.get("clientType") != _API_CLIENT and _local(event.get("changeDateTime"), zone) > since:
                who = event.get("userEmail") or "someone"
                return f"changed by {who} via {event.get('clientType')} at {event.get('changeDateTime')}"
        return None

    # ---- wire ----------------------------------------------------------------------------------------------
    def search(self, customer_id: str, query: str) -> list[dict[str, Any]]:
        batches = self._post(f"customers/{customer_id}/googleAds:searchStream", {"query": query})
        if not isinstance(batches, list):
            raise AdsApiError(f"Google Ads searchStream: expected a list of batches, got {batches!r}"[:500])
        return [row for batch in batches for row in batch.get("results", [])]

    def _time_zone(self, customer_id: str) -> ZoneInfo:
        rows = self.search(customer_id, "SELECT customer.time_zone FROM customer")
        name = rows[0].get("customer", {}).get("timeZone") if rows else None
        try:
            return ZoneInfo(str(name))
        except (ZoneInfoNotFoundError, ValueError):
            raise AdsApiError(f"Google Ads customer {customer_id}: unusable time zone {name!r}") from None

    def _bearer(self, *, renew: bool = False) -> str:
        with self._lock:
            if self.refresh is not None and (renew or time.monotonic() >= self._expires):
                self._token, lifetime = _exchange(self.client, self.refresh)
                self._expires = time.monotonic() + max(lifetime - 60, 0)
            assert self._token is not None
            return self._token

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        try:
            response = self._send(path, body, self._bearer())
            if response.status_code == 401 and self.refresh is not None:  # expired early or revoked: once more
                response = self._send(path, body, self._bearer(renew=True))
        except httpx.HTTPError as exc:
            raise AdsApiError(f"Google Ads {path}: {type(exc).__name__}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code < 400:
            return answer
        raise _error(path, response.status_code, answer)


    def _send(self, path: str, body: dict[str, Any], token: str) -> httpx.Response:
        return self.client.post(f"{self.base}/{path}", json=body,
                                headers={**self.headers, "Authorization": f"Bearer {token}"})


def _exchange(client: httpx.Client, refresh: RefreshToken) -> tuple[str, float]:
    """A fresh access token and its lifetime in seconds, from Google's OAuth token endpoint."""
    try:
        response = client.post(refresh.token_url, data={
            "grant_type": "refresh_token", "client_id": refresh.client_id,
            "client_secret": refresh.client_secret, "refresh_token": refresh.refresh_token})
    except httpx.HTTPError as exc:
        raise AdsApiError(f"Google OAuth token: {type(exc).__name__}: {exc}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code == 200 and answer.get("access_token"):
        return str(answer["access_token"]), float(answer.get("expires_in", 3600))
    text = f"Google OAuth token: HTTP {response.status_code} {answer.get('error')}: {answer.get('error_description')}"
    if response.status_code >= 500 or response.status_code == 429:
        raise AdsApiError(text)
    raise PermanentAdsApiError(text)  # invalid_grant (revoked or expired refresh token), invalid_client


def _names(ref: AdSetRef) -> tuple[str, str]:
    """(customer id, resource name); digits only, so nothing from the mapping can change a GAQL query."""
    cid = (ref.account or "").replace("-", "")
    if not cid.isdigit() or not ref.external_id.isdigit():
        raise PermanentAdsApiError(f"Google ad group needs a numeric customer id and ad group id, got "
                                   f"{ref.account!r} / {ref.external_id!r}")
    return cid, f"customers/{cid}/adGroups/{ref.external_id}"


def _local(text: object, zone: ZoneInfo) -> datetime:
    raw = str(text or "")
    for pattern in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(raw, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    raise AdsApiError(f"Google Ads change_event: unreadable time {raw!r}")


def _error(path: str, status: int, answer: Any) -> AdsApiError:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(answer, list) and answer and isinstance(answer[0], dict):  # searchStream errors come in a list
        error = answer[0].get("error")
    error = error if isinstance(error, dict) else {}
    detail = ""
    for item in error.get("details") or []:
        for failure in item.get("errors") or []:
            detail = f" {failure.get('errorCode')}: {failure.get('message')}"
            break
    text = f"Google Ads {path}: HTTP {status} {error.get('status')}: {error.get('message')}{detail}"
    if status == 429 or status >= 500 or error.get("status") in _RETRYABLE_STATUS:
        return AdsApiError(text)
    return PermanentAdsApiError(text)
