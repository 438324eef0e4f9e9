"""PostgreSQL's own deadlock counter around a race test: it must not move."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from stockpilot.bootstrap import Stockpilot


def deadlocks(url: str) -> int:
    """The database's deadlock count, once every other backend of it has exited (a backend flushes its pending
    statistics on exit, and pg_stat counters are otherwise updated asynchronously)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + 30  # a bound on waiting, not a timing assertion
            while time.monotonic() < deadline and conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")).scalar_one():
                time.sleep(0.05)
                conn.rollback()
            seen: list[int] = []
            while len(seen) < 3 or len(set(seen[-3:])) > 1:  # settled: three equal reads in a row
                conn.execute(text("SELECT pg_stat_clear_snapshot()"))
                seen.append(int(conn.execute(text("SELECT deadlocks FROM pg_stat_database "
                                                  "WHERE datname = current_database()")).scalar_one()))
                conn.rollback()
                time.sleep(0.1)
            return seen[-1]
    finally:
        engine.dispose()


@contextmanager
def no_new_deadlocks(db_url: str, build_app: Callable[[], Stockpilot]) -> Iterator[Stockpilot]:
    """The app built by `build_app`, closed after the block; then, on PostgreSQL, the database's deadlock counter
    must be where it was before the app was built (SQLite has one writer: nothing to count)."""
    postgres = db_url.startswith("postgresql")
    before = deadlocks(db_url) if postgres else 0
    sp = build_app()
    try:
        yield sp
    finally:
        sp.close()
    if postgres:
        assert deadlocks(db_url) - before == 0
