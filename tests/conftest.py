"""Test fixtures: every integration test runs on SQLite, and on PostgreSQL whenever it is reachable.

PostgreSQL: STOCKPILOT_TEST_POSTGRES_URL (default: the local server, database `test`). With
STOCKPILOT_REQUIRE_POSTGRES=1 (set by .ci/run) an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from stockpilot.adapters.db.database import Database, normalise_url
from stockpilot.adapters.db.migrate import upgrade
from stockpilot.adapters.db.tables import metadata
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.domain.clock import ManualClock

PG_ADMIN_URL = normalise_url(
    os.environ.get("STOCKPILOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
REQUIRE_PG = os.environ.get("STOCKPILOT_REQUIRE_POSTGRES") == "1"


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means "not reachable"
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_database(worker_id: str) -> Iterator[str]:
    """A database of its own for this test worker, migrated once."""
    problem = _postgres_reachable()
    if problem:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    name = f"stockpilot_test_{worker_id}_{os.getpid()}"  # concurrent test runs never share a database
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()  # closing the last connection checkpoints the WAL into the main file
    assert not Path(f"{path}-wal").exists()
    return path


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "stockpilot.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_database")
    _truncate_postgres(url)
    return url


@pytest.fixture
def pg_url(postgres_database: str) -> str:
    """The URL of an empty, migrated PostgreSQL database, for what only PostgreSQL does (skips when unreachable)."""
    _truncate_postgres(postgres_database)
    return postgres_database


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sp(db_url: str, clock: ManualClock) -> Iterator[Stockpilot]:
    app = build(Settings(database_url=db_url, db_pool_size=40), clock=clock, migrate=False)
    yield app
    app.close()
