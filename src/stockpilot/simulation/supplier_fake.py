"""In-process supplier APIs for the operations run, behind `httpx.MockTransport`.

The real `po.http` adapter (adapters/suppliers/http_api.py) POSTs each PO as JSON with its Idempotency-Key and a
bearer token; this fake answers as the loopback fake of the tests does: a wrong token 401; an outage 503 with
Retry-After; a replayed key the very same answer; a new order 201 with the synchronous acknowledgement shape
`parse_ack_response` reads, or 202 {"status": "received"} from a supplier that does not acknowledge.
Nothing leaves the process; each request is stamped with the simulated clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from stockpilot.domain.clock import Clock

HOST = "suppliers.sim.invalid"


def api_url(code: str) -> str:
    return f"http://{HOST}/{code}/orders"


@dataclass
class Received:
    at: float  # simulated epoch seconds
    supplier: str
    key: str
    po_number: str | None
    revision: int | None
    kind: str | None  # new | change | cancel
    status: int


@dataclass
class SupplierFake:
    clock: Clock
    token: str
    rng: np.random.Generator
    outage: float = 0.0
    silent: frozenset[str] = frozenset()
    requests: list[Received] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # Idempotency-Key -> first accepted body
    _answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        code = request.url.path.strip("/").split("/")[0]
        key = request.headers.get("Idempotency-Key", "")
        at = self.clock.now().timestamp()
        try:
            body = json.loads(request.content)
        except ValueError:
            body = {}
        number, revision, kind = body.get("po_number"), body.get("revision"), body.get("kind")

        def answer(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
            self.requests.append(Received(at, code, key, number, revision, kind, status))
            return httpx.Response(status, json=payload, headers=headers)

        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return answer(401, {"error": "unauthorized"})
        if self.outage > 0 and self.rng.random() < self.outage:
            return answer(503, {"error": "temporarily unavailable"}, {"Retry-After": "30"})
        if key in self._answers:
            status, raw = self._answers[key]
            self.requests.append(Received(at, code, key, number, revision, kind, status))
            return httpx.Response(status, content=raw, headers={"Content-Type": "application/json"})
        self.orders[key] = body
        if code in self.silent:
            status, payload = 202, {"status": "received"}
        else:
            status, payload = 201, {"status": "acknowledged", "supplier_reference": f"{code}-{len(self.orders)}",
                                    "lines": [{"line": ln["line"], "quantity_confirmed": ln["quantity"],
                                               "ship_date": None} for ln in body.get("lines", [])]}
        raw = json.dumps(payload).encode()
        self._answers[key] = (status, raw)
        self.requests.append(Received(at, code, key, number, revision, kind, status))
        return httpx.Response(status, content=raw, headers={"Content-Type": "application/json"})
