"""The operations run: real services (webhook intake, order processing, replenishment, PO lifecycle) under
duplicate, re-sent, late, out-of-order and lost webhooks, supplier outages and a supplier that never acknowledges,
on SQLite and PostgreSQL."""

from __future__ import annotations

from stockpilot.simulation.operations import run_operations
from stockpilot.simulation.scenario import OpsConfig

# no_supplier_share 0.16: 1 of the 6 SKUs has no supplier (its oversells must wait in review)
FAULTY = OpsConfig(skus=6, days=5, duplicate=0.3, redelivered=0.2, late=0.15, lost=0.08, out_of_order=0.6,
                   cancel_share=0.15, outage=0.3, silent_supplier=True, no_supplier_share=0.16, stock_days=1.0)


def test_no_duplicate_po_and_every_oversell_resolved_or_explained(db_url):
    ops = run_operations(FAULTY, seed=2, database_url=db_url)
    hooks = ops["webhooks"]
    assert hooks["duplicate"] > 0 and hooks["redelivered"] > 0 and hooks["late"] > 0  # the faults did happen
    assert hooks["lost"] > 0 and hooks["out_of_order"] > 0 and ops["supplier_outage_answers"] > 0
    assert ops["duplicate_pos"] == 0, ops["duplicate_po_details"]
    assert ops["supplier_duplicate_deliveries"] == 0
    assert ops["committed_mismatch_skus"] == []  # each delivered order counted once, each cancel honoured
    assert ops["check_problems"] == 0 and ops["timer_errors"] == 0
    assert ops["oversell_events"] > 0
    assert ops["oversells_resolved_without_person"] + len(ops["oversells_for_a_person"]) == ops["oversell_events"]
    # the SKU without any supplier: its oversells wait for a person, each with the review rule's reason
    waiting = ops["oversells_for_a_person"]
    assert waiting and all(o["sku"] == "OPS-005" and "no supplier" in o["reason"] for o in waiting), waiting
    assert ops["oversells_resolved_without_person"] > 0
    assert ops["pos_by_trigger"].get("reroute", 0) > 0  # the silent supplier was replaced after its deadline
    assert ops["detection_to_po_seconds_p50"] is not None and ops["detection_to_po_seconds_p50"] >= 10
