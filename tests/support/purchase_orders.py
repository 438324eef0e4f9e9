"""A complete, valid purchase-order delivery payload for tests (the shape the service layer enqueues)."""

from __future__ import annotations

import copy
from typing import Any

_BASE: dict[str, Any] = {
    "po_number": "PO-000123",
    "revision": 0,
    "kind": "new",
    "supplier": {
        "code": "ACME",
        "name": "Acme Textiles Ltd",
        "email": "orders@acme.example",
        "api_url": None,
        "api_token": None,
        "edi_dir": None,
        "currency": "USD",
        "edi_sender_id": "NORTHWIND",
        "edi_receiver_id": "ACMETEX",
    },
    "buyer": {
        "name": "Northwind Goods",
        "email": "purchasing@northwind.example",
        "address_lines": ["Unit 4, Riverside Trading Estate", "12 Mill Lane", "Leeds LS1 4AP", "United Kingdom"],
    },
    "lines": [
        {"line": 1, "sku": "TEE-BLK-M", "supplier_sku": "AC-1001", "title": "Organic cotton tee, black, M",
         "quantity": 48, "unit_cost": "4.75", "uom": "EA"},
        {"line": 2, "sku": "TOTE-NAT", "supplier_sku": None, "title": "Canvas tote bag, natural",
         "quantity": 24, "unit_cost": "12.50", "uom": "EA"},
        {"line": 3, "sku": "MUG-350", "title": "Enamel mug 350 ml, speckled", "quantity": 100, "unit_cost": "0.125",
         "uom": "EA"},
    ],
    "issued_at": "2026-03-02T09:15:00+00:00",
    "needed_by": "2026-03-20",
    "notes": "Please label each carton with the SKU and PO number.",
    "ack_url": "https://stock.northwind.example/ack/v1.token.signature",
}


def po_payload(**changes: Any) -> dict[str, Any]:
    """A fresh copy of the sample payload; keyword arguments replace top-level keys, `supplier=` merges."""
    payload = copy.deepcopy(_BASE)
    if "supplier" in changes:
        payload["supplier"].update(changes.pop("supplier"))
    payload.update(changes)
    return payload


def many_lines(count: int) -> list[dict[str, Any]]:
    return [
        {"line": i, "sku": f"SKU-{i:04d}", "title": f"Item number {i}", "quantity": i, "unit_cost": "1.10",
         "uom": "EA"}
        for i in range(1, count + 1)
    ]
