"""Configuration from the environment (STOCKPILOT_*), with defaults that run on a laptop."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = f"sqlite:///{Path('stockpilot.db').resolve()}"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    reservation_ttl_seconds: int = 30 * 60
    max_reservation_ttl_seconds: int = 7 * 24 * 3600
    expiry_sweep_seconds: float = 5.0
    db_pool_size: int = 10
    # Replenishment and purchasing
    oversell_window_seconds: float = 10.0  # signals for one supplier within this window share one PO; 0: at once
    ack_reminder_hours: float = 24.0  # a sent PO not acknowledged by then alerts staff
    ack_deadline_hours: float = 48.0  # ... and by then is cancelled and re-routed to the next supplier
    smtp_url: str | None = None  # smtp://host:port, smtp://user:pass@host:port, smtps://user:pass@host:465
    mail_from: str = "purchasing@stockpilot.invalid"
    buyer_name: str = "Stockpilot"
    buyer_address: str = ""  # lines separated by "|"
    public_url: str = "http://127.0.0.1:8000"  # where suppliers reach the acknowledge link
    secret_key: str | None = None  # signs acknowledge links; generated and kept in the database when unset
    edi_dir: str = "./edi-outbox"  # where X12 850 files are dropped for suppliers without their own folder
    edi_sender_id: str = "STOCKPILOT"
    alert_email: str | None = None  # staff address for escalations (a PO nobody acknowledged)
    supplier_weights: str = ""  # e.g. "lead_time=0.4,fill_rate=0.3,unit_cost=0.2,channel=0.1"
    service_level: float = 0.95
    target_cover_days: float = 30.0  # order up to lead time + this many days of demand
    plan_every_hours: float = 24.0  # how often workers recompute demand and policies
    service_by_class: str = ""  # e.g. "A=0.98,B=0.95,C=0.90": plan by ABC class of annual value (a SKU's own wins)
    ordering_cost: float | None = None  # cost of placing one PO; with holding_rate, order quantities use EOQ
    holding_rate: float | None = None  # yearly holding cost as a fraction of unit cost (e.g. 0.25)
    waitlist_over_notify: float = 0.2  # a back-in-stock wave tells ceil(available x (1 + this)) waiting people
    waitlist_wave_minutes: float = 60.0  # then the next wave, only if units remain
    # Ads (services/ads.py): pause ad sets whose products are all unsellable, resume what Stockpilot paused
    ads_resume_threshold: int = 2  # resume once some advertised SKU has at least this many units to sell ...
    ads_resume_hold_minutes: float = 15.0  # ... continuously for this long (a count hovering at 0/1 never flaps)
    ads_backorders_keep_running: bool = True  # a SKU buyers may still backorder keeps its ads running
    meta_access_token: str | None = None  # Marketing API token with ads_management; unset: Meta actions fail
    meta_app_secret: str | None = None  # adds appsecret_proof to every call when set
    meta_graph_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    google_ads_developer_token: str | None = None
    google_ads_access_token: str | None = None  # a fixed OAuth 2.0 access token (tests; tokens expire in an hour)
    google_ads_client_id: str | None = None  # ... or an OAuth client and a refresh token: renewed as needed
    google_ads_client_secret: str | None = None
    google_ads_refresh_token: str | None = None
    google_ads_token_url: str = "https://oauth2.googleapis.com/token"
    google_ads_login_customer_id: str | None = None  # the manager account, when reaching clients through one
    google_ads_url: str = "https://googleads.googleapis.com"
    google_ads_api_version: str = "v18"
    # Staff alerts and customer backorder notices (docs/notifications.md)
    alert_routes: Any = ""  # TOML [[alert_routes]] tables, or the same as JSON text: kinds/tags/suppliers -> urls
    alert_merge_minutes: float = 15.0  # the same alert for the same subject within this window: one "N more" summary
    alert_digest_minutes: float = 60.0  # low-priority alerts wait for one digest per destination this often
    alert_digest_kinds: str = "low_stock"  # kinds that always go to the digest (comma-separated)
    alert_replay_days: float = 7.0  # alert keys are kept this long (replays recognised); older events alert nothing
    twilio_api_url: str = "https://api.twilio.com"  # Twilio's REST base (a regional edge, or a loopback fake)
    backorder_notices: bool = True  # email customers when their order is backordered, re-dated, shipped
    backorder_eta_margin_days: int = 2  # an ETA moving by more than this many days sends an update
    # Channels, outbound (available-to-sell pushes)
    channel_push_window_seconds: float = 0.2  # a burst for one SKU: at most one push per channel per window
    # 0015: a push batch opened on a quiet channel waits this long for the rest of a burst (a 400-line receipt is
    # read by the consumer 100 events at a time) before it goes out; later batches wait for the window anyway.
    channel_push_gather_seconds: float = 0.05
    channel_push_max_attempts: int = 30  # failed pushes back off exponentially (cap 1 h); throttling is not counted
    channel_http_timeout_seconds: float = 10.0
    # Waitlist contacts (services/waitlist.py, waitlist_waves.py)
    waitlist_double_opt_in: bool = False  # new entries wait for a click on a signed confirmation link
    waitlist_cap_messages: int = 3  # at most this many back-in-stock messages per contact (0: no cap) ...
    waitlist_cap_days: float = 7.0  # ... within this many days, over every SKU
    waitlist_quiet_hours: str = ""  # e.g. "21:00-08:00" in the contact's time zone: notices wait for its end
    waitlist_default_timezone: str = "UTC"  # for contacts who gave none
    waitlist_form_frame_ancestors: str = "*"  # who may embed /waitlist/form (CSP frame-ancestors): your shop
    waitlist_sms_url: str | None = None  # twilio://AccountSID:AuthToken@FromPhone: texts (waitlist, backorders)
    # Waitlist signup abuse limits, per process (entrypoints/api/signup_limits.py); a burst of 0 turns one off
    waitlist_ip_burst: int = 10  # signups one client address may make through the form at once ...
    waitlist_ip_per_hour: float = 20.0  # ... refilled at this rate
    waitlist_sku_burst: int = 300  # signups for one SKU at once (form and API) ...
    waitlist_sku_per_minute: float = 60.0  # ... refilled at this rate
    # Channels, inbound: webhook subscription health (services/channel_subscriptions.py)
    subscription_check_minutes: float = 60.0  # how often every store's webhook subscriptions are checked

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then the config file, then STOCKPILOT_* variables, then `overrides` (each wins over the last).

        Every field is a setting: `oversell_window_seconds` is STOCKPILOT_OVERSELL_WINDOW_SECONDS in the
        environment and `oversell_window_seconds = 10` in the TOML file named by STOCKPILOT_CONFIG (default
        ./stockpilot.toml, if present).
        """
        env = os.environ
        values: dict[str, object] = {}
        path = Path(env.get("STOCKPILOT_CONFIG", "stockpilot.toml"))
        if path.is_file():
            with path.open("rb") as handle:
                try:
                    loaded = tomllib.load(handle)
                except tomllib.TOMLDecodeError as exc:
                    raise ConfigError(f"{path}: {exc}") from None
            unknown = set(loaded) - {f.name for f in fields(cls)}
            if unknown:
                raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
            values.update({k: _coerce(cls, k, v, f"{path}: {k}") for k, v in loaded.items()})
        elif "STOCKPILOT_CONFIG" in env:
            raise ConfigError(f"STOCKPILOT_CONFIG={path}: no such file")
        for f in fields(cls):
            name = f"STOCKPILOT_{f.name.upper()}"
            if name in env:
                values[f.name] = _coerce(cls, f.name, env[name], name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable or file and key."""


def _coerce(cls: type[Settings], name: str, raw: object, where: str) -> object:
    kind = next(f.type for f in fields(cls) if f.name == name)
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    text = str(raw).strip()
    try:
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
        if kind.startswith("bool"):
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("1", "true", "yes")
    except ValueError:
        raise ConfigError(f"{where}: expected {kind.split(' ')[0]}, got {raw!r}") from None
    return text if kind.startswith("str") else raw
