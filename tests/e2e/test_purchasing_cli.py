"""Replenishment from the command line, as a person runs it (each command a real `stockpilot` process)."""

from __future__ import annotations

import json

from tests.e2e.test_serve_process import _cli
from tests.integration.helpers import line, stock
from tests.integration.purchasing_helpers import Runtime


def test_suppliers_review_queue_receipt_and_plan_from_the_cli(sp, db_url, tmp_path):
    stock(sp, "TEE", {"WH": 0}, backorder_policy="allow")
    assert _cli(db_url, "supplier", "add", "ACME", "--name", "Acme Ltd", "--method", "edi").returncode == 0
    offer = _cli(db_url, "supplier", "offer", "ACME", "TEE", "--unit-cost", "3.10", "--lead-time", "4",
                 "--pack-size", "6")
    assert "offer created: ACME TEE at 3.10, 4 d" in offer.stdout
    bad = _cli(db_url, "supplier", "offer", "ACME", "NOPE", "--unit-cost", "1", "--lead-time", "1", check=False)
    assert bad.returncode == 1 and "unknown SKU 'NOPE'" in bad.stderr
    listed = json.loads(_cli(db_url, "supplier", "list", "--json").stdout)
    assert listed[0]["code"] == "ACME" and listed[0]["delivery_method"] == "edi"

    sp.suppliers.set_offer("ACME", "TEE", {"capacity": 6})  # a 10-unit oversell is above its capacity: review
    sp.orders.place("SO-1", [line("TEE", 10)])
    Runtime.build(sp).settle()
    Runtime.build(sp).advance(seconds=11)
    (review,) = json.loads(_cli(db_url, "po", "review", "--json").stdout)
    assert review["number"] == "PO-000001" and "capacity" in review["review_reason"]
    assert "PO-000001" in _cli(db_url, "po", "review").stdout
    wrong = _cli(db_url, "po", "approve", "PO-000001", "--quantity", "TEE:12", check=False)
    assert wrong.returncode == 2 and "expected SKU=QUANTITY" in wrong.stderr
    approved = _cli(db_url, "po", "approve", "PO-000001", "--quantity", "TEE=12", "--note", "split agreed")
    assert "PO-000001 sent to ACME" in approved.stdout

    received = _cli(db_url, "po", "receive", "PO-000001", "TEE=5", "--key", "slip-9")
    assert "partially_received" in received.stdout and "TEE 5/12" in received.stdout
    again = _cli(db_url, "po", "receive", "PO-000001", "TEE=5", "--key", "slip-9")
    assert "already recorded" in again.stdout
    shown = _cli(db_url, "po", "show", "PO-000001").stdout
    assert "partially_received" in shown and "split agreed" in shown and "capacity" in shown

    history = tmp_path / "history.csv"
    history.write_text("sku,date,units\nTEE,2025-12-20,4\nTEE,2025-12-21,oops\n")
    failed = _cli(db_url, "import", "history", str(history), check=False)
    assert failed.returncode == 1 and f'{history}:3: column "units"' in failed.stderr
    history.write_text("sku,date,units\n" + "".join(f"TEE,2025-12-{d:02d},3\n" for d in range(1, 32)))
    assert "31 SKU-days of demand set for 1 SKUs" in _cli(db_url, "import", "history", str(history)).stdout
    plan = json.loads(_cli(db_url, "plan", "--all", "--json").stdout)
    (tee,) = plan
    assert tee["sku"] == "TEE" and tee["mean_daily"] > 0 and tee["reorder_point"] is not None
    assert tee["open_pos"] == [{"quantity": 7, "eta": "2026-01-05"}]
