"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.migrate import upgrade
from stockpilot.adapters.db.tables import metadata


def test_migrated_schema_matches_the_tables(db_url):
    db = Database(db_url)
    upgrade(db)  # already at head: a no-op that must not fail
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    db.dispose()
    assert diff == []
