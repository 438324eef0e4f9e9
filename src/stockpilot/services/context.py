"""What every use case needs: the database, the injected clock and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from stockpilot.adapters.db.database import Database
from stockpilot.config import Settings
from stockpilot.domain.clock import Clock


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock
    settings: Settings
