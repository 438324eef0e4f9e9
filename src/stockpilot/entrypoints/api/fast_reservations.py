"""POST /api/v1/reservations without FastAPI's routing, dependency injection and response machinery.

A flash sale is this one request, thousands of times a second, and on a small machine FastAPI's generic layers
cost several times what the reservation itself does. This ASGI middleware answers it directly when the request
is the ordinary case: a bearer token this process already trusts, a JSON body that `ReservationIn` accepts.
It then does exactly what the FastAPI route does (routes.answer_reservation: same service call, metrics and
answers; same error bodies for domain errors) and sends the same bytes. Anything else (no or invalid token,
another content type, malformed JSON or a body the schema refuses) is handed on, body included, to the FastAPI
route, which gives its usual 401/422 answers: the two paths cannot disagree about errors. The route stays the
documented one (OpenAPI).
"""

from __future__ import annotations

import json

from anyio import CapacityLimiter, to_thread
from pydantic import ValidationError
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockpilot.adapters.db.database import WriterBusy
from stockpilot.entrypoints.api import routes, schemas

PATH = routes.router.prefix + "/reservations"


class ReservationFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limiter: CapacityLimiter | None = None  # made on first use: it belongs to the running event loop

    def _threads(self, state: State) -> CapacityLimiter | None:
        """SQLite: at most two reservations in threads. Its writes queue on one mutex anyway; 32 threads blocked
        there only fight over the GIL. Two keep the next one ready while one holds the mutex. PostgreSQL: anyio's
        default limiter, as FastAPI uses (its writers wait on the network and on row locks, in parallel)."""
        if self._limiter is None and state.stockpilot.db.is_sqlite:
            self._limiter = CapacityLimiter(2)
        return self._limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        parsed = None if more else _accepted(scope, body)
        if parsed is None:
            await self.app(scope, _replay(body, more, receive), send)
            return
        state = scope["app"].state
        sp = state.stockpilot
        with sp.foreground.busy():  # the embedded worker lets a buyer go first (runtime/foreground.py)
            try:
                # SQLite with the writer free: inline, ~0.1 ms, cheaper than the hop to a thread and back.
                with sp.db.without_waiting():
                    status, content = routes.answer_reservation(sp, state.metrics, parsed)
            except WriterBusy:  # it would have waited (and always on PostgreSQL): in a thread, as FastAPI runs it
                status, content = await to_thread.run_sync(
                    routes.answer_reservation, sp, state.metrics, parsed, limiter=self._threads(state)
                )
            payload = routes.render_json(content)
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json"),
            ]})
            await send({"type": "http.response.body", "body": payload})


def _accepted(scope: Scope, body: bytes) -> schemas.ReservationIn | None:
    """The validated body of an authorised JSON request; None hands the request to the FastAPI route."""
    token = content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = value
        elif name == b"content-type":
            content_type = value
    if token is None or content_type is None or not body:
        return None
    if content_type.split(b";", 1)[0].strip().lower() != b"application/json":
        return None
    scheme, _, credential = token.decode("latin-1").partition(" ")
    # As require_token checks it (a known token is a set lookup; a first sight reads the database).
    if scheme.lower() != "bearer" or not scope["app"].state.stockpilot.tokens.verify(credential.strip()):
        return None
    try:
        # As FastAPI does it: json.loads (Starlette's Request.json), then the model in Python mode.
        parsed = schemas.ReservationIn.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    # A refusal that enrols the buyer in a waitlist (notify_me) writes, so it takes the ordinary route.
    return None if parsed.notify_me else parsed


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body; (partial, True) if the client went away first (the route then sees the disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent or disconnected:
            return {"type": "http.disconnect"} if disconnected else await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
