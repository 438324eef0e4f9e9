"""webhook_body_lz4: PostgreSQL compresses stored webhook bodies with lz4 instead of pglz

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 19:30:00.000000

A Shopify order body is about 5-6 KB, over the TOAST threshold, so PostgreSQL compresses every stored delivery in
the intake's statement. `python bench/webhook_body_compression.py` (the captured orders/create sample, 20 bodies a
statement): pglz 45 us of backend CPU per body, lz4 23 us, none 26; a statement 1.18 -> 0.67 ms; lz4 stores
1.38x pglz's bytes, half of uncompressed.
Only new values are written with lz4; rows already stored keep theirs. A server built without lz4 (or older than
PostgreSQL 14) keeps pglz: the change is skipped with a notice, nothing else depends on it. SQLite: nothing to do.
"""

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # EXECUTE, so that a server without the clause (before 14) fails inside the handler, not at parse time.
    op.execute(f"""
        DO $$ BEGIN
            EXECUTE 'ALTER TABLE webhook_deliveries ALTER COLUMN body SET COMPRESSION {method}';
        EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
            RAISE NOTICE 'webhook_deliveries.body keeps its compression: %', SQLERRM;
        END $$""")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
