"""The claim step shared by the outbox dispatcher and the timer runner.

A claim is one short write transaction: select the due rows nobody holds a live lease on, oldest first, and stamp
them with a lease (`leased_by`, `leased_until`). On PostgreSQL the select is `FOR UPDATE SKIP LOCKED`, so concurrent
workers each take different rows instead of queueing behind one another's locks; a row whose lease another worker
committed a moment ago is re-checked by PostgreSQL against the committed version and left out. On SQLite, writers are
serialised by `Database.write` (BEGIN IMMEDIATE plus a mutex), so the same select without the locking clause is safe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, or_, update


def due_and_unleased(table: Table, now: datetime) -> Any:
    """A row nobody holds a live lease on."""
    return or_(table.c.leased_until.is_(None), table.c.leased_until < now)


def claim_rows(
    conn: Connection, table: Table, query: Select[Any], *, worker_id: str, lease_until: datetime
) -> list[Any]:
    """Run `query` (already filtered, ordered and limited) with row locks where the database has them, then lease."""
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if rows:
        conn.execute(
            update(table)
            .where(table.c.id.in_([row.id for row in rows]))
            .values(leased_by=worker_id, leased_until=lease_until)
        )
    return rows
