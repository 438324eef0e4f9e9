"""A channel's own count (a POS sale) applied while a push's outcome is being recorded, on the real database, with
real threads (docs/channels.md "Concurrency").

The count is measured from what the channel last showed (`channel_pushes.confirmed_value`), which the push's
outcome hook writes under the push lock. Read outside that lock, a count applied while the outcome transaction was
open read the value from before the push and moved on_hand by the push's change as well as the sale; and two counts
in one apply transaction, updating their rows outside the lock, deadlocked against an outcome confirming the same
two items in the other order. Under the lock (taken before the count reads or locks anything) the count waits for
the outcome to commit and reads what the channel acknowledged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, create_engine, select, text

from stockpilot.adapters.db import channel_push_store, channel_store
from stockpilot.adapters.db.tables import channel_pushes
from stockpilot.bootstrap import Stockpilot, build
from stockpilot.config import Settings
from stockpilot.services import webhook_processing
from stockpilot.services.webhook_processing import WebhookProcessor
from tests.integration.channel_helpers import add_shopify, deliveries, post_shopify
from tests.integration.deadlock_helpers import no_new_deadlocks
from tests.integration.helpers import stock, totals
from tests.support.serve_process import api_client

LOCATION = "905684977"
ITEMS = {"TEE": "4411", "MUG": "4412"}


def key(sku: str) -> str:
    return f"inventory_item:{ITEMS[sku]}@{LOCATION}"


def waiting_on_a_lock(url: str, bound_seconds: float = 30) -> bool:
    """Whether another backend of the database is (or comes to be, within the bound) waiting for a lock."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + bound_seconds  # a bound on waiting, not a timing assertion
            while time.monotonic() < deadline:
                if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock'")).scalar_one():
                    return True
                conn.rollback()
                time.sleep(0.01)
            return False
    finally:
        engine.dispose()


def pushed_10_and_sending_8(sp: Stockpilot, skus: list[str]) -> tuple[int, dict[str, int], list[int]]:
    """Each SKU: 10 on hand, an earlier push of 10 acknowledged, a push of 8 on its way (its intent written, as
    before sending), and the channel's count webhook saying 7 (it took the 8, then sold one at the counter: not
    an echo of anything pushed). Returns the channel id, the SKU ids and the stored count deliveries, in order."""
    for sku in skus:
        stock(sp, sku, {"WH": 10})
    with api_client(sp) as client:
        add_shopify(client, location="WH")
    for sku in skus:
        sp.catalog.map_listing("shop", ITEMS[sku], sku, role="inventory_item")
    with sp.db.read() as conn:
        channel_id = int(conn.execute(text("SELECT id FROM channels WHERE name = 'shop'")).scalar_one())
        sku_ids = {r.sku: int(r.id) for r in conn.execute(text("SELECT id, sku FROM skus"))}
    now = sp.ctx.clock.now()

    def pushes(conn: Connection) -> None:
        for sku in skus:
            channel_store.record_push(conn, channel_id, key(sku), 10, now)
            channel_push_store.confirm_push(conn, channel_id, key(sku), 10, now)
            channel_store.record_push(conn, channel_id, key(sku), 8, now)

    sp.db.write(pushes)
    with api_client(sp) as client:
        for sku in skus:
            count = {"inventory_item_id": int(ITEMS[sku]), "location_id": int(LOCATION), "available": 7,
                     "updated_at": "2026-01-05T10:00:00Z",
                     "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{ITEMS[sku]}"}
            assert post_shopify(client, "inventory_levels/update", count).status_code == 200
        ids = sorted(d["id"] for d in deliveries(client))
    return channel_id, sku_ids, ids


def race(sp: Stockpilot, url: str, channel_id: int, sku_ids: dict[str, int], confirm_order: list[str],
         delivery_ids: list[int]) -> list[Any]:
    """One outcome transaction recording the pushes of 8 (as the dispatcher does, several per transaction, in claim
    order), held open after its first until the counts' batch waits for a lock, against that batch. Returns the
    batch's outcomes."""
    postgres = url.startswith("postgresql")
    holding = threading.Event()
    errors: list[BaseException] = []
    outcomes: list[Any] = []
    now = sp.ctx.clock.now()

    def push_outcomes(conn: Connection) -> None:
        for n, sku in enumerate(confirm_order):
            payload = {"channel_id": channel_id, "channel": "shop", "sku_id": sku_ids[sku], "sku": sku}
            result = {"generation": 1, "skipped": [], "lines": [
                {"item_key": key(sku), "quantity": 8, "previous": 10, "available": 8, "locations": ["WH"]}]}
            sp.channel_pushes.delivered(conn, payload, f"channel.push:shop:{sku}:1", now, result)
            if n == 0:
                holding.set()
                if postgres:
                    assert waiting_on_a_lock(url), "the counts never met the open outcome transaction"

    def guarded(work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                holding.set()
        return run

    def apply_counts() -> None:
        holding.wait(30)
        outcomes.extend(WebhookProcessor(sp.ctx, sp.orders).batch(
            [({"delivery_id": i}, f"webhook-delivery:{i}") for i in delivery_ids]))

    threads = [threading.Thread(target=guarded(lambda: sp.db.write(push_outcomes))),
               threading.Thread(target=guarded(apply_counts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return outcomes


def confirmed(sp: Stockpilot, sku: str) -> int | None:
    with sp.db.read() as conn:
        return conn.execute(select(channel_pushes.c.confirmed_value)
                            .where(channel_pushes.c.item_key == key(sku))).scalar_one()


def test_a_pos_sale_counted_while_a_push_outcome_commits_is_measured_from_the_acknowledged_value(db_url: str):
    sp = build(Settings(database_url=db_url, db_pool_size=10), migrate=False)
    try:
        channel_id, sku_ids, ids = pushed_10_and_sending_8(sp, ["TEE"])
        outcomes = race(sp, db_url, channel_id, sku_ids, ["TEE"], ids)
        assert [o.get("status") for o in outcomes] == ["processed"], outcomes
        # One unit sold on the channel (8 -> 7): on_hand 10 -> 9, not 10 - (10 - 7).
        assert totals(sp, "TEE")["on_hand"] == 9
        assert confirmed(sp, "TEE") == 7  # the next count is measured from what the channel shows now
    finally:
        sp.close()


def test_two_counts_in_one_batch_and_an_outcome_confirming_them_in_the_other_order_do_not_deadlock(db_url: str,
                                                                                                   monkeypatch):
    # Both counts in one transaction, as on a quiet machine (a loaded one may spend the 10 ms budget on the first).
    monkeypatch.setattr(webhook_processing, "APPLY_BUDGET_SECONDS", 60.0)
    with no_new_deadlocks(db_url, lambda: build(Settings(database_url=db_url, db_pool_size=10), migrate=False)) as sp:
        channel_id, sku_ids, ids = pushed_10_and_sending_8(sp, ["TEE", "MUG"])  # the counts: TEE, then MUG
        outcomes = race(sp, db_url, channel_id, sku_ids, ["MUG", "TEE"], ids)
        assert [o.get("status") if isinstance(o, dict) else repr(o) for o in outcomes] == ["processed"] * 2
        assert totals(sp, "TEE")["on_hand"] == 9 and totals(sp, "MUG")["on_hand"] == 9
        assert confirmed(sp, "TEE") == 7 and confirmed(sp, "MUG") == 7
