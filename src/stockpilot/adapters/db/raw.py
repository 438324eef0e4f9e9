"""Statements on the bare DB-API cursor, inside a SQLAlchemy Connection's transaction: the hot path.

SQLAlchemy Core costs ~15-25 µs a statement (compiled cache lookup, parameter processing, result wrapping);
sqlite3 runs an indexed SELECT in ~2 µs. The few statements of a reservation therefore run here, pre-rendered
per dialect, with values formatted by hand exactly as the column types would (UtcDateTime, JSON). They share
the Connection's DB-API connection, so they are part of its transaction, and they keep SQLAlchemy's contract
where it matters: `before_cursor_execute` listeners see them, and driver errors are raised as the same
`sqlalchemy.exc` classes (IntegrityError, OperationalError, ... with `.orig`), so retry and replay logic
cannot tell the difference. Everything else stays on Core.

Inside `deferring(conn)` (PostgreSQL), a statement whose answer nobody reads (`defer`: a savepoint, an event row,
order lines) is not sent on its own: it goes in one pipeline with the next statement that needs an answer (or
before the next Core statement, or at the end of the block), so it costs no round trip of its own. Order is kept;
a deferred statement's error is raised by the statement it travelled with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, event
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
    waiting = conn.info.get(_DEFERRED)
    if waiting:
        return _pipelined(conn, waiting, (statement, params))
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    if conn.dispatch.before_cursor_execute:
        for listener in conn.dispatch.before_cursor_execute:
            statement, params = listener(conn, cursor, statement, params, None, False)
    try:
        cursor.execute(statement, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, cursor, statement, params, exc) from exc
    return cursor


_DEFERRED = "stockpilot.raw.deferred"  # Connection.info: the statements waiting to be sent, while deferring


@contextmanager
def deferring(conn: Connection) -> Iterator[None]:
    """A block in which `defer` holds statements back to share the next round trip (PostgreSQL with pipeline
    support; elsewhere, and when already deferring, `defer` simply runs them). Whatever is still held at the end
    is sent then; if the block raises, it is dropped (the caller's transaction is failing anyway)."""
    if conn.dialect.name != "postgresql" or _DEFERRED in conn.info or not _pipeline_supported(conn):
        yield
        return
    conn.info[_DEFERRED] = []
    event.listen(conn, "before_execute", _before_core)
    try:
        yield
        flush(conn)
    finally:
        event.remove(conn, "before_execute", _before_core)
        conn.info.pop(_DEFERRED, None)


def defer(conn: Connection, sql: Sql, params: Sequence[Any] = ()) -> None:
    """Run `sql`, whose answer is not needed, with the next round trip when deferring; at once otherwise."""
    waiting = conn.info.get(_DEFERRED)
    if waiting is None:
        execute(conn, sql, params)
    else:
        waiting.append((sql.postgresql, params))


def defer_many(conn: Connection, sql: Sql, rows: Sequence[Sequence[Any]]) -> None:
    """`defer` for several rows of one statement (executemany when not deferring)."""
    waiting = conn.info.get(_DEFERRED)
    if waiting is not None:
        waiting.extend((sql.postgresql, row) for row in rows)
    elif len(rows) == 1:
        execute(conn, sql, rows[0])
    elif rows:
        executemany(conn, sql, rows)


def drop_deferred_from(conn: Connection, sql: Sql) -> bool:
    """Forget the newest deferred `sql` and everything deferred after it: True if it was still held (so none of it
    reached the database). False if it was not: everything held came after it and is forgotten too."""
    waiting = conn.info.get(_DEFERRED)
    if not waiting:
        return False
    for index in range(len(waiting) - 1, -1, -1):
        if waiting[index][0] == sql.postgresql:
            del waiting[index:]
            return True
    waiting.clear()
    return False


def flush(conn: Connection) -> None:
    """Send what is deferred now (one round trip)."""
    waiting = conn.info.get(_DEFERRED)
    if waiting:
        _pipelined(conn, waiting, None)


def _before_core(conn: Connection, *_args: Any) -> None:
    flush(conn)  # a Core statement must come after what was deferred before it


def _pipelined(conn: Connection, waiting: list[tuple[str, Sequence[Any]]],
               last: tuple[str, Sequence[Any]] | None) -> Any:
    """The waiting statements, then `last`, in one pipeline; the cursor of `last` (results ready to fetch)."""
    batch = [*waiting, last] if last is not None else list(waiting)
    waiting.clear()  # sent or failed, they are not sent again
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = None
    statement, params = batch[-1]
    try:
        with dbapi.pipeline():  # type: ignore[attr-defined]
            for statement, params in batch:
                cursor = dbapi.cursor()
                if conn.dispatch.before_cursor_execute:
                    for listener in conn.dispatch.before_cursor_execute:
                        statement, params = listener(conn, cursor, statement, params, None, False)
                cursor.execute(statement, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _translated(conn, cursor, statement, params, exc) from exc
    return cursor


@cache
def _pipeline_supported_by(dbapi: Any) -> bool:
    pipeline = getattr(dbapi, "Pipeline", None)  # psycopg 3 on libpq 14+
    return bool(pipeline is not None and pipeline.is_supported())


def _pipeline_supported(conn: Connection) -> bool:
    return _pipeline_supported_by(conn.dialect.loaded_dbapi)


def executemany(conn: Connection, sql: Sql, rows: Sequence[Sequence[Any]]) -> None:
    flush(conn)  # what was deferred goes first
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
