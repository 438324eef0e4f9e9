"""Engine set-up and transactions for SQLite (embedded default) and PostgreSQL (scale-out)."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from stockpilot.adapters.db import raw

T = TypeVar("T")

_WAKE_KEY = "stockpilot.wake"
_NOTIFY = text("SELECT pg_notify(:channel, '')")
_BEGIN_IMMEDIATE, _COMMIT, _ROLLBACK = raw.Sql("BEGIN IMMEDIATE"), raw.Sql("COMMIT"), raw.Sql("ROLLBACK")
_BUSY_TIMEOUT_MS = 60000
_NO_BUSY_WAIT, _BUSY_WAIT = raw.Sql("PRAGMA busy_timeout=0"), raw.Sql(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
_NO_WAIT: ContextVar[bool] = ContextVar("stockpilot_db_no_wait", default=False)

# PostgreSQL: serialization_failure, deadlock_detected. Both mean "run the whole transaction again".
_RETRYABLE_PG_CODES = {"40001", "40P01"}


def normalise_url(url: str) -> str:
    """Let users write postgresql:// and get psycopg 3, the driver we ship."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class WriterBusy(Exception):
    """A write inside `Database.without_waiting()` would have had to wait; nothing of it ran."""


class Database:
    """One engine plus the transaction discipline the core relies on.

    SQLite allows a single writer. Write transactions start with BEGIN IMMEDIATE (so a reader never has to
    upgrade its lock, the classic SQLITE_BUSY deadlock) and, inside one process, queue on a mutex instead of
    sleep-polling the file lock. Readers use WAL snapshots and never wait for writers.
    PostgreSQL runs READ COMMITTED; correctness comes from conditional updates, not from isolation level.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 60}
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            # No pre-ping: it costs a round trip per transaction; a dropped connection fails its transaction,
            # SQLAlchemy discards it, and recycling keeps idle ones from outliving server-side timeouts.
            kwargs["pool_recycle"] = 1800
        self.engine: Engine = create_engine(self.url, **kwargs)
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._writer: Connection | None = None
        # Called with the set of channels a committed write asked to wake (see request_wakeup).
        self.on_commit: Callable[[set[str]], None] | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on SQLite WAL; READ COMMITTED on PostgreSQL)."""
        with self.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn, conn.begin():
            yield conn

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Writes in this block raise WriterBusy instead of waiting, so an event loop can run them inline.

        SQLite: when the writer mutex is free and no other process holds the database's write lock, a short
        write runs at once (microseconds, in-process): cheaper than handing it to a thread. Otherwise, and always
        on PostgreSQL (every statement waits on the network), the caller hands the work to a thread.
        """
        token = _NO_WAIT.set(True)
        try:
            yield
        finally:
            _NO_WAIT.reset(token)

    def _write_postgres(self, work: Callable[[Connection], T], *, autocommit: bool = False) -> T:
        if _NO_WAIT.get():
            raise WriterBusy
        opened = (self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") if autocommit
                  else self.engine.begin())
        with opened as conn:
            try:
                result = work(conn)
            finally:
                wake = conn.info.pop(_WAKE_KEY, None)
        self._woken(wake)
        return result

    def _write_sqlite(self, work: Callable[[Connection], T]) -> T:
        """BEGIN IMMEDIATE .. COMMIT straight on the driver, on the one writer connection, under the mutex.

        The mutex admits one writer at a time, so one long-lived connection serves them all (no pool checkout,
        reset and return), and its transaction needs none of SQLAlchemy's bookkeeping: that halved the cost of
        a short write again. If `work` runs a Core statement, SQLAlchemy autobegins on top (the begin hook sees
        the open transaction and issues nothing) and then ends the transaction itself.
        """
        lock = self._write_lock
        assert lock is not None
        no_wait = _NO_WAIT.get()
        if not lock.acquire(blocking=not no_wait):
            raise WriterBusy
        try:
            if self._writer is None or self._writer.invalidated or self._writer.closed:
                self._writer = self.engine.connect()
            conn = self._writer
            try:
                if no_wait:
                    self._begin_now(conn)
                else:
                    raw.execute(conn, _BEGIN_IMMEDIATE)
                try:
                    result = work(conn)
                except BaseException:
                    if conn.in_transaction():
                        conn.rollback()
                    elif conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
                        raw.execute(conn, _ROLLBACK)  # (SQLite may have rolled back already)
                    raise
                if conn.in_transaction():
                    conn.commit()
                else:
                    raw.execute(conn, _COMMIT)
            finally:
                wake = conn.info.pop(_WAKE_KEY, None)
        finally:
            lock.release()
        self._woken(wake)
        return result

    @staticmethod
    def _begin_now(conn: Connection) -> None:
        """BEGIN IMMEDIATE, or WriterBusy if another process holds the write lock (instead of busy-waiting)."""
        raw.execute(conn, _NO_BUSY_WAIT)
        try:
            raw.execute(conn, _BEGIN_IMMEDIATE)
        except OperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise WriterBusy from exc
            raise
        finally:
            raw.execute(conn, _BUSY_WAIT)

    def _woken(self, wake: set[str] | None) -> None:
        # Reached only after a successful commit: wake local workers for the work just made visible.
        if wake and self.on_commit is not None:
            self.on_commit(wake)

    def write(self, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
        """Run `work` in one write transaction, re-running it whole after a deadlock or serialization failure.

        The conditional updates need no retry to be correct; this only covers rare lock-order cycles
        (e.g. lazily expiring another cart's multi-SKU reservation) that PostgreSQL breaks by aborting one side.
        """
        return self._retrying(self._write_sqlite if self.is_sqlite else self._write_postgres, work, attempts)

    def write_statements(self, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
        """As `write`, for work whose every statement is complete by itself (nothing to roll back together).

        PostgreSQL runs them in autocommit: each statement is its own transaction, one round trip, where a
        transaction costs three (BEGIN, the statement, COMMIT; psycopg waits for each). A NOTIFY must be part of
        the statement that needs it (it is heard when that statement commits). Like `write`, the work is re-run
        whole after a deadlock, so a statement before the failing one would run twice: give it one statement
        that writes (or only idempotent ones). SQLite: `write` (its BEGIN and COMMIT are in-process).
        """
        return self._retrying(self._write_sqlite if self.is_sqlite
                              else functools.partial(self._write_postgres, autocommit=True), work, attempts)

    def _retrying(self, run: Callable[[Callable[[Connection], T]], T], work: Callable[[Connection], T],
                  attempts: int) -> T:
        for attempt in range(1, attempts + 1):
            try:
                return run(work)
            except DBAPIError as exc:
                if attempt == attempts or not self._retryable(exc):
                    raise
                time.sleep(min(0.001 * 2**attempt, 0.1))
        raise AssertionError("unreachable")

    def _retryable(self, exc: DBAPIError) -> bool:
        if self.is_sqlite:
            return isinstance(exc, OperationalError) and "locked" in str(exc.orig)
        code = getattr(exc.orig, "sqlstate", None)
        return code in _RETRYABLE_PG_CODES

    def dispose(self) -> None:
        if self._write_lock is not None:
            with self._write_lock:
                if self._writer is not None:
                    self._writer.close()
                    self._writer = None
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so the "begin" hook below decides how to BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
            return  # Database.write began it on the driver (BEGIN IMMEDIATE)
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


EVENTS_CHANNEL = "stockpilot_events"  # domain events were written: this process's event consumers look at once


def request_local_wakeup(conn: Connection, channel: str) -> None:
    """As request_wakeup, for waiters in this process only: no NOTIFY, so it costs nothing on a hot path (other
    processes find the work on their next poll)."""
    conn.info.setdefault(_WAKE_KEY, set()).add(channel)


def request_wakeup(conn: Connection, channel: str) -> None:
    """Ask for `channel` to be signalled when this transaction commits (and never if it rolls back).

    In-process waiters hear it through `Database.on_commit`; on PostgreSQL other processes hear it via NOTIFY,
    which PostgreSQL delivers only on commit and merges when repeated within one transaction.
    """
    conn.info.setdefault(_WAKE_KEY, set()).add(channel)
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": channel})
