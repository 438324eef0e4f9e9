"""The channel registry: the stores Stockpilot takes webhooks from (and will push counts to)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stockpilot.adapters.channels.bigcommerce import default_api_url
from stockpilot.adapters.channels.sp_api import DEFAULT_API_URL, DEFAULT_LWA_URL
from stockpilot.adapters.db import amazon_store, catalog_store, channel_store
from stockpilot.domain.errors import Conflict, NotFound, ValidationFailed
from stockpilot.domain.webhook_signatures import standard_secret_key
from stockpilot.services.amazon_schedule import schedule_poll
from stockpilot.services.context import Context

KINDS = ("shopify", "woocommerce", "bigcommerce", "standard", "amazon")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_STORE_HASH = re.compile(r"^[a-z0-9]{1,64}$")


def webhook_path(kind: str, name: str) -> str:
    """The path to give the platform.

    Shopify: one path for every store, because an app's webhook subscriptions (shopify.app.toml) share one URI
    across all the shops that install it; `X-Shopify-Shop-Domain` says which store it is. The other platforms
    take a delivery URL per hook, so the store's name goes in the path (WooCommerce also resolves
    `/webhooks/woocommerce` by `X-WC-Webhook-Source`, BigCommerce `/webhooks/bigcommerce` by the payload's
    `producer`; the Standard Webhooks headers do not name a store at all).
    """
    if kind == "amazon":
        return ""  # polled (services/amazon_polling.py): nothing to give the platform
    return "/webhooks/shopify" if kind == "shopify" else f"/webhooks/{kind}/{name}"


def normalise_shop_domain(value: str) -> str:
    host = urlsplit(value if "://" in value else f"https://{value}").hostname or ""
    if not host or "." not in host:
        raise ValidationFailed(f"shop domain must look like example.myshopify.com, got {value!r}")
    return host.lower()


def normalise_site_url(value: str) -> str:
    """Scheme and host lower-cased, no trailing slash: how X-WC-Webhook-Source (home_url('/')) is compared."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(f"site URL must be http(s)://host[/path], got {value!r}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}{parts.path.rstrip('/')}"


def describe_channel(row: dict[str, Any]) -> dict[str, Any]:
    """The public view: everything but the secret and the API token."""
    return {
        "name": row["name"], "kind": row["kind"], "shop_domain": row["shop_domain"], "site_url": row["site_url"],
        "store_hash": row["store_hash"], "api_url": row["api_url"], "has_api_token": bool(row["api_token"]),
        "buffer": row["buffer"], "buffer_percent": row["buffer_percent"], "location": row["location"],
        "active": row["active"],
        "webhook_path": webhook_path(row["kind"], row["name"]), "created_at": row["created_at"].isoformat(),
    }


class ChannelService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, kind: str, name: str, *, secret: str, shop_domain: str | None = None,
            site_url: str | None = None, store_hash: str | None = None, api_url: str | None = None,
            api_token: str | None = None, buffer: int = 0, location: str | None = None,
            amazon: dict[str, Any] | None = None, buffer_percent: int = 0) -> dict[str, Any]:
        """`amazon`: seller_id, marketplace_id, lwa_client_id and optionally lwa_url, poll_seconds (kind amazon:
        `secret` is the LWA client secret, `api_token` the refresh token, `api_url` the SP-API endpoint).
        `buffer_percent`: outbound, hold back that share of available (the larger of it and `buffer` wins)."""
        values = _validated(kind, name, secret, shop_domain, site_url, store_hash, api_url, api_token, buffer)
        if type(buffer_percent) is not int or not 0 <= buffer_percent <= 100:
            raise ValidationFailed(f"buffer percent must be an integer 0..100, got {buffer_percent!r}")
        values["location"] = location
        account = amazon_account(kind, values, amazon)
        values["buffer_percent"] = buffer_percent

        def work(conn: Connection) -> dict[str, Any]:
            if location is not None and catalog_store.location_ref(conn, location) is None:
                raise NotFound(f"unknown location {location!r}", location=location)
            for column in ("name", "shop_domain", "site_url", "store_hash"):
                if values.get(column) and channel_store.channel_where(conn, **{column: values[column]}):
                    raise Conflict(f"a channel with {column} {values[column]!r} already exists")
            channel_id = channel_store.insert_channel(conn, values, self.ctx.clock.now())
            row = channel_store.channel_where(conn, name=values["name"])
            assert row is not None
            if account is not None:
                amazon_store.insert_account(conn, {**account, "channel_id": channel_id})
                now = self.ctx.clock.now()
                schedule_poll(conn, row["name"], now, now)  # the first poll at once, then every poll_seconds
            return describe_channel(row)

        try:
            return self.ctx.db.write(work)
        except IntegrityError:  # a concurrent add of the same store won
            raise Conflict(f"channel {name!r} (or its store) already exists") from None

    def list(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            return [describe_channel(row) for row in channel_store.list_channels(conn)]

    def get(self, name: str) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            row = channel_store.channel_where(conn, name=name)
        if row is None:
            raise NotFound(f"unknown channel {name!r}")
        return describe_channel(row)


def _validated(kind: str, name: str, secret: str, shop_domain: str | None, site_url: str | None,
               store_hash: str | None, api_url: str | None, api_token: str | None, buffer: int) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationFailed("name must be 1-64 of a-z, 0-9, '-' and '_', starting with a letter or digit")
    if not isinstance(secret, str) or not secret.strip():
        raise ValidationFailed("secret is required: it verifies the store's webhooks")
    if type(buffer) is not int or buffer < 0:
        raise ValidationFailed(f"buffer must be a non-negative integer, got {buffer!r}")
    given = {"shop_domain": shop_domain, "site_url": site_url, "store_hash": store_hash}
    allowed = {"shopify": "shop_domain", "woocommerce": "site_url", "bigcommerce": "store_hash", "standard": None,
               "amazon": None}
    for field_name, value in given.items():
        if value is not None and allowed[kind] != field_name:
            raise ValidationFailed(f"{field_name} does not apply to a {kind} channel")
    values: dict[str, Any] = {"kind": kind, "name": name, "secret": secret.strip(), "buffer": buffer,
                              "api_url": api_url, "api_token": api_token, "active": True}
    if kind == "shopify":
        if not shop_domain:
            raise ValidationFailed("a shopify channel needs --shop-domain (e.g. example.myshopify.com)")
        values["shop_domain"] = normalise_shop_domain(shop_domain)
    if kind == "woocommerce" and site_url:
        values["site_url"] = normalise_site_url(site_url)
    if kind == "bigcommerce":
        if not store_hash or not _STORE_HASH.match(store_hash.strip().lower()):
            raise ValidationFailed("a bigcommerce channel needs --store-hash (the letters after /stores/)")
        values["store_hash"] = store_hash.strip().lower()
        if not api_token:
            raise ValidationFailed("a bigcommerce channel needs --api-token: its webhooks only name the order")
        values["api_url"] = (api_url or default_api_url(values["store_hash"])).rstrip("/")
    if kind == "amazon":
        if not api_token:
            raise ValidationFailed("an amazon channel needs --refresh-token (the seller's LWA refresh token)")
        values["api_url"] = (api_url or DEFAULT_API_URL).rstrip("/")
    if api_url and urlsplit(api_url).scheme not in ("http", "https"):
        raise ValidationFailed(f"api URL must be http(s), got {api_url!r}")
    if kind == "standard":
        try:
            standard_secret_key(values["secret"])
        except ValueError as exc:
            raise ValidationFailed(str(exc)) from None
    return values


_AMAZON_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


def amazon_account(kind: str, values: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any] | None:
    """The amazon_accounts row of a new Amazon channel (validated), or None for other kinds."""
    if kind != "amazon":
        if given:
            raise ValidationFailed(f"seller / marketplace / LWA options do not apply to a {kind} channel")
        return None
    given = given or {}
    for option in ("seller_id", "marketplace_id", "lwa_client_id"):
        value = given.get(option)
        if not isinstance(value, str) or not value.strip():
            raise ValidationFailed(f"an amazon channel needs --{option.replace('_', '-')}")
    for option in ("seller_id", "marketplace_id"):
        if not _AMAZON_ID.match(given[option].strip()):
            raise ValidationFailed(f"{option} must be letters and digits, got {given[option]!r}")
    lwa_url = (given.get("lwa_url") or DEFAULT_LWA_URL).strip()
    if urlsplit(lwa_url).scheme not in ("http", "https"):
        raise ValidationFailed(f"LWA URL must be http(s), got {lwa_url!r}")
    poll_seconds = given.get("poll_seconds") or 300
    if type(poll_seconds) is not int or poll_seconds < 1:
        raise ValidationFailed(f"poll seconds must be a positive integer, got {poll_seconds!r}")
    return {"seller_id": given["seller_id"].strip(), "marketplace_id": given["marketplace_id"].strip(),
            "lwa_client_id": given["lwa_client_id"].strip(), "lwa_url": lwa_url, "poll_seconds": poll_seconds}
