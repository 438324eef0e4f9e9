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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("STOCKPILOT_DATABASE_URL", DEFAULT_DATABASE_URL),
            "reservation_ttl_seconds": int(env.get("STOCKPILOT_RESERVATION_TTL_SECONDS", 30 * 60)),
            "expiry_sweep_seconds": float(env.get("STOCKPILOT_EXPIRY_SWEEP_SECONDS", 5.0)),
            "db_pool_size": int(env.get("STOCKPILOT_DB_POOL_SIZE", 10)),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
