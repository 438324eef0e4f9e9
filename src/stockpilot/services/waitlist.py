"""The back-in-stock waitlist: customers join per SKU; when units become sellable they are told in waves.

Release: the `waitlist` consumer reads BackInStock and StockChanged events where available rose (never `incoming`:
a PO placed is not stock). If no wave is pending for the SKU, it tells the oldest waiting entries, at most
ceil(available x (1 + waitlist_over_notify)), each notice an outbox row keyed by (entry, wave); the entries are
marked notified in the same transaction, so a replayed event finds nobody left to tell twice. If people still wait,
a durable timer checks again after `waitlist_wave_minutes` and sends the next wave only if units remain. Every
wave is a decision-log entry on the SKU.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import skus, stock_levels, waitlist
from stockpilot.adapters.notify.customer_email import TOPIC
from stockpilot.adapters.notify.unsubscribe import UnsubscribeTokenInvalid, sign_unsubscribe, verify_unsubscribe
from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.waitlist import NOTIFIED, UNSUBSCRIBED, WAITING, available_rose, normalise_email, wave_size
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.runtime.consumers import Consumer, Event
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku
from stockpilot.services.secrets import app_secret

CONSUMER = "waitlist"
WAVE_TIMER = "waitlist.wave"


class WaitlistService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- people ------------------------------------------------------------------------------------------------
    def join(self, sku: str, email: str, consent: bool) -> dict[str, Any]:
        if consent is not True:
            raise ValidationFailed("consent: the customer must agree to be emailed")
        address = normalise_email(email)

        def work(conn: Connection) -> dict[str, Any]:
            ref = require_sku(conn, sku)
            now = self.ctx.clock.now()
            # An address that unsubscribed stays suppressed: anyone can post a form, so a new join cannot undo it.
            suppressed = conn.execute(select(waitlist.c.id).where(
                waitlist.c.email == address, waitlist.c.status == UNSUBSCRIBED).limit(1)).first() is not None
            conn.execute(  # the same email and SKU twice is one entry, with its first place in the queue
                insert_or_ignore(conn, waitlist)
                .values(sku_id=ref.id, email=address, status=UNSUBSCRIBED if suppressed else WAITING,
                        created_at=now, unsubscribed_at=now if suppressed else None)
                .on_conflict_do_nothing(index_elements=["sku_id", "email"])
            )
            row = conn.execute(_entries().where(waitlist.c.sku_id == ref.id, waitlist.c.email == address)).one()
            return _describe(row)

        return self.ctx.db.write(work)

    def list(self, sku: str, *, status: str | None = None, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            stmt = _entries().where(waitlist.c.sku_id == require_sku(conn, sku).id, waitlist.c.id > after)
            if status:
                stmt = stmt.where(waitlist.c.status == status)
            return [_describe(r) for r in conn.execute(stmt.order_by(waitlist.c.id).limit(limit))]

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """The contact clicked the signed link: every entry of that address stops, on every SKU."""
        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            try:
                entry_id = verify_unsubscribe(token, app_secret(conn, "waitlist", now))
            except UnsubscribeTokenInvalid as exc:
                raise ValidationFailed(str(exc)) from None
            email = conn.execute(select(waitlist.c.email).where(waitlist.c.id == entry_id)).scalar_one_or_none()
            if email is None:
                raise ValidationFailed("unsubscribe link names no waitlist entry")
            conn.execute(update(waitlist).where(waitlist.c.email == email, waitlist.c.status != UNSUBSCRIBED)
                         .values(status=UNSUBSCRIBED, unsubscribed_at=now))
            return {"email": email, "status": UNSUBSCRIBED}

        return self.ctx.db.write(work)

    def still_subscribed(self, entry_id: int) -> bool:
        with self.ctx.db.read() as conn:
            status = conn.execute(select(waitlist.c.status).where(waitlist.c.id == entry_id)).scalar_one_or_none()
        return status is not None and status != UNSUBSCRIBED

    # ---- runtime -----------------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.on_event, kinds={"BackInStock", "StockChanged"},
                        accepts=lambda event: available_rose(event.kind, event.payload))

    def timer_handlers(self) -> dict[str, Any]:
        return {WAVE_TIMER: self._on_wave_timer}

    def on_event(self, conn: Connection, event: Event) -> None:
        if not available_rose(event.kind, event.payload):
            return
        sku_id = conn.execute(select(skus.c.id).where(skus.c.sku == event.sku)).scalar_one_or_none()
        if sku_id is None or timers.has_scheduled(conn, _key(event.sku), WAVE_TIMER):
            return  # a wave is already out: the timer decides the next one, so a burst of receipts is one wave
        if not _waiting(conn, sku_id):
            return
        self._wave(conn, sku_id, event.sku, f"event {event.id} ({event.kind})")

    def _on_wave_timer(self, conn: Connection, payload: dict[str, Any]) -> None:
        sku = str(payload["sku"])
        sku_id = conn.execute(select(skus.c.id).where(skus.c.sku == sku)).scalar_one_or_none()
        if sku_id is not None and _waiting(conn, sku_id):
            self._wave(conn, sku_id, sku, "wave interval elapsed")

    def _wave(self, conn: Connection, sku_id: int, sku: str, trigger: str) -> None:
        now = self.ctx.clock.now()
        settings = self.ctx.settings
        available = _available(conn, sku_id)
        waiting = _waiting(conn, sku_id)
        size = wave_size(available, settings.waitlist_over_notify)
        inputs = {"trigger": trigger, "available": available, "over_notify": settings.waitlist_over_notify,
                  "waiting": waiting}
        if size == 0:  # units gone since the last wave: stop until stock comes back (a new event starts again)
            decisions.record(conn, sku, "waitlist_wave", inputs, [], None,
                             f"{available} units available: nobody notified, {waiting} wait", now)
            return
        wave = (conn.execute(select(func.max(waitlist.c.wave)).where(waitlist.c.sku_id == sku_id)).scalar_one()
                or 0) + 1
        chosen = conn.execute(
            select(waitlist.c.id, waitlist.c.email)
            .where(waitlist.c.sku_id == sku_id, waitlist.c.status == WAITING)
            .order_by(waitlist.c.created_at, waitlist.c.id)  # first come, first served
            .limit(size)
        ).all()
        secret = app_secret(conn, "waitlist", now)
        for entry in chosen:
            url = f"{settings.public_url.rstrip('/')}/unsubscribe/{sign_unsubscribe(entry.id, secret)}"
            outbox.enqueue(conn, TOPIC, _notice(entry.id, entry.email, sku, url), f"waitlist:{entry.id}:{wave}", now)
        ids = [e.id for e in chosen]
        conn.execute(update(waitlist).where(waitlist.c.id.in_(ids), waitlist.c.status == WAITING)
                     .values(status=NOTIFIED, wave=wave, notified_at=now))
        left = waiting - len(ids)
        if left:
            timers.schedule(conn, WAVE_TIMER, _key(sku), now + timedelta(minutes=settings.waitlist_wave_minutes),
                            {"sku": sku}, now=now)
        decisions.record(conn, sku, "waitlist_wave", inputs, [], {"wave": wave, "notified": ids},
                         f"{available} units available: notified {len(ids)} (oldest first), {left} wait", now)


def _notice(entry_id: int, email: str, sku: str, unsubscribe_url: str) -> dict[str, Any]:
    body = (f"Good news: {sku} is back in stock.\n\nYou asked us to tell you. Stock is limited and goes to whoever "
            f"orders first.\n\nTo stop these emails: {unsubscribe_url}\n")
    return {"entry_id": entry_id, "to": email, "subject": f"{sku} is back in stock", "body": body,
            "unsubscribe_url": unsubscribe_url}


def _key(sku: str) -> str:
    return f"waitlist:{sku}"


def _available(conn: Connection, sku_id: int) -> int:
    total = select(func.coalesce(func.sum(stock_levels.c.on_hand - stock_levels.c.committed
                                          - stock_levels.c.reserved), 0)).where(stock_levels.c.sku_id == sku_id)
    return int(conn.execute(total).scalar_one())


def _waiting(conn: Connection, sku_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(waitlist)
                            .where(waitlist.c.sku_id == sku_id, waitlist.c.status == WAITING)).scalar_one())


def _entries() -> Any:
    return select(waitlist.c.id, skus.c.sku, waitlist.c.email, waitlist.c.status, waitlist.c.wave,
                  waitlist.c.created_at, waitlist.c.notified_at).join(skus, skus.c.id == waitlist.c.sku_id)


def _describe(row: Any) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {"id": row.id, "sku": row.sku, "email": row.email, "status": row.status, "wave": row.wave,
            "created_at": iso(row.created_at), "notified_at": iso(row.notified_at)}



