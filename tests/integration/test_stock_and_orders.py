"""Adjustments, counts, transfers, direct orders, fulfilment, cancellation, returns and the ledger check."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from stockpilot.adapters.db.tables import stock_levels
from stockpilot.domain.errors import Conflict, IdempotencyConflict, InsufficientStock, ValidationFailed
from tests.integration.helpers import level, line, stock, totals


def test_adjust_by_delta_and_set_by_count(sp):
    stock(sp, "A", {"WH": 0})
    movement, replayed = sp.stock.adjust(sku="A", location="WH", delta=7, kind="receive", idempotency_key="po-1")
    assert not replayed and movement["kind"] == "receive" and movement["delta"]["on_hand"] == 7
    counted, _ = sp.stock.adjust(sku="A", location="WH", on_hand=5, idempotency_key="count-1", reason="cycle count")
    assert counted["kind"] == "set" and counted["delta"]["on_hand"] == -2
    assert level(sp, "A", "WH")["on_hand"] == 5


def test_adjustment_replay_has_one_effect_and_a_reused_key_is_refused(sp):
    stock(sp, "A", {"WH": 0, "ST": 0})
    sp.stock.adjust(sku="A", location="WH", delta=3, idempotency_key="k")
    again, replayed = sp.stock.adjust(sku="A", location="WH", delta=3, idempotency_key="k")
    assert again["idempotency_key"] == "client:k"
    assert replayed and totals(sp, "A")["on_hand"] == 3
    with pytest.raises(IdempotencyConflict):
        sp.stock.adjust(sku="A", location="ST", delta=3, idempotency_key="k")


def test_on_hand_never_goes_negative(sp):
    stock(sp, "A", {"WH": 2})
    with pytest.raises(Conflict):
        sp.stock.adjust(sku="A", location="WH", delta=-3, idempotency_key="k")
    with pytest.raises(ValidationFailed):
        sp.stock.adjust(sku="A", location="WH", on_hand=-1, idempotency_key="k2")
    assert level(sp, "A", "WH")["on_hand"] == 2


def test_count_below_commitments_reports_an_oversell(sp):
    stock(sp, "A", {"WH": 3})
    sp.orders.place("O-1", [line("A", 3)])
    sp.stock.adjust(sku="A", location="WH", on_hand=1, idempotency_key="shrinkage")
    assert totals(sp, "A")["available"] == -2
    assert sp.stock.events(kind="Oversold")[-1]["payload"]["oversold_units"] == 2


def test_transfer_moves_only_available_units(sp):
    stock(sp, "A", {"WH": 5, "ST": 0})
    sp.reservations.reserve("c1", [line("A", 3, "WH")])
    with pytest.raises(Conflict):
        sp.stock.transfer(sku="A", from_location="WH", to_location="ST", quantity=3, idempotency_key="t1")
    result = sp.stock.transfer(sku="A", from_location="WH", to_location="ST", quantity=2, idempotency_key="t2")
    assert not result["replayed"]
    assert sp.stock.transfer(sku="A", from_location="WH", to_location="ST", quantity=2,
                             idempotency_key="t2")["replayed"]
    assert level(sp, "A", "WH")["on_hand"] == 3 and level(sp, "A", "ST")["on_hand"] == 2
    assert sp.checker.run().ok


def test_direct_order_commits_and_fulfil_ships(sp):
    stock(sp, "A", {"WH": 5})
    order, created = sp.orders.place("SHOP-1001", [line("A", 2)])
    assert created and order["status"] == "open"
    assert totals(sp, "A")["committed"] == 2
    again, created_again = sp.orders.place("SHOP-1001", [line("A", 2)])
    assert not created_again and again["id"] == order["id"]
    shipped = sp.orders.fulfil(order["id"])
    assert shipped["status"] == "fulfilled" and shipped["lines"][0]["fulfilled"] == 2
    assert sp.orders.fulfil(order["id"])["status"] == "fulfilled"  # idempotent
    assert totals(sp, "A") == {"on_hand": 3, "committed": 0, "reserved": 0, "available": 3, "incoming": 0}


def test_cancel_returns_units_to_available(sp):
    stock(sp, "A", {"WH": 2})
    order, _ = sp.orders.place("O-1", [line("A", 2)])
    with pytest.raises(InsufficientStock):
        sp.orders.place("O-2", [line("A", 1)])
    assert sp.orders.cancel(order["id"])["status"] == "cancelled"
    assert sp.orders.cancel(order["id"])["status"] == "cancelled"
    assert totals(sp, "A")["available"] == 2
    with pytest.raises(Conflict):
        sp.orders.fulfil(order["id"])


def test_backordered_order_cannot_ship_until_stock_arrives(sp):
    stock(sp, "A", {"WH": 0}, backorder_policy="allow")
    order, _ = sp.orders.place("O-1", [line("A", 2)])
    with pytest.raises(Conflict):
        sp.orders.fulfil(order["id"])
    assert sp.orders.get(order["id"])["status"] == "open"
    sp.stock.adjust(sku="A", location="WH", delta=2, kind="receive", idempotency_key="po")
    assert sp.orders.fulfil(order["id"])["status"] == "fulfilled"
    assert sp.checker.run().ok


def test_returns_restock_only_on_request(sp):
    stock(sp, "A", {"WH": 4})
    order, _ = sp.orders.place("O-1", [line("A", 3)])
    sp.orders.fulfil(order["id"])
    sp.orders.record_return(order["id"], sku="A", quantity=1, restock=False, idempotency_key="rma-1")
    assert totals(sp, "A")["on_hand"] == 1
    returned = sp.orders.record_return(order["id"], sku="A", quantity=2, restock=True, idempotency_key="rma-2")
    assert returned["lines"][0]["returned"] == 3
    assert totals(sp, "A")["on_hand"] == 3
    sp.orders.record_return(order["id"], sku="A", quantity=2, restock=True, idempotency_key="rma-2")  # replay
    assert totals(sp, "A")["on_hand"] == 3
    with pytest.raises(Conflict):
        sp.orders.record_return(order["id"], sku="A", quantity=1, restock=True, idempotency_key="rma-3")
    assert sp.checker.run().ok


def test_check_reports_drift_between_levels_and_ledger(sp):
    stock(sp, "A", {"WH": 4})
    assert sp.checker.run().ok
    with sp.db.engine.begin() as conn:  # corrupt a level behind the ledger's back
        conn.execute(update(stock_levels).values(on_hand=9))
    report = sp.checker.run()
    problems = {p["problem"] for p in report.problems}
    assert not report.ok
    assert {"ledger_drift", "sku_total_drift"} <= problems


def test_check_reports_reserved_without_a_reservation(sp):
    stock(sp, "A", {"WH": 4})
    with sp.db.engine.begin() as conn:
        conn.execute(update(stock_levels).values(reserved=1))
    assert "reserved_mismatch" in {p["problem"] for p in sp.checker.run().problems}


def test_catalog_upsert_and_listing_mapping(sp):
    sp.catalog.create_location("WH", "Main", "warehouse", 1)
    with pytest.raises(Conflict):
        sp.catalog.create_location("WH", "Again", "warehouse", 1)
    with pytest.raises(ValidationFailed):
        sp.catalog.create_location("X", "X", "moon", 1)
    described, created = sp.catalog.upsert_sku(
        "TEE-M", {"title": "Tee M", "barcode": "0123", "options": {"Size": "M"}, "backorder_policy": "allow_notify",
                  "backorder_cap": 5}, {"handle": "tee", "title": "Tee"})
    assert created and described["product"] == "tee" and described["levels"][0]["location"] == "WH"
    updated, created_again = sp.catalog.upsert_sku("TEE-M", {"low_stock_threshold": 2})
    assert not created_again and updated["low_stock_threshold"] == 2 and updated["barcode"] == "0123"
    with pytest.raises(ValidationFailed):
        sp.catalog.upsert_sku("TEE-M", {"backorder_policy": "sometimes"})
    sp.catalog.map_listing("shopify", "gid://shopify/ProductVariant/1", "TEE-M")
    assert sp.catalog.resolve_listing("shopify", "gid://shopify/ProductVariant/1") == "TEE-M"
    assert sp.catalog.resolve_listing("shopify", "other") is None
    sp.catalog.create_location("ST", "Store", "store", 2)
    assert [lv["location"] for lv in sp.catalog.get_sku("TEE-M")["levels"]] == ["WH", "ST"]


def test_product_fields_are_only_changed_when_given(sp):
    sp.catalog.upsert_sku("A", {"title": "A"}, {"handle": "p", "title": "Product", "vendor": "Acme"})
    sp.catalog.upsert_sku("B", {"title": "B"}, {"handle": "p"})
    from sqlalchemy import select

    from stockpilot.adapters.db.tables import products
    with sp.db.read() as conn:
        row = conn.execute(select(products.c.title, products.c.vendor)).one()
    assert tuple(row) == ("Product", "Acme")
    with pytest.raises(ValidationFailed):
        sp.catalog.upsert_sku("A", {"low_stock_threshold": True})


def test_a_reused_key_with_a_different_change_is_refused(sp):
    stock(sp, "A", {"WH": 0})
    sp.stock.adjust(sku="A", location="WH", delta=3, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        sp.stock.adjust(sku="A", location="WH", delta=4, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        sp.stock.adjust(sku="A", location="WH", on_hand=4, idempotency_key="k")
    assert totals(sp, "A")["on_hand"] == 3


def test_an_order_reference_reused_for_other_lines_is_refused(sp):
    stock(sp, "A", {"WH": 5})
    sp.orders.place("O-1", [line("A", 2)])
    with pytest.raises(IdempotencyConflict):
        sp.orders.place("O-1", [line("A", 3)])
    assert totals(sp, "A")["committed"] == 2
