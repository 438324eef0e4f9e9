"""Statements on the bare DB-API cursor, inside a SQLAlchemy Connection's transaction: the hot path.

SQLAlchemy Core costs ~15-25 µs a statement (compiled cache lookup, parameter processing, result wrapping);
sqlite3 runs an indexed SELECT in ~2 µs. The few statements of a reservation therefore run here, pre-rendered
per dialect, with values formatted by hand exactly as the column types would (UtcDateTime, JSON). They share
the Connection's DB-API connection, so they are part of its transaction, and they keep SQLAlchemy's contract
where it matters: `before_cursor_execute` listeners see them, and driver errors are raised as the same
`sqlalchemy.exc` classes (IntegrityError, OperationalError, ... with `.orig`), so retry and replay logic
cannot tell the difference. Everything else stays on Core.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


class Sql:
    """One statement, written once with `?` placeholders: sqlite3 takes it as is, psycopg with `%s`."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, sqlite: str, postgresql: str | None = None) -> None:
        self.sqlite = " ".join(sqlite.split())
        self.postgresql = " ".join((postgresql or sqlite).split()).replace("?", "%s")

    def text(self, conn: Connection) -> str:
        return self.postgresql if conn.dialect.name == "postgresql" else self.sqlite


def execute(conn: Connection, sql: Sql, params: Sequence[Any] = ()) -> Any:
    """Run `sql` in the Connection's transaction and return the driver cursor (fetch from it at once)."""
    statement = sql.postgresql if conn.dialect.name == "postgresql" else sql.sqlite
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if conn.dispatch.before_cursor_execute:
        for listener in conn.dispatch.before_cursor_execute:
            statement, params = listener(conn, cursor, statement, params, None, False)
    try:
        cursor.execute(statement, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, cursor, statement, params, exc) from exc
    return cursor


def executemany(conn: Connection, sql: Sql, rows: Sequence[Sequence[Any]]) -> None:
    statement = sql.postgresql if conn.dialect.name == "postgresql" else sql.sqlite
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if conn.dispatch.before_cursor_execute:
        for listener in conn.dispatch.before_cursor_execute:
            statement, rows = listener(conn, cursor, statement, rows, None, True)
    try:
        cursor.executemany(statement, rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, cursor, statement, rows, exc) from exc


def _translated(conn: Connection, cursor: Any, statement: str, params: Any, exc: Exception) -> DBAPIError:
    """The exception SQLAlchemy would have raised; a lost connection is invalidated as SQLAlchemy would."""
    dialect = conn.dialect
    disconnect = dialect.is_disconnect(exc, conn.connection.driver_connection, cursor)
    if disconnect:
        conn.invalidate(exc)
    return DBAPIError.instance(statement, params, exc, dialect.loaded_dbapi.Error, dialect=dialect,
                               connection_invalidated=disconnect)


def time_value(conn: Connection, value: datetime) -> Any:
    """A UtcDateTime bind value: timestamptz on PostgreSQL, naive UTC text (SQLAlchemy's format) on SQLite."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime for a UTC column: {value!r}")
    if conn.dialect.name == "postgresql":
        return value
    # Always six fraction digits: the text must sort like the time it encodes.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def time_result(value: Any) -> datetime | None:
    """A UtcDateTime column as read on the bare cursor: aware UTC, as the column type would return it."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def json_value(payload: Any) -> str:
    """A JSON bind value (json.dumps, as the JSON type does); psycopg sends str untyped, so json accepts it."""
    return json.dumps(payload)
