"""A loopback supplier HTTP API (a real server on 127.0.0.1, ephemeral port) that receives purchase orders.

    with SupplierApi(token="t0ken") as api:
        payload["supplier"]["api_url"], payload["supplier"]["api_token"] = api.url, "t0ken"
        HttpApiDelivery()(payload, key)
        api.wait_for(1); api.orders[key]               # the deduped effect: first body per Idempotency-Key

Behaviour: a wrong or missing bearer token answers 401; `fail_next(n)` answers the next n POSTs with 503 (or
another status); a replay of a key answers 200 with the very same body (or 409 with `conflict_on_replay`); a new
order answers 201 with an acknowledgement, or 202 {"status": "received"} when `acknowledge` is False.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Request:
    key: str
    authorization: str | None
    body: Any
    status: int  # what the fake answered


class SupplierApi:
    def __init__(self, *, token: str | None = None, acknowledge: bool = True, conflict_on_replay: bool = False) -> None:
        self.token = token
        self.acknowledge = acknowledge
        self.conflict_on_replay = conflict_on_replay
        self.requests: list[Request] = []  # every POST, replays and refusals included
        self.orders: dict[str, Any] = {}  # Idempotency-Key -> first accepted body
        self._responses: dict[str, bytes] = {}  # Idempotency-Key -> the answer given, replayed as is
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        api = self

        class Handler(BaseHTTPRequestHandler):

            disable_nagle_algorithm = True  # answer at once: no 40 ms Nagle / delayed-ACK stall per request
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, body = api._handle(self.headers.get("Idempotency-Key", ""),
                                           self.headers.get("Authorization"), raw)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/purchase-orders"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> SupplierApi:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures += [status] * count

    def wait_for(self, count: int, timeout: float = 10.0) -> dict[str, Any]:
        """Block until `count` distinct orders were accepted; returns them by key (AssertionError on timeout)."""
        with self._lock:
            if not self._arrived.wait_for(lambda: len(self.orders) >= count, timeout):
                raise AssertionError(f"expected {count} orders within {timeout}s, got {len(self.orders)}")
            return dict(self.orders)

    def _handle(self, key: str, authorization: str | None, raw: bytes) -> tuple[int, bytes]:
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self._lock:
            status, answer = self._decide(key, authorization, body)
            self.requests.append(Request(key, authorization, body, status))
            self._arrived.notify_all()
        return status, answer

    def _decide(self, key: str, authorization: str | None, body: Any) -> tuple[int, bytes]:
        if self._failures:
            return self._failures.pop(0), b'{"error": "unavailable"}'
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, b'{"error": "invalid token"}'
        if not key or not isinstance(body, dict) or not body.get("po_number"):
            return 400, b'{"error": "an Idempotency-Key header and a purchase order are required"}'
        if key in self._responses:
            if self.conflict_on_replay:
                return 409, json.dumps({"error": "duplicate", "idempotency_key": key}).encode()
            return 200, self._responses[key]
        self.orders[key] = body
        if self.acknowledge:
            answer = {
                "status": "acknowledged",
                "supplier_reference": f"SO-{len(self.orders):05d}",
                "lines": [{"line": ln["line"], "quantity_confirmed": ln["quantity"], "ship_date": body.get("needed_by")}
                          for ln in body.get("lines", [])],
            }
            status = 201
        else:
            answer, status = {"status": "received"}, 202
        self._responses[key] = json.dumps(answer).encode()
        return status, self._responses[key]
