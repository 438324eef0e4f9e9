"""A loopback Meta Marketing API (Graph API) for ad sets: a real HTTP server on 127.0.0.1 speaking its wire format.

    with FakeMetaAds(token="EAAB...", clock=clock.now) as meta:
        meta.add_ad_set("120200000000001", daily_spend="20.00")
        Settings(meta_graph_url=meta.url, meta_access_token="EAAB...")

Endpoints (any /v{N}.0/ prefix):
- GET  /{id}?fields=status,effective_status,daily_budget,updated_time&access_token=...
- POST /{id} (form body: status=PAUSED|ACTIVE&access_token=...)            -> {"success": true}
- GET  /{id}/insights?fields=spend&date_preset=last_7d&access_token=...     -> {"data": [{"spend": "140.00", ...}]}
Errors as the Graph API gives them, HTTP 400 with {"error": {"message", "type", "code", "error_subcode",
"fbtrace_id"}}: a wrong token is code 190 (OAuthException); a wrong appsecret_proof code 100; an unknown ad set
code 100 subcode 33 (GraphMethodException); `throttle_next(n)` answers the next n calls with code 80004
(subcode 2446079, "too many calls to this ad-account") and an X-Business-Use-Case-Usage header.
`updated_time` moves on every change, as Meta's does; `person_sets(id, status)` is a person in Ads Manager.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

from tests.support.http_fake import LoopbackServer

_PATH = re.compile(r"^/v\d+\.\d+/(\d+)(/insights)?$")


@dataclass
class AdSet:
    id: str
    status: str = "ACTIVE"
    daily_budget: str = "5000"  # minor units of the account currency, as a string (Meta's shape)
    spend_7d: Decimal = Decimal("0")
    updated_time: datetime | None = None
    history: list[tuple[str, str]] = field(default_factory=list)  # (who, status)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str]
    status: int


class FakeMetaAds:
    def __init__(self, *, token: str, clock: Callable[[], datetime], app_secret: str | None = None) -> None:
        self.token = token
        self.app_secret = app_secret
        self.clock = clock
        self.ad_sets: dict[str, AdSet] = {}
        self.calls: list[Call] = []
        self._throttle = 0
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._answer)
        self.url = self._server.base_url

    def __enter__(self) -> FakeMetaAds:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()

    def _answer(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                raw: bytes) -> tuple[int, Any, dict[str, str]]:
        params = {k: v[-1] for k, v in query.items()}
        if method == "POST" and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update({k: v[-1] for k, v in parse_qs(raw.decode()).items()})
        status, body, extra = self._handle(method, path, params)
        return status, body, {"x-fb-trace-id": secrets.token_urlsafe(8), **extra}

    # ---- test controls ---------------------------------------------------------------------------------------
    def add_ad_set(self, ad_set_id: str, *, status: str = "ACTIVE", daily_spend: str = "0") -> None:
        with self._lock:
            ad_set = AdSet(ad_set_id, status=status, spend_7d=Decimal(daily_spend) * 7)
            self._touch(ad_set, "setup", status)
            self.ad_sets[ad_set_id] = ad_set

    def person_sets(self, ad_set_id: str, status: str) -> None:
        with self._lock:
            self._touch(self.ad_sets[ad_set_id], "person", status)

    def status_of(self, ad_set_id: str) -> str:
        with self._lock:
            return self.ad_sets[ad_set_id].status

    def status_changes(self, ad_set_id: str, who: str = "api") -> list[str]:
        with self._lock:
            return [status for actor, status in self.ad_sets[ad_set_id].history if actor == who]

    def throttle_next(self, count: int) -> None:
        with self._lock:
            self._throttle += count

    # ---- the API -------------------------------------------------------------------------------------------
    def _touch(self, ad_set: AdSet, who: str, status: str) -> None:
        # Second resolution like Meta's, but never equal to the previous value: each edit is visible.
        moment = self.clock().replace(microsecond=0)
        if ad_set.updated_time is not None and moment <= ad_set.updated_time:
            moment = ad_set.updated_time + timedelta(seconds=1)
        ad_set.status, ad_set.updated_time = status, moment
        ad_set.history.append((who, status))

    def _handle(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            status, body, headers = self._route(method, path, params)
            self.calls.append(Call(method, path, {k: v for k, v in params.items() if k != "access_token"}, status))
            return status, body, headers

    def _route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if params.get("access_token") != self.token:
            return _error(190, "Invalid OAuth access token - Cannot parse access token", "OAuthException")
        if self.app_secret is not None:
            proof = hmac.new(self.app_secret.encode(), self.token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(params.get("appsecret_proof", ""), proof):
                return _error(100, "Invalid appsecret_proof provided in the API argument", "GraphMethodException")
        if self._throttle:
            self._throttle -= 1
            usage = {"act_1": [{"type": "ads_management", "call_count": 100, "total_cputime": 40, "total_time": 40,
                                "estimated_time_to_regain_access": 1}]}
            status, body, _ = _error(80004, "There have been too many calls to this ad-account. Wait a bit and "
                                            "try again.", "OAuthException", subcode=2446079)
            return status, body, {"X-Business-Use-Case-Usage": json.dumps(usage)}
        match = _PATH.match(path)
        ad_set = self.ad_sets.get(match.group(1)) if match else None
        if match is None or ad_set is None:
            return _error(100, f"Unsupported {method.lower()} request. Object with ID '{path.rsplit('/', 1)[-1]}' "
                               "does not exist, cannot be loaded due to missing permissions, or does not support "
                               "this operation.", "GraphMethodException", subcode=33)
        if match.group(2):  # insights
            if method != "GET" or params.get("date_preset") != "last_7d" or params.get("fields") != "spend":
                return _error(100, "(#100) fields and date_preset=last_7d expected by this fake", "OAuthException")
            if ad_set.spend_7d == 0:
                return 200, {"data": [], "paging": {"cursors": {}}}, {}
            return 200, {"data": [{"spend": f"{ad_set.spend_7d:.2f}", "date_start": "2026-11-25",
                                   "date_stop": "2026-12-01"}], "paging": {"cursors": {"before": "MAZDZD",
                                                                                        "after": "MAZDZD"}}}, {}
        if method == "GET":
            fields = [f for f in params.get("fields", "id").split(",") if f]
            effective = ad_set.status
            every = {"id": ad_set.id, "status": ad_set.status, "effective_status": effective,
                     "daily_budget": ad_set.daily_budget,
                     "updated_time": ad_set.updated_time.strftime("%Y-%m-%dT%H:%M:%S+0000")
                     if ad_set.updated_time else None}
            unknown = [f for f in fields if f not in every]
            if unknown:
                return _error(100, f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type (AdSet)",
                              "OAuthException")
            return 200, {f: every[f] for f in [*fields, "id"]}, {}
        wanted = params.get("status")
        if wanted not in ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED"):
            return _error(100, "(#100) Param status must be one of {ACTIVE, PAUSED, DELETED, ARCHIVED}",
                          "OAuthException")
        self._touch(ad_set, "api", wanted)
        return 200, {"success": True}, {}


def _error(code: int, message: str, kind: str, *, subcode: int | None = None) -> tuple[int, Any, dict[str, str]]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_urlsafe(8)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return 400, {"error": error}, {}
