"""Configuration from the environment (STOCKPILOT_*), with defaults that run on a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("STOCKPILOT_DATABASE_URL", DEFAULT_DATABASE_URL),
            "reservation_ttl_seconds": int(env.get("STOCKPILOT_RESERVATION_TTL_SECONDS", 30 * 60)),
            "expiry_sweep_seconds": float(env.get("STOCKPILOT_EXPIRY_SWEEP_SECONDS", 5.0)),
            "db_pool_size": int(env.get("STOCKPILOT_DB_POOL_SIZE", 10)),
            "oversell_window_seconds": float(env.get("STOCKPILOT_OVERSELL_WINDOW_SECONDS", 10.0)),
            "ack_reminder_hours": float(env.get("STOCKPILOT_ACK_REMINDER_HOURS", 24.0)),
            "ack_deadline_hours": float(env.get("STOCKPILOT_ACK_DEADLINE_HOURS", 48.0)),
            "smtp_url": env.get("STOCKPILOT_SMTP_URL"),
            "mail_from": env.get("STOCKPILOT_MAIL_FROM", cls.mail_from),
            "buyer_name": env.get("STOCKPILOT_BUYER_NAME", cls.buyer_name),
            "buyer_address": env.get("STOCKPILOT_BUYER_ADDRESS", ""),
            "public_url": env.get("STOCKPILOT_PUBLIC_URL", cls.public_url),
            "secret_key": env.get("STOCKPILOT_SECRET_KEY"),
            "edi_dir": env.get("STOCKPILOT_EDI_DIR", cls.edi_dir),
            "edi_sender_id": env.get("STOCKPILOT_EDI_SENDER_ID", cls.edi_sender_id),
            "alert_email": env.get("STOCKPILOT_ALERT_EMAIL"),
            "supplier_weights": env.get("STOCKPILOT_SUPPLIER_WEIGHTS", ""),
            "service_level": float(env.get("STOCKPILOT_SERVICE_LEVEL", 0.95)),
            "target_cover_days": float(env.get("STOCKPILOT_TARGET_COVER_DAYS", 30.0)),
            "plan_every_hours": float(env.get("STOCKPILOT_PLAN_EVERY_HOURS", 24.0)),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
