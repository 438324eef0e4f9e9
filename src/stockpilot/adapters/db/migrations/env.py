"""Alembic environment: runs on the connection handed over by stockpilot.adapters.db.migrate."""

from alembic import context

from stockpilot.adapters.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `stockpilot init` (stockpilot.adapters.db.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
