"""Releasing the waitlist in waves when units become sellable, respecting each contact's cap and quiet hours.

The `waitlist` consumer reads BackInStock and StockChanged events where available rose (never `incoming`: a PO
placed is not stock). If no wave is pending for the SKU, it tells the oldest waiting entries, at most
ceil(available x (1 + waitlist_over_notify)), each notice an outbox row keyed by (entry, wave); the entries are
marked notified in the same transaction, so a replayed event finds nobody left to tell twice. If people still wait,
a durable timer checks again after `waitlist_wave_minutes` and sends the next wave only if units remain. Every
wave is a decision-log entry on the SKU.

Per contact:
- frequency cap: a contact already told `waitlist_cap_messages` times in the last `waitlist_cap_days` (over every
  SKU) is stepped over and keeps its place for a later wave; the wave fills from the people behind it. The check
  and the count are one step: each notice claims one of the contact's cap slots (adapters/db/waitlist_cap_store.py)
  with a guarded statement, after the entry's own guarded waiting -> notified; a lost claim puts the entry back.
  Waves of different SKUs racing for one contact (two workers) therefore cannot exceed the cap;
- quiet hours (`waitlist_quiet_hours`, in the contact's IANA time zone, else `waitlist_default_timezone`): a
  notice due inside the window is not dropped but deferred: a `waitlist.deliver` timer queues it at the window's
  end (`deliver_at` on the entry), and the send still checks the contact has not unsubscribed meanwhile;
- unconfirmed (double opt-in) and unsubscribed entries are never chosen: only `waiting` ones are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, and_, func, or_, select, update

from stockpilot.adapters.db import waitlist_cap_store as cap_store
from stockpilot.adapters.db.tables import skus, stock_levels, waitlist
from stockpilot.adapters.notify.customer_email import TOPIC as EMAIL_TOPIC
from stockpilot.adapters.notify.sms import TOPIC as SMS_TOPIC
from stockpilot.adapters.notify.unsubscribe import sign_unsubscribe
from stockpilot.config import ConfigError
from stockpilot.domain.waitlist import (
    NOTIFIED,
    WAITING,
    available_rose,
    parse_quiet_hours,
    quiet_until,
    wave_size,
)
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.runtime.consumers import Consumer, Event
from stockpilot.services.context import Context
from stockpilot.services.secrets import app_secret

CONSUMER = "waitlist"
WAVE_TIMER = "waitlist.wave"
DELIVER_TIMER = "waitlist.deliver"  # a notice held back by the contact's quiet hours
_BATCH = 500


class WaveRelease:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        try:  # a setting that cannot be used stops start-up with its name, not the first wave
            self.quiet = parse_quiet_hours(ctx.settings.waitlist_quiet_hours)
            ZoneInfo(ctx.settings.waitlist_default_timezone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ConfigError(f"waitlist_quiet_hours / waitlist_default_timezone: {exc}") from None

    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.on_event, kinds={"BackInStock", "StockChanged"},
                        accepts=lambda event: available_rose(event.kind, event.payload))

    def timer_handlers(self) -> dict[str, Any]:
        return {WAVE_TIMER: self._on_wave_timer, DELIVER_TIMER: self._on_deliver_timer}

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

    def _on_deliver_timer(self, conn: Connection, payload: dict[str, Any]) -> None:
        entry = conn.execute(_contact_columns().where(waitlist.c.id == int(payload["entry_id"]))).first()
        if entry is not None and entry.status == NOTIFIED:  # unsubscribed meanwhile: nothing goes out
            self._send(conn, entry, str(payload["sku"]), int(payload["wave"]), self.ctx.clock.now())

    def _wave(self, conn: Connection, sku_id: int, sku: str, trigger: str) -> None:
        now = self.ctx.clock.now()
        settings = self.ctx.settings
        available = _available(conn, sku_id)
        waiting = _waiting(conn, sku_id)
        size = wave_size(available, settings.waitlist_over_notify)
        inputs = {"trigger": trigger, "available": available, "over_notify": settings.waitlist_over_notify,
                  "waiting": waiting, "cap": [settings.waitlist_cap_messages, settings.waitlist_cap_days],
                  "quiet_hours": settings.waitlist_quiet_hours}
        if size == 0:  # units gone since the last wave: stop until stock comes back (a new event starts again)
            decisions.record(conn, sku, "waitlist_wave", inputs, [], None,
                             f"{available} units available: nobody notified, {waiting} wait", now)
            return
        wave = (conn.execute(select(func.max(waitlist.c.wave)).where(waitlist.c.sku_id == sku_id)).scalar_one()
                or 0) + 1
        chosen, capped = self._choose(conn, sku_id, size, wave, now)
        deferred = 0
        for entry, until in chosen:
            if until is None:
                self._send(conn, entry, sku, wave, now)
            else:
                deferred += 1
                timers.schedule(conn, DELIVER_TIMER, f"waitlist-entry:{entry.id}", until,
                                {"entry_id": entry.id, "sku": sku, "wave": wave}, now=now)
        ids = [e.id for e, _until in chosen]
        left = waiting - len(ids)
        if left:
            timers.schedule(conn, WAVE_TIMER, _key(sku), now + timedelta(minutes=settings.waitlist_wave_minutes),
                            {"sku": sku}, now=now)
        extra = "".join([f", {len(capped)} over their message cap keep their place" if capped else "",
                         f", {deferred} held until their quiet hours end" if deferred else ""])
        decisions.record(conn, sku, "waitlist_wave", inputs, [],
                         {"wave": wave, "notified": ids, "capped": [e.id for e in capped], "deferred": deferred},
                         f"{available} units available: notified {len(ids)} (oldest first){extra}, {left} wait", now)

    def _choose(self, conn: Connection, sku_id: int, size: int, wave: int,
                now: datetime) -> tuple[list[tuple[Any, datetime | None]], list[Any]]:
        """Tell the oldest waiting entries whose contact is under the frequency cap, up to `size`: each marked
        notified and its cap slot claimed in this transaction. Returns (entry, held until) pairs, and those
        stepped over for the cap (they keep their place)."""
        cap = self.ctx.settings.waitlist_cap_messages
        since = now - timedelta(days=self.ctx.settings.waitlist_cap_days)
        chosen: list[tuple[Any, datetime | None]] = []
        capped: list[Any] = []
        after: Any = None  # keyset paging: entries are marked as we go, so an OFFSET would skip people
        while len(chosen) < size:
            query = _contact_columns().where(waitlist.c.sku_id == sku_id, waitlist.c.status == WAITING)
            if after is not None:
                query = query.where(or_(waitlist.c.created_at > after.created_at,
                                        and_(waitlist.c.created_at == after.created_at, waitlist.c.id > after.id)))
            batch = conn.execute(query.order_by(waitlist.c.created_at, waitlist.c.id)  # first come, first served
                                 .limit(max(size - len(chosen), 1) if cap <= 0 else _BATCH)).all()
            if not batch:
                break
            after = batch[-1]
            free = cap_store.free_slots(conn, [_contact(e) for e in batch], cap, since) if cap > 0 else {}
            for entry in batch:
                if cap > 0 and not free[_contact(entry)]:
                    capped.append(entry)
                    continue
                until = quiet_until(now, self._zone(entry.timezone), self.quiet)
                if not self._mark(conn, entry.id, wave, now, until):
                    continue  # no longer waiting: another wave or an unsubscribe got there first
                if cap > 0 and cap_store.claim(conn, _contact(entry), free[_contact(entry)], entry.id, since,
                                               now) is None:
                    # A wave of another SKU took the contact's last slot since we read it: not this time.
                    self._unmark(conn, entry.id)
                    capped.append(entry)
                    continue
                chosen.append((entry, until))
                if len(chosen) == size:
                    break
        return chosen, capped

    def _mark(self, conn: Connection, entry_id: int, wave: int, now: datetime, until: datetime | None) -> bool:
        """waiting -> notified, guarded: a racing wave or an unsubscribe that got there first wins."""
        return conn.execute(update(waitlist).where(waitlist.c.id == entry_id, waitlist.c.status == WAITING)
                            .values(status=NOTIFIED, wave=wave, notified_at=now, deliver_at=until or now)
                            ).rowcount == 1

    def _unmark(self, conn: Connection, entry_id: int) -> None:
        # We hold the row since _mark; a waiting entry has no wave or dates.
        conn.execute(update(waitlist).where(waitlist.c.id == entry_id, waitlist.c.status == NOTIFIED)
                     .values(status=WAITING, wave=None, notified_at=None, deliver_at=None))

    def _send(self, conn: Connection, entry: Any, sku: str, wave: int, now: datetime) -> None:
        secret = app_secret(conn, "waitlist", now)
        url = f"{self.ctx.settings.public_url.rstrip('/')}/unsubscribe?token={sign_unsubscribe(entry.id, secret)}"
        key = f"waitlist:{entry.id}:{wave}"
        if entry.email:
            outbox.enqueue(conn, EMAIL_TOPIC, _notice(entry.id, entry.email, sku, url), key, now)
        else:
            body = f"{sku} is back in stock; limited units, first to order gets them. Stop these texts: {url}"
            outbox.enqueue(conn, SMS_TOPIC, {"entry_id": entry.id, "to": entry.phone, "body": body}, key, now)

    def _zone(self, name: str | None) -> ZoneInfo:
        return ZoneInfo(name or self.ctx.settings.waitlist_default_timezone)


def _notice(entry_id: int, email: str, sku: str, unsubscribe_url: str) -> dict[str, Any]:
    body = (f"Good news: {sku} is back in stock.\n\nYou asked us to tell you. Stock is limited and goes to whoever "
            f"orders first.\n\nTo stop these emails: {unsubscribe_url}\n")
    return {"entry_id": entry_id, "to": email, "subject": f"{sku} is back in stock", "body": body,
            "unsubscribe_url": unsubscribe_url}


def _contact(entry: Any) -> str:
    return str(entry.email or entry.phone)


def _key(sku: str) -> str:
    return f"waitlist:{sku}"


def _contact_columns() -> Any:
    return select(waitlist.c.id, waitlist.c.email, waitlist.c.phone, waitlist.c.timezone, waitlist.c.status,
                  waitlist.c.created_at)


def _available(conn: Connection, sku_id: int) -> int:
    total = select(func.coalesce(func.sum(stock_levels.c.on_hand - stock_levels.c.committed
                                          - stock_levels.c.reserved), 0)).where(stock_levels.c.sku_id == sku_id)
    return int(conn.execute(total).scalar_one())


def _waiting(conn: Connection, sku_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(waitlist)
                            .where(waitlist.c.sku_id == sku_id, waitlist.c.status == WAITING)).scalar_one())
