"""POST /webhooks/* without FastAPI's routing and threadpool hop, with concurrent deliveries sharing one commit.

A platform may send a burst of thousands of deliveries a second and wants an answer within seconds (Shopify: 5 s),
so this ASGI middleware answers the ordinary case directly: a whole body within the limit, a registered store, a
valid signature. It calls the intake's own steps (`WebhookIntake.channel`, `verify`, `new_delivery`) and hands the
delivery to `DeliveryBatcher`, which persists every delivery waiting at that moment together (`WebhookIntake.persist`:
the delivery rows and their outbox rows, one statement on PostgreSQL), and only then the 200 goes out: nothing is
answered before it is durable. Anything else (an oversized or unfinished body, an unknown store, a bad signature,
WooCommerce's unsigned ping) is handed on, body included, to the FastAPI route in channel_routes.py, which gives
its usual 413/404/401/pong answers: the two paths cannot disagree about errors, and the routes stay the documented
ones (OpenAPI).
"""

from __future__ import annotations

import asyncio
import re

from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockpilot.adapters.db.database import WriterBusy
from stockpilot.adapters.db.delivery_intake_store import NewDelivery
from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import NotFound
from stockpilot.services.webhook_intake import MAX_BODY_BYTES, Accepted, SignatureInvalid

_ROUTE = re.compile(r"^/webhooks/(?:(shopify)|(woocommerce|bigcommerce)(?:/([^/]+))?|(standard)/([^/]+))$")
MAX_BATCH = 256  # deliveries per commit; a bound on how long one transaction holds the writer
# PostgreSQL: batches stored at once. A batch's time there is mostly waiting on the server, not a single writer,
# so while one batch's statement travels the next can already go: a delivery then waits for about one batch, not
# for the rest of the batch in flight and then its own. Small: each takes a pooled connection and a thread.
PG_BATCHES_AT_ONCE = 3


def route_of(path: str) -> tuple[str, str | None] | None:
    """(kind, store name or None) for a webhook path, as the FastAPI routes declare them."""
    match = _ROUTE.match(path)
    if match is None:
        return None
    if match[1]:
        return "shopify", None
    if match[2]:
        return match[2], match[3]
    return "standard", match[5]


class DeliveryBatcher:
    """Deliveries that arrive while a commit is running wait for the next one, all together.

    A delivery that finds fewer drain tasks running than allowed (SQLite: one, its single writer; PostgreSQL:
    PG_BATCHES_AT_ONCE) starts one; every delivery that reaches `submit` before a drain takes the batch (one
    event-loop turn later, or while the drains' commits run) joins it. SQLite with the writer free: the commit
    runs inline on the event loop (a few rows, well under a millisecond, cheaper than a thread hop); otherwise,
    and always on PostgreSQL, in a thread, while the loop keeps reading the next requests.
    """

    def __init__(self, sp: Stockpilot) -> None:
        self.sp = sp
        self._waiting: list[tuple[NewDelivery, asyncio.Future[Accepted]]] = []
        self._drains = 0
        self._max_drains = 1 if sp.db.is_sqlite else PG_BATCHES_AT_ONCE

    async def submit(self, delivery: NewDelivery) -> Accepted:
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        if self._drains < self._max_drains:
            self._drains += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                await asyncio.sleep(0)  # requests already read this turn join the batch
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                if not batch:  # another drain took them
                    break
                items = [delivery for delivery, _ in batch]
                try:
                    results = await self._persist(items)
                except Exception as exc:  # the transaction failed whole: nothing of the batch was stored
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._drains -= 1


    async def _persist(self, items: list[NewDelivery]) -> list[Accepted]:
        if self.sp.db.is_sqlite:
            try:
                with self.sp.db.without_waiting():
                    return self.sp.webhook_intake.persist(items)
            except WriterBusy:
                pass
        # PostgreSQL always (a statement waits on the network), SQLite when the writer is taken: in a thread.
        return await to_thread.run_sync(self.sp.webhook_intake.persist, items)


class WebhookFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._batcher: DeliveryBatcher | None = None  # made on first use: its futures belong to the running loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = route_of(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await self.app(scope, receive, send)  # the route answers 413 without reading it
            return
        chunks, finished = await _read_body(receive)
        body = b"".join(chunks)
        sp: Stockpilot = scope["app"].state.stockpilot
        with sp.foreground.busy():  # the embedded worker lets the platform's request go first
            delivery = None if not finished or (route[0] == "woocommerce" and "x-wc-webhook-signature" not in
                                                headers) else await _verified(sp, route, headers, body)
            if delivery is None:
                await self.app(scope, _replay(chunks, finished, receive), send)
                return
            if self._batcher is None:
                self._batcher = DeliveryBatcher(sp)
            accepted = await self._batcher.submit(delivery)
            await _answer_accepted(send, accepted)


async def _verified(sp: Stockpilot, route: tuple[str, str | None], headers: dict[str, str],
                    body: bytes) -> NewDelivery | None:
    """The delivery to persist, or None when the route must answer (unknown store, bad signature)."""
    kind, name = route
    intake = sp.webhook_intake
    try:
        channel = intake.cached_channel(kind, name, headers, body)
        if channel is None:
            channel = await to_thread.run_sync(intake.channel, kind, name, headers, body)
        received = intake.verify(kind, channel, headers, body)
    except (NotFound, SignatureInvalid):
        return None
    return intake.new_delivery(channel, received, headers, body)


async def _answer_accepted(send: Send, accepted: Accepted) -> None:
    """200 with the route's JSON body (`{"status": "accepted", "delivery": id, "duplicate": bool}`), written as
    bytes: a JSONResponse cost more than the rest of the answer."""
    body = (b'{"status":"accepted","delivery":' + (b"null" if accepted.delivery_id is None else
                                                    str(accepted.delivery_id).encode())
            + b',"duplicate":' + (b"true" if accepted.duplicate else b"false") + b"}")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> tuple[list[bytes], bool]:
    """The body's chunks, up to MAX_BODY_BYTES; finished is False if it is longer or the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return chunks, False
        if not message.get("more_body", False):
            return chunks, True


def _replay(chunks: list[bytes], finished: bool, receive: Receive) -> Receive:
    """The chunks already read, then whatever the client still sends (a disconnect, the rest of a long body)."""
    pending = list(chunks) or [b""]

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or not finished}
        return await receive()

    return replay
