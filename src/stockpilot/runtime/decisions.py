"""The explained decision log: each automated decision stores what it saw, what it could do, what it chose, and why.

`record` runs in the transaction that acts on the decision, so the log never claims a decision that did not happen.
Rows are append-only; `list_for` reads one subject's decisions in the order they were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from stockpilot.adapters.db.tables import decisions


@dataclass(frozen=True)
class Decision:
    id: int
    subject: str
    kind: str
    inputs: dict[str, Any]
    options: list[Any]
    choice: Any
    reason: str
    created_at: datetime


def record(
    conn: Connection,
    subject: str,
    kind: str,
    inputs: dict[str, Any],
    options: list[Any],
    choice: Any,
    reason: str,
    now: datetime,
) -> int:
    """Append one decision; returns its id. `choice` may be None (the decision was to do nothing)."""
    stmt = (
        insert(decisions)
        .values(
            subject=subject,
            kind=kind,
            inputs=inputs,
            options=options,
            choice=choice,
            reason=reason,
            created_at=now,
        )
        .returning(decisions.c.id)
    )
    return conn.execute(stmt).scalar_one()


def list_for(conn: Connection, subject: str, after: int = 0, limit: int = 100) -> list[Decision]:
    """One subject's decisions with id > `after`, oldest first (keyset pagination: pass the last id seen)."""
    rows = conn.execute(
        select(decisions)
        .where(decisions.c.subject == subject, decisions.c.id > after)
        .order_by(decisions.c.id)
        .limit(limit)
    )
    return [Decision(**dict(r._mapping)) for r in rows]
