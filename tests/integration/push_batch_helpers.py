"""Set-up for the batched push tests: many SKUs at once through the real CSV import (one transaction for all their
counts, as a receipt or a stock take would be), listed on channels in one go."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from stockpilot.adapters.db import catalog_store
from stockpilot.adapters.db.tables import channel_push_batches
from stockpilot.bootstrap import Stockpilot
from stockpilot.services.importer import ImportService


def sku_name(i: int) -> str:
    return f"SKU-{i:04d}"


def import_counts(sp: Stockpilot, tmp_path: Path, counts: dict[str, int], name: str) -> None:
    """Set on-hand counts at WH for many SKUs (created if new) through `stockpilot import`: one transaction."""
    path = tmp_path / f"{name}.csv"
    path.write_text("sku,title,location,on_hand\n" + "".join(f"{s},{s},WH,{n}\n" for s, n in counts.items()))
    report = ImportService(sp.ctx).import_file(path)
    assert report.ok, report


def list_all(sp: Stockpilot, channel: str, ids: dict[str, str], role: str, parent: str | None = None) -> None:
    """Map each SKU to its channel id (one transaction for all); `parent`: the variations' product."""

    def work(conn) -> None:
        for sku, external_id in ids.items():
            ref = catalog_store.sku_ref(conn, sku)
            assert ref is not None
            catalog_store.upsert_listing(conn, channel, external_id, ref.id, role, parent)

    sp.db.write(work)


def batches(sp: Stockpilot) -> list[dict]:
    with sp.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(channel_push_batches)
                                                       .order_by(channel_push_batches.c.id))]
