"""raw.deferring: statements whose answer nobody reads travel with the next one (one PostgreSQL pipeline), in
order, before any Core statement and at the end of the block; what fails with them fails where it travelled, and a
savepoint still undoes exactly what came after it. On SQLite `defer` runs at once: the same results."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from stockpilot.adapters.db import delivery_processing_store as dps
from stockpilot.adapters.db import raw
from stockpilot.adapters.db.tables import locations

_ADD = raw.Sql("INSERT INTO locations (code, name, kind, priority, created_at) "
              "VALUES (?, ?, 'warehouse', 1, '2026-01-01 00:00:00.000000')")
_CODES = raw.Sql("SELECT code FROM locations ORDER BY id")


def codes(app) -> list[str]:
    with app.db.read() as conn:
        return [row[0] for row in raw.execute(conn, _CODES).fetchall()]


def test_deferred_rows_come_first_for_the_next_statement_for_core_and_at_the_end(app):
    def work(conn) -> tuple[list[str], int]:
        with raw.deferring(conn):
            raw.defer(conn, _ADD, ("A", "a"))
            raw.defer(conn, _ADD, ("B", "b"))
            seen = [row[0] for row in raw.execute(conn, _CODES).fetchall()]  # travels with both, after them
            raw.defer(conn, _ADD, ("C", "c"))
            counted = conn.execute(select(func.count()).select_from(locations)).scalar_one()  # Core: flushed first
            raw.defer(conn, _ADD, ("D", "d"))  # sent when the block ends
        return seen, counted

    seen, counted = app.db.write(work)
    assert seen == ["A", "B"] and counted == 3
    assert codes(app) == ["A", "B", "C", "D"]


def test_a_block_that_raises_sends_nothing_it_still_held(app):
    def work(conn) -> None:
        raw.execute(conn, _ADD, ("KEPT", "kept"))
        with raw.deferring(conn):
            raw.defer(conn, _ADD, ("HELD", "held"))
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        app.db.write(work)
    assert codes(app) == []  # the write rolled back whole; nothing held was sent after it


def test_a_failing_deferred_statement_is_undone_by_its_savepoint_and_the_rest_commits(app):
    def work(conn) -> str:
        with raw.deferring(conn):
            dps.savepoint(conn)
            raw.defer(conn, _ADD, ("FIRST", "first"))
            raw.execute(conn, _CODES).fetchall()
            dps.savepoint(conn)
            try:
                raw.defer(conn, _ADD, ("FIRST", "again"))  # a unique code taken: fails with the next statement
                raw.execute(conn, _CODES).fetchall()
            except IntegrityError:
                dps.rollback_to_savepoint(conn)
            else:
                raise AssertionError("the duplicate went through")
            dps.savepoint(conn)
            raw.defer(conn, _ADD, ("THIRD", "third"))
            return "done"

    assert app.db.write(work) == "done"
    assert codes(app) == ["FIRST", "THIRD"]


def test_a_savepoint_still_held_is_dropped_with_what_followed_it(app):
    def work(conn) -> None:
        with raw.deferring(conn):
            raw.defer(conn, _ADD, ("BEFORE", "before"))
            dps.savepoint(conn)
            raw.defer(conn, _ADD, ("AFTER", "after"))
            dps.rollback_to_savepoint(conn)  # nothing of it reached the database: nothing to roll back there
            raw.defer(conn, _ADD, ("LAST", "last"))

    app.db.write(work)
    assert codes(app) == ["BEFORE", "LAST"]
