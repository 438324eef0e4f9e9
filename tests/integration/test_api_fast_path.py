"""POST /api/v1/reservations is answered by ReservationFastPath: the same answers as the FastAPI route."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockpilot.adapters.db.database import WriterBusy
from stockpilot.entrypoints.api.app import create_app
from stockpilot.entrypoints.api.fast_reservations import ReservationFastPath

PATH = "/api/v1/reservations"


def _without_fast_path(app: Any) -> Any:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ReservationFastPath]
    app.middleware_stack = None
    return app


@pytest.fixture
def clients(sp):
    """(fast, route): the app as served, and the same app with only the FastAPI route, on one database."""
    token = sp.tokens.create("test")
    with TestClient(create_app(sp, run_worker=False)) as fast, \
            TestClient(_without_fast_path(create_app(sp, run_worker=False))) as route:
        for client in (fast, route):
            client.headers["Authorization"] = f"Bearer {token}"
        assert fast.post("/api/v1/locations", json={"code": "WH", "name": "Main"}).status_code == 201
        assert fast.put("/api/v1/skus/TEE", json={"title": "Tee"}).status_code == 201
        assert fast.post("/api/v1/inventory/adjustments",
                         json={"sku": "TEE", "location": "WH", "on_hand": 5, "idempotency_key": "k"}).status_code == 201
        yield fast, route


REFUSED_WITHOUT_CHANGE: list[tuple[str, dict[str, Any]]] = [
    ("zero quantity", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 0}]}}),
    ("no lines", {"json": {"reference": "r", "lines": []}}),
    ("unknown field", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 1}], "colour": "red"}}),
    ("string quantity", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": "x"}]}}),
    ("malformed JSON", {"content": b'{"reference": "r", "lines": [', "headers": {"content-type": "application/json"}}),
    ("not JSON content", {"content": b'{"reference": "r", "lines": [{"sku": "TEE", "quantity": 1}]}',
                          "headers": {"content-type": "text/plain"}}),
    ("no token", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 1}]},
                  "headers": {"Authorization": ""}}),
    ("wrong token", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 1}]},
                     "headers": {"Authorization": "Bearer sp_nope"}}),
    ("unknown SKU", {"json": {"reference": "r", "lines": [{"sku": "NOPE", "quantity": 1}]}}),
    ("unknown location", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 1, "location": "X"}]}}),
    ("TTL too long", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 1}], "ttl_seconds": 10**9}}),
    ("short of stock", {"json": {"reference": "r", "lines": [{"sku": "TEE", "quantity": 6}]}}),
]


@pytest.mark.parametrize("case", [c for c, _ in REFUSED_WITHOUT_CHANGE])
def test_refusals_are_the_routes_answers(clients, case):
    fast, route = clients
    request = dict(REFUSED_WITHOUT_CHANGE)[case]
    ours, theirs = fast.post(PATH, **request), route.post(PATH, **request)
    assert ours.status_code == theirs.status_code and 400 <= ours.status_code < 500
    assert ours.json() == theirs.json() and set(ours.json()) >= {"error", "detail"}
    for header in ("content-type", "www-authenticate"):
        assert ours.headers.get(header) == theirs.headers.get(header)
    assert fast.get("/api/v1/skus/TEE").json()["totals"]["available"] == 5


def test_created_and_replayed_answers_match_across_paths(clients):
    fast, route = clients
    body = {"reference": "cart-1", "lines": [{"sku": "TEE", "quantity": 2}], "ttl_seconds": 300}
    created = fast.post(PATH, json=body)
    replayed = route.post(PATH, json=body)
    assert (created.status_code, replayed.status_code) == (201, 200)
    assert created.json() == replayed.json()
    assert created.headers["content-type"] == "application/json"
    other = {"reference": "cart-2", "lines": [{"sku": "TEE", "quantity": 1}]}
    by_route, replay_fast = route.post(PATH, json=other), fast.post(PATH, json=other)
    assert (by_route.status_code, replay_fast.status_code) == (201, 200)
    assert by_route.json() == replay_fast.json()
    conflict = {"reference": "cart-2", "lines": [{"sku": "TEE", "quantity": 2}]}
    assert fast.post(PATH, json=conflict).json() == route.post(PATH, json=conflict).json()
    assert fast.get("/api/v1/skus/TEE").json()["totals"]["available"] == 2
    text = fast.get("/metrics").text
    assert 'stockpilot_reservations_total{outcome="created"} 1.0' in text  # per app: fast created one
    assert 'stockpilot_reservations_total{outcome="replayed"} 1.0' in text


def _call(mw: ReservationFastPath, app: Any, body: bytes, headers: list[tuple[bytes, bytes]]
          ) -> tuple[list[Message], list[bytes]]:
    """One request through the middleware alone; returns what it sent and what reached the app behind it."""
    sent: list[Message] = []
    handed_on: list[bytes] = []
    scope = {"type": "http", "method": "POST", "path": PATH, "headers": headers, "app": app}
    chunks = [{"type": "http.request", "body": body[:5], "more_body": True},
              {"type": "http.request", "body": body[5:], "more_body": False}]

    async def receive() -> Message:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def behind(_scope: Any, receive_: Any, _send: Any) -> None:
        handed_on.append((await receive_())["body"])

    mw.app = behind
    asyncio.run(mw(scope, receive, send))
    return sent, handed_on


Message = dict[str, Any]


def test_the_middleware_answers_only_the_ordinary_case(sp):
    token = sp.tokens.create("t")
    app = create_app(sp, run_worker=False)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.post("/api/v1/locations", json={"code": "WH"})
        client.put("/api/v1/skus/TEE", json={})
    mw = ReservationFastPath(app)
    auth = (b"authorization", f"Bearer {token}".encode())
    json_type = (b"content-type", b"application/json; charset=utf-8")
    good = b'{"reference": "m1", "lines": [{"sku": "TEE", "quantity": 1}]}'
    sent, handed_on = _call(mw, app, good, [auth, json_type])
    assert handed_on == [] and sent[0]["status"] == 409  # no stock: answered here, insufficient_stock
    assert b'"insufficient_stock"' in sent[1]["body"]
    for body, headers in [(good, [json_type]), (good, [auth]), (b'{"reference": "m1"}', [auth, json_type]),
                          (b"{", [auth, json_type])]:
        sent, handed_on = _call(mw, app, body, headers)
        assert sent == [] and handed_on == [body]  # the route answers, with the whole body


def test_a_busy_sqlite_writer_is_waited_for_in_a_thread(clients, sp, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer")
    fast, _ = clients
    other = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    with pytest.raises(WriterBusy), sp.db.without_waiting():
        sp.db.write(lambda conn: pytest.fail("must not run"))
    threading.Timer(0.3, lambda: other.execute("COMMIT")).start()
    answer = fast.post(PATH, json={"reference": "busy", "lines": [{"sku": "TEE", "quantity": 1}]})
    assert answer.status_code == 201
    # The writer connection waits for other processes again, as long as it did before.
    assert sp.db.write(lambda conn: conn.exec_driver_sql("PRAGMA busy_timeout").scalar()) == 60000
    other.close()


def test_without_waiting_never_runs_work_that_would_wait(sp, db_url):
    if not db_url.startswith("sqlite"):
        with pytest.raises(WriterBusy), sp.db.without_waiting():
            sp.db.write(lambda conn: pytest.fail("PostgreSQL always waits on the network"))
        return
    assert sp.db._write_lock is not None
    with sp.db._write_lock, pytest.raises(WriterBusy), sp.db.without_waiting():
        sp.db.write(lambda conn: pytest.fail("the mutex is held"))
    with sp.db.without_waiting():
        assert sp.db.write(lambda conn: conn.exec_driver_sql("select 7").scalar()) == 7
