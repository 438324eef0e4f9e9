"""Secrets the service makes for itself on first use and keeps in its database (e.g. the ack-link signing key)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, select

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import app_secrets


def app_secret(conn: Connection, name: str, now: datetime) -> str:
    """The named secret; created once. Concurrent first uses agree: the loser of the insert reads the winner's."""
    conn.execute(
        insert_or_ignore(conn, app_secrets)
        .values(name=name, value=secrets.token_urlsafe(32), created_at=now)
        .on_conflict_do_nothing()
    )
    return conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == name)).scalar_one()
