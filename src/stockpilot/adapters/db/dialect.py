"""The INSERT construct with ON CONFLICT support for the connection's database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def insert_or_ignore(conn: Connection, table: Table) -> Any:
    """An INSERT that can be given `.on_conflict_do_nothing()` / `.on_conflict_do_update()`."""
    return pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)
