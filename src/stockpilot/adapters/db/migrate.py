"""Schema migrations through Alembic, configured in code so an installed package needs no alembic.ini."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect

from stockpilot.adapters.db.database import Database


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "stockpilot.adapters.db:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database to `revision`; safe to call on every start."""
    with db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def is_initialised(db: Database) -> bool:
    with db.engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")
