"""A loopback Google Ads API (REST) for ad groups: a real HTTP server on 127.0.0.1 speaking its wire format.

    with FakeGoogleAds(developer_token="dev", access_token="ya29.x", clock=clock.now) as google:
        google.add_ad_group("1234567890", "555", daily_cost="12.50")

Endpoints (any /v{N}/ prefix), each requiring the `developer-token` header and `Authorization: Bearer ...`
(and `login-customer-id` when the fake is given one):
- POST /customers/{cid}/adGroups:mutate  {"operations": [{"update": {"resourceName", "status"}, "updateMask"}]}
- POST /customers/{cid}/googleAds:searchStream {"query": GAQL} -> [{"results": [...], "fieldMask", "requestId"}]
  A small GAQL reader: SELECT fields FROM ad_group | customer | change_event, WHERE conditions joined by AND
  (`=`, `>=`, `<=` on quoted values; `segments.date DURING LAST_7_DAYS`), ORDER BY, LIMIT. As the real API
  requires, change_event queries must bound change_event.change_date_time on both sides and carry a LIMIT.
Errors as Google gives them: {"error": {"code", "message", "status", "details": [{"@type": ...GoogleAdsFailure,
"errors": [{"errorCode": {...}, "message"}], "requestId"}]}}; `throttle_next(n)` answers 429 RESOURCE_EXHAUSTED
with a quotaError and a retryDelay. Changes are kept as change events with their client type:
GOOGLE_ADS_API for API mutations, GOOGLE_ADS_WEB_CLIENT for `person_sets` (a person in the web UI).

With `oauth=(client_id, client_secret, refresh_token)` it is also Google's OAuth token endpoint, `POST /token`
(form grant_type=refresh_token, ...) -> {"access_token", "expires_in": 3599, "scope", "token_type": "Bearer"};
a wrong refresh token is 400 {"error": "invalid_grant"}; the API then takes the tokens it issued, and
`expire_tokens()` makes them all stale (401), as an hour passing would.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from tests.support.http_fake import LoopbackServer

_MUTATE = re.compile(r"^/v\d+/customers/(\d+)/adGroups:mutate$")
_SEARCH = re.compile(r"^/v\d+/customers/(\d+)/googleAds:searchStream$")
_QUERY = re.compile(r"^SELECT (?P<fields>.+?) FROM (?P<resource>\w+)(?: WHERE (?P<where>.+?))?"
                    r"(?: ORDER BY (?P<order>[\w.]+)(?: (?P<dir>ASC|DESC))?)?(?: LIMIT (?P<limit>\d+))?$")
_CONDITION = re.compile(r"^(?P<field>[\w.]+) (?:(?P<op>=|>=|<=) '(?P<value>[^']*)'|DURING (?P<range>\w+))$")
_FAILURE = "type.googleapis.com/google.ads.googleads.v18.errors.GoogleAdsFailure"


@dataclass
class AdGroup:
    customer_id: str
    id: str
    status: str = "ENABLED"
    cost_micros_7d: int = 0
    history: list[tuple[str, str]] = field(default_factory=list)  # (client type, status)

    @property
    def resource_name(self) -> str:
        return f"customers/{self.customer_id}/adGroups/{self.id}"


@dataclass(frozen=True)
class ChangeEvent:
    resource_name: str
    at: datetime  # aware; shown in the account's time zone
    client_type: str
    user_email: str


class FakeGoogleAds:
    def __init__(self, *, developer_token: str, access_token: str, clock: Callable[[], datetime],
                 login_customer_id: str | None = None, time_zone: str = "America/New_York",
                 oauth: tuple[str, str, str] | None = None) -> None:
        self.developer_token = developer_token
        self.access_token = access_token
        self.oauth = oauth
        self.issued: set[str] = set()
        self.token_requests = 0
        self.login_customer_id = login_customer_id
        self.clock = clock
        self.zone = ZoneInfo(time_zone)
        self.ad_groups: dict[str, AdGroup] = {}
        self.changes: list[ChangeEvent] = []
        self.queries: list[str] = []
        self.mutations: list[dict[str, Any]] = []
        self._throttle = 0
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._answer)
        self.url = self._server.base_url

    def __enter__(self) -> FakeGoogleAds:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                raw: bytes) -> tuple[int, Any, dict[str, str]]:
        target = f"{path}?{urlencode(query, doseq=True)}" if query else path
        status, body = self._handle(target, headers, raw)
        return status, body, {"request-id": secrets.token_urlsafe(10)}

    # ---- test controls ---------------------------------------------------------------------------------------
    def add_ad_group(self, customer_id: str, ad_group_id: str, *, status: str = "ENABLED",
                     daily_cost: str = "0") -> None:
        with self._lock:
            group = AdGroup(customer_id, ad_group_id, status, int(float(daily_cost) * 7 * 1_000_000))
            self.ad_groups[group.resource_name] = group

    def person_sets(self, customer_id: str, ad_group_id: str, status: str) -> None:
        with self._lock:
            self._change(self.ad_groups[f"customers/{customer_id}/adGroups/{ad_group_id}"], status,
                         "GOOGLE_ADS_WEB_CLIENT", "owner@shop.example")

    def status_of(self, customer_id: str, ad_group_id: str) -> str:
        with self._lock:
            return self.ad_groups[f"customers/{customer_id}/adGroups/{ad_group_id}"].status

    def status_changes(self, customer_id: str, ad_group_id: str, client: str = "GOOGLE_ADS_API") -> list[str]:
        with self._lock:
            group = self.ad_groups[f"customers/{customer_id}/adGroups/{ad_group_id}"]
            return [status for who, status in group.history if who == client]

    def throttle_next(self, count: int) -> None:
        with self._lock:
            self._throttle += count

    def expire_tokens(self) -> None:
        with self._lock:
            self.issued.clear()

    # ---- the API -------------------------------------------------------------------------------------------
    def _change(self, group: AdGroup, status: str, client: str, user: str) -> None:
        group.status = status
        group.history.append((client, status))
        self.changes.append(ChangeEvent(group.resource_name, self.clock(), client, user))

    def _token(self, raw: bytes) -> tuple[int, Any]:
        form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        self.token_requests += 1
        if self.oauth is None or form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        client_id, client_secret, refresh_token = self.oauth
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        if form.get("refresh_token") != refresh_token:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        token = "ya29." + secrets.token_urlsafe(24)
        self.issued.add(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer",
                     "scope": "https://www.googleapis.com/auth/adwords"}

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        with self._lock:
            if path == "/token":
                return self._token(raw)
            lower = {k.lower(): v for k, v in headers.items()}
            bearer = lower.get("authorization", "").removeprefix("Bearer ")
            if bearer != self.access_token and bearer not in self.issued:
                return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                       "message": "Request is missing required authentication credential. "
                                                  "Expected OAuth 2 access token."}}
            if lower.get("developer-token") != self.developer_token:
                return _failure(401, "UNAUTHENTICATED", {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                                "The developer token is not valid.")
            if self.login_customer_id is not None and lower.get("login-customer-id") != self.login_customer_id:
                return _failure(403, "PERMISSION_DENIED", {"authorizationError": "USER_PERMISSION_DENIED"},
                                "User doesn't have permission to access customer. Note: If you're accessing a "
                                "client customer, the manager's customer id must be set in the "
                                "'login-customer-id' header.")
            if self._throttle:
                self._throttle -= 1
                status, body = _failure(429, "RESOURCE_EXHAUSTED", {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"},
                                        "Too many requests. Retry in 30 seconds.")
                body["error"]["details"][0]["errors"][0]["details"] = {
                    "quotaErrorDetails": {"rateScope": "DEVELOPER", "rateName": "Requests per developer token",
                                          "retryDelay": "30s"}}
                return status, body
            try:
                body = json.loads(raw)
            except ValueError:
                return 400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload"}}
            if match := _MUTATE.match(path):
                return self._mutate(match.group(1), body)
            if match := _SEARCH.match(path):
                return self._search(match.group(1), str(body.get("query", "")))
            return 404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"{path} not found"}}

    def _mutate(self, customer_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.mutations.append(body)
        results = []
        for op in body.get("operations") or []:
            update = op.get("update") or {}
            group = self.ad_groups.get(str(update.get("resourceName")))
            if group is None or group.customer_id != customer_id:
                return _failure(400, "INVALID_ARGUMENT", {"mutateError": "RESOURCE_NOT_FOUND"},
                                "Resource was not found.")
            if op.get("updateMask") != "status" or update.get("status") not in ("ENABLED", "PAUSED", "REMOVED"):
                return _failure(400, "INVALID_ARGUMENT", {"fieldMaskError": "FIELD_NOT_FOUND"},
                                "The field mask contained an invalid field or an invalid status.")
            self._change(group, update["status"], "GOOGLE_ADS_API", "api@shop.example")
            results.append({"resourceName": group.resource_name})
        if not results:
            return _failure(400, "INVALID_ARGUMENT", {"requestError": "OPERATIONS_REQUIRED"},
                            "At least one operation is required.")
        return 200, {"results": results}

    def _search(self, customer_id: str, query: str) -> tuple[int, Any]:
        self.queries.append(query)
        match = _QUERY.match(" ".join(query.split()))
        if not match:
            return _query_error("Error in query: unexpected input.")
        fields = [f.strip() for f in match["fields"].split(",")]
        conditions = []
        for text in (match["where"] or "").split(" AND ") if match["where"] else []:
            condition = _CONDITION.match(text.strip())
            if not condition:
                return _query_error(f"Error in WHERE clause: cannot read {text!r}.")
            conditions.append(condition)
        resource = match["resource"]
        if resource == "customer":
            rows = [{"customer": {"resourceName": f"customers/{customer_id}", "timeZone": str(self.zone)}}]
        elif resource == "ad_group":
            rows = self._ad_group_rows(customer_id, fields, conditions)
        elif resource == "change_event":
            bounds = {c["op"] for c in conditions if c["field"] == "change_event.change_date_time"}
            if bounds != {">=", "<="} or match["limit"] is None:
                return _query_error("change_event queries must filter change_event.change_date_time with a "
                                    "start and an end, and must specify a LIMIT.")
            rows = self._change_rows(conditions)
            if match["dir"] == "DESC":
                rows.reverse()
        else:
            return _query_error(f"Unsupported resource {resource!r} in this fake.")
        if match["limit"]:
            rows = rows[: int(match["limit"])]
        mask = ",".join(_camel(f) for f in fields)
        return 200, [{"results": rows, "fieldMask": mask, "requestId": secrets.token_urlsafe(10)}]

    def _ad_group_rows(self, customer_id: str, fields: list[str], conditions: list[Any]) -> list[dict[str, Any]]:
        rows = []
        for group in self.ad_groups.values():
            if group.customer_id != customer_id:
                continue
            if any(c["field"] == "ad_group.resource_name" and c["value"] != group.resource_name for c in conditions):
                continue
            row: dict[str, Any] = {"adGroup": {"resourceName": group.resource_name}}
            if "ad_group.status" in fields:
                row["adGroup"]["status"] = group.status
            if "metrics.cost_micros" in fields:
                if not any(c["range"] == "LAST_7_DAYS" for c in conditions) or group.cost_micros_7d == 0:
                    continue  # metrics rows with nothing to show are left out, as the API does
                row["metrics"] = {"costMicros": str(group.cost_micros_7d)}
            rows.append(row)
        return rows

    def _change_rows(self, conditions: list[Any]) -> list[dict[str, Any]]:
        def local(moment: datetime) -> str:
            return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S.%f")

        rows = []
        for change in self.changes:
            shown = local(change.at)
            keep = True
            for c in conditions:
                if c["field"] == "change_event.change_resource_name":
                    keep &= change.resource_name == c["value"]
                elif c["field"] == "change_event.change_date_time":
                    keep &= shown[:19] >= c["value"] if c["op"] == ">=" else shown[:19] <= c["value"]
            if keep:
                rows.append({"changeEvent": {"resourceName": f"{change.resource_name}~{len(rows)}",
                                             "changeDateTime": shown, "clientType": change.client_type,
                                             "userEmail": change.user_email}})
        return rows


def _camel(field_path: str) -> str:
    return ".".join(re.sub(r"_(\w)", lambda m: m.group(1).upper(), part) for part in field_path.split("."))


def _failure(status: int, code: str, error_code: dict[str, str], message: str) -> tuple[int, dict[str, Any]]:
    request_id = secrets.token_urlsafe(10)
    return status, {"error": {"code": status, "message": "Request contains an invalid argument." if status == 400
                              else message, "status": code,
                              "details": [{"@type": _FAILURE, "errors": [{"errorCode": error_code,
                                                                          "message": message}],
                                           "requestId": request_id}]}}


def _query_error(message: str) -> tuple[int, dict[str, Any]]:
    return _failure(400, "INVALID_ARGUMENT", {"queryError": "UNEXPECTED_INPUT"}, message)
