"""The HTTP API through FastAPI's test client, on each database."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stockpilot.entrypoints.api.app import create_app


@pytest.fixture
def client(sp):
    token = sp.tokens.create("test")
    with TestClient(create_app(sp, run_worker=False)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


@pytest.fixture
def seeded(client):
    assert client.post("/api/v1/locations", json={"code": "WH", "name": "Main", "kind": "warehouse",
                                                  "priority": 1}).status_code == 201
    assert client.put("/api/v1/skus/TEE", json={"title": "Tee", "low_stock_threshold": 2}).status_code == 201
    response = client.post("/api/v1/inventory/adjustments",
                           json={"sku": "TEE", "location": "WH", "on_hand": 5, "idempotency_key": "count-1"})
    assert response.status_code == 201
    return client


def test_requests_without_a_valid_token_are_refused(sp):
    with TestClient(create_app(sp, run_worker=False)) as anonymous:
        missing = anonymous.get("/api/v1/skus")
        assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
        wrong = anonymous.get("/api/v1/skus", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert anonymous.get("/healthz").status_code == 200


def test_locations_and_skus(seeded):
    assert seeded.get("/api/v1/locations").json()["items"][0]["code"] == "WH"
    assert seeded.post("/api/v1/locations", json={"code": "WH"}).status_code == 409
    sku = seeded.get("/api/v1/skus/TEE").json()
    assert sku["totals"]["available"] == 5 and sku["levels"][0]["location"] == "WH"
    assert seeded.put("/api/v1/skus/TEE", json={"backorder_policy": "allow"}).status_code == 200
    assert seeded.get("/api/v1/skus").json()["items"][0]["backorder_policy"] == "allow"
    assert seeded.get("/api/v1/skus/NOPE").json()["error"] == "not_found"


def test_bad_input_is_a_clear_4xx_and_changes_nothing(seeded):
    bad = seeded.post("/api/v1/reservations", json={"reference": "c1", "lines": [{"sku": "TEE", "quantity": 0}]})
    assert bad.status_code == 422 and "quantity" in bad.json()["detail"]
    both = seeded.post("/api/v1/inventory/adjustments",
                       json={"sku": "TEE", "location": "WH", "delta": 1, "on_hand": 1, "idempotency_key": "x"})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    unknown_field = seeded.put("/api/v1/skus/TEE", json={"colour": "red"})
    assert unknown_field.status_code == 422
    assert seeded.get("/api/v1/skus/TEE").json()["totals"]["available"] == 5


def test_reservation_lifecycle_over_http(seeded):
    created = seeded.post("/api/v1/reservations",
                          json={"reference": "cart-9", "lines": [{"sku": "TEE", "quantity": 2}], "ttl_seconds": 300})
    assert created.status_code == 201
    reservation = created.json()
    assert reservation["lines"][0]["location"] == "WH" and reservation["expires_at"]
    replay = seeded.post("/api/v1/reservations", json={"reference": "cart-9", "lines": [{"sku": "TEE", "quantity": 2}]})
    assert replay.status_code == 200 and replay.json()["id"] == reservation["id"]
    refused = seeded.post("/api/v1/reservations",
                          json={"reference": "cart-10", "lines": [{"sku": "TEE", "quantity": 4}]})
    assert refused.status_code == 409
    assert refused.json() == {"error": "insufficient_stock", "detail": "TEE: requested 4, available 3",
                              "sku": "TEE", "requested": 4, "available": 3}
    rid = reservation["id"]
    assert seeded.post(f"/api/v1/reservations/{rid}/extend", json={"ttl_seconds": 600}).status_code == 200
    committed = seeded.post(f"/api/v1/reservations/{rid}/commit", json={"order_reference": "SO-1"})
    assert committed.status_code == 201
    order = committed.json()
    assert seeded.post(f"/api/v1/reservations/{rid}/commit").json()["id"] == order["id"]
    assert seeded.post(f"/api/v1/reservations/{rid}/release").status_code == 409
    assert seeded.post(f"/api/v1/orders/{order['id']}/fulfil").json()["status"] == "fulfilled"
    assert seeded.get("/api/v1/skus/TEE").json()["totals"]["on_hand"] == 3
    assert seeded.get("/api/v1/reservations/99999").status_code == 404


def test_orders_cancel_and_returns(seeded):
    order = seeded.post("/api/v1/orders", json={"reference": "SO-7", "lines": [{"sku": "TEE", "quantity": 2}]}).json()
    assert seeded.post(f"/api/v1/orders/{order['id']}/cancel").json()["status"] == "cancelled"
    shipped = seeded.post("/api/v1/orders", json={"reference": "SO-8", "lines": [{"sku": "TEE", "quantity": 1}]}).json()
    seeded.post(f"/api/v1/orders/{shipped['id']}/fulfil")
    returned = seeded.post(f"/api/v1/orders/{shipped['id']}/returns",
                           json={"sku": "TEE", "quantity": 1, "restock": True, "idempotency_key": "rma-1"})
    assert returned.status_code == 200 and returned.json()["lines"][0]["returned"] == 1
    assert seeded.get("/api/v1/skus/TEE").json()["totals"]["on_hand"] == 5


def test_movements_and_events_are_paginated(seeded):
    for i in range(5):
        seeded.post("/api/v1/inventory/adjustments",
                    json={"sku": "TEE", "location": "WH", "delta": 1, "idempotency_key": f"d{i}"})
    page = seeded.get("/api/v1/movements", params={"sku": "TEE", "limit": 4}).json()
    assert len(page["items"]) == 4 and page["next"] == page["items"][-1]["id"]
    rest = seeded.get("/api/v1/movements", params={"sku": "TEE", "after": page["next"], "limit": 4}).json()
    assert len(rest["items"]) == 2 and rest["next"] is None
    events = seeded.get("/api/v1/events", params={"after": 0}).json()["items"]
    assert events[0]["kind"] == "StockChanged" and any(e["kind"] == "BackInStock" for e in events)


def test_transfers_and_listings(seeded):
    seeded.post("/api/v1/locations", json={"code": "ST", "kind": "store", "priority": 5})
    moved = seeded.post("/api/v1/inventory/transfers",
                        json={"sku": "TEE", "from_location": "WH", "to_location": "ST", "quantity": 2,
                              "idempotency_key": "t-1"})
    assert moved.status_code == 201
    listing = seeded.put("/api/v1/channel-listings", json={"channel": "shopify", "external_id": "123", "sku": "TEE"})
    assert listing.status_code == 200


def test_metrics_count_reservations(seeded):
    seeded.post("/api/v1/reservations", json={"reference": "c1", "lines": [{"sku": "TEE", "quantity": 1}]})
    seeded.post("/api/v1/reservations", json={"reference": "c2", "lines": [{"sku": "TEE", "quantity": 99}]})
    text = seeded.get("/metrics").text
    assert 'stockpilot_reservations_total{outcome="created"} 1.0' in text
    assert 'stockpilot_reservations_total{outcome="insufficient_stock"} 1.0' in text


def test_openapi_is_served(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/reservations" in spec["paths"]


def test_decisions_are_queryable_by_subject(sp, client):
    from stockpilot.runtime import decisions

    def work(conn):
        decisions.record(conn, "TEE", "reorder", {"available": 0}, [{"supplier": "A"}, {"supplier": "B"}],
                         {"supplier": "A"}, "shortest lead time", sp.ctx.clock.now())
        decisions.record(conn, "MUG", "reorder", {}, [], None, "nothing to do", sp.ctx.clock.now())

    sp.db.write(work)
    page = client.get("/api/v1/decisions", params={"subject": "TEE"}).json()
    assert [d["reason"] for d in page["items"]] == ["shortest lead time"]
    assert page["items"][0]["options"] == [{"supplier": "A"}, {"supplier": "B"}]
    assert client.get("/api/v1/decisions").status_code == 422
