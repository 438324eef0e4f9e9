"""Abuse limits on waitlist signups: per client address (the anonymous embeddable form) and per SKU (the form and
`POST /api/v1/waitlist`), answered with 429, `Retry-After` and the reason.

State is in memory, per process (domain/rate_limit.py): a restart forgets it, and N API processes admit up to N
times the limit. That is enough to stop a script from filling a list in seconds; it is not an accounting of
signups. The client address is `request.client.host`, which uvicorn takes from `X-Forwarded-For` only when the
proxy is one it trusts (`FORWARDED_ALLOW_IPS`, default the loopback addresses): behind a proxy on another host,
set it, or every visitor shares the proxy's address and one bucket. IPv6 clients are limited per /64, the block
one host can rotate through freely.

The API's per-address limit is not applied: its callers hold an API token, and a shop's back end relaying every
customer's signup from one server would be refused by it.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from dataclasses import dataclass

from starlette.requests import Request

from stockpilot.config import ConfigError, Settings
from stockpilot.domain.rate_limit import KeyedLimit


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # whole seconds, at least 1
    reason: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class SignupLimits:
    def __init__(self, settings: Settings) -> None:
        try:
            self.by_address = KeyedLimit(settings.waitlist_ip_burst, settings.waitlist_ip_per_hour / 3600)
            self.by_sku = KeyedLimit(settings.waitlist_sku_burst, settings.waitlist_sku_per_minute / 60)
        except ValueError as exc:
            raise ConfigError(f"waitlist_ip_burst / _per_hour / waitlist_sku_burst / _per_minute: {exc}") from None
        self._lock = threading.Lock()  # sync routes run on a thread pool

    def address(self, request: Request, now: float) -> Refusal | None:
        key = client_key(request)
        with self._lock:
            wait = self.by_address.wait(key, now)
        return _refusal(wait, "too many signups from your network") if wait else None

    def sku(self, sku: str, now: float) -> Refusal | None:
        with self._lock:
            wait = self.by_sku.wait(sku, now)
        return _refusal(wait, f"too many signups for {sku} just now") if wait else None


def limits(request: Request) -> SignupLimits:
    """The app's limits (made with the app by api/app.py: one per app, so one per process)."""
    return request.app.state.waitlist_limits  # type: ignore[no-any-return]


def client_key(request: Request) -> str:
    host = request.client.host if request.client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is that IPv4 client
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _refusal(wait: float, reason: str) -> Refusal:
    seconds = max(1, math.ceil(wait))
    return Refusal(seconds, f"{reason}: try again in {seconds} s")
