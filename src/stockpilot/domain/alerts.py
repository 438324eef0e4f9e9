"""Staff alert rules, pure: alert kinds, routing rules (kind / SKU tag / supplier -> Apprise URLs), redaction.

A route matches an alert when every criterion it names matches (a criterion left out matches anything): its kind is
one of `kinds`, the SKU carries one of `tags`, the supplier is one of `suppliers`. Every matching route contributes
its URLs; a route with `digest = true` batches what it receives into the periodic digest instead of sending at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

OVERSELL = "oversell"
LOW_STOCK = "low_stock"
ESCALATION = "escalation"  # a sent PO nobody acknowledged
PO_FAILED = "po_failed"  # a PO the outbox could not deliver (re-routed)
DELIVERY_DEAD = "delivery_dead"  # any other outbox delivery that gave up
KINDS = (OVERSELL, LOW_STOCK, ESCALATION, PO_FAILED, DELIVERY_DEAD)

STAFF_EMAIL = "stockpilot-staff-email:"  # the built-in destination: STOCKPILOT_ALERT_EMAIL over STOCKPILOT_SMTP_URL
# What reaches the staff address when no route matches: the escalations it always received (oversells and low stock
# need a route, so a shop that only set STOCKPILOT_ALERT_EMAIL gets no new kinds of mail).
FALLBACK_KINDS = frozenset({ESCALATION, PO_FAILED, DELIVERY_DEAD})


class RouteError(ValueError):
    """An alert route that cannot be used; the message names the route (1-based) and field."""


@dataclass(frozen=True)
class AlertRoute:
    urls: tuple[str, ...]
    kinds: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    suppliers: frozenset[str] = frozenset()
    digest: bool = False

    def matches(self, kind: str, tags: Iterable[str], supplier: str | None) -> bool:
        return ((not self.kinds or kind in self.kinds)
                and (not self.tags or bool(self.tags & set(tags)))
                and (not self.suppliers or (supplier is not None and supplier.upper() in self.suppliers)))


@dataclass(frozen=True)
class Destination:
    url: str
    digest: bool

    @property
    def id(self) -> str:
        return destination_id(self.url)


def parse_routes(raw: Any) -> list[AlertRoute]:
    """Routes from the setting: a list of tables (TOML), JSON text of the same, or empty."""
    if raw in (None, "", []):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RouteError(f"alert_routes: not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(raw, list):
        raise RouteError("alert_routes: expected a list of routes")
    return [_route(i, item) for i, item in enumerate(raw, start=1)]


def _route(number: int, item: Any) -> AlertRoute:
    where = f"alert_routes[{number}]"
    if not isinstance(item, dict):
        raise RouteError(f"{where}: expected a table with urls (and kinds, tags, suppliers, digest)")
    unknown = set(item) - {"urls", "kinds", "tags", "suppliers", "digest"}
    if unknown:
        raise RouteError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    urls = _strings(item.get("urls"), f"{where}.urls")
    if not urls:
        raise RouteError(f"{where}.urls: at least one Apprise URL is needed")
    for url in urls:
        if "://" not in url:
            raise RouteError(f"{where}.urls: {redact(url)!r} is not a URL (scheme://...)")
    kinds = _strings(item.get("kinds"), f"{where}.kinds")
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise RouteError(f"{where}.kinds: unknown kind(s) {', '.join(bad)}; known: {', '.join(KINDS)}")
    digest = item.get("digest", False)
    if not isinstance(digest, bool):
        raise RouteError(f"{where}.digest: expected true or false")
    return AlertRoute(urls=tuple(urls), kinds=frozenset(kinds),
                      tags=frozenset(t.lower() for t in _strings(item.get("tags"), f"{where}.tags")),
                      suppliers=frozenset(s.upper() for s in _strings(item.get("suppliers"), f"{where}.suppliers")),
                      digest=digest)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RouteError(f"{where}: expected a list of non-empty strings")
    return [v.strip() for v in value]


def destinations(routes: list[AlertRoute], kind: str, tags: Iterable[str], supplier: str | None, *,
                 low_priority: bool, fallback: str | None) -> list[Destination]:
    """Where one alert goes: each URL once (immediate wins over digest), or the fallback when no route matches."""
    tags = {t.lower() for t in tags}
    chosen: dict[str, bool] = {}
    for route in routes:
        if route.matches(kind, tags, supplier):
            for url in route.urls:
                chosen[url] = chosen.get(url, True) and (route.digest or low_priority)
    if not chosen and fallback:
        chosen[fallback] = low_priority
    return [Destination(url, digest) for url, digest in chosen.items()]


def destination_id(url: str) -> str:
    """A stable name for a destination that reveals nothing of it: outbox rows carry this, never the credentials."""
    return hashlib.sha256(url.encode()).hexdigest()[:20]


def redact(url: str) -> str:
    """A URL fit for logs and decisions: credentials and query values hidden, host and path kept."""
    if url == STAFF_EMAIL:
        return "staff email (STOCKPILOT_ALERT_EMAIL)"
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    query = "&".join(f"{pair.split('=', 1)[0]}=***" for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
