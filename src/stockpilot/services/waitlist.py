"""The back-in-stock waitlist, people's side: join (email or phone), confirm (double opt-in), unsubscribe, list.

Releasing notices when stock arrives is `services/waitlist_waves.py`; this service hands the runtime its consumer
and timers. A contact is an email address or an E.164 phone number; an unsubscribe covers every entry of that
contact, and a later join of a suppressed contact is stored unsubscribed (anyone can post a form). With
`waitlist_double_opt_in` a new entry is `unconfirmed` and gets one confirmation message with a signed link;
unconfirmed entries are never notified.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, select, update

from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import app_secrets, skus, waitlist
from stockpilot.adapters.notify.customer_email import CONFIRM_TOPIC
from stockpilot.adapters.notify.sms import TOPIC as SMS_TOPIC
from stockpilot.adapters.notify.unsubscribe import (
    UnsubscribeTokenInvalid,
    sign_confirmation,
    verify_confirmation,
    verify_unsubscribe,
)
from stockpilot.domain.errors import ValidationFailed
from stockpilot.domain.waitlist import (
    UNCONFIRMED,
    UNSUBSCRIBED,
    WAITING,
    normalise_email,
    normalise_phone,
)
from stockpilot.runtime import outbox
from stockpilot.runtime.consumers import Consumer
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku
from stockpilot.services.secrets import app_secret
from stockpilot.services.waitlist_waves import WaveRelease

SOURCES = ("api", "form", "refused")


class WaitlistService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.waves = WaveRelease(ctx)

    # ---- people ------------------------------------------------------------------------------------------------
    def join(self, sku: str, email: str | None, consent: bool, *, phone: str | None = None,
             timezone: str | None = None, source: str = "api") -> dict[str, Any]:
        if consent is not True:
            raise ValidationFailed("consent: the customer must agree to be told")
        if (email is None) == (phone is None):
            raise ValidationFailed("email or phone: give exactly one way to reach the customer")
        contact = {"email": normalise_email(email)} if email is not None else {"phone": normalise_phone(phone)}
        zone = check_timezone(timezone) if timezone else None
        double_opt_in = self.ctx.settings.waitlist_double_opt_in

        def work(conn: Connection) -> dict[str, Any]:
            ref = require_sku(conn, sku)
            now = self.ctx.clock.now()
            # A contact that unsubscribed stays suppressed: anyone can post a form, so a new join cannot undo it.
            suppressed = conn.execute(select(waitlist.c.id).where(
                _same_contact(contact), waitlist.c.status == UNSUBSCRIBED).limit(1)).first() is not None
            status = UNSUBSCRIBED if suppressed else UNCONFIRMED if double_opt_in else WAITING
            created = conn.execute(  # the same contact and SKU twice is one entry, with its first place in the queue
                insert_or_ignore(conn, waitlist)
                .values(sku_id=ref.id, status=status, created_at=now, unsubscribed_at=now if suppressed else None,
                        timezone=zone, source=source, **contact)
                .on_conflict_do_nothing(index_elements=["sku_id", next(iter(contact))])
                .returning(waitlist.c.id)
            ).scalar_one_or_none()
            row = conn.execute(_entries().where(waitlist.c.sku_id == ref.id, _same_contact(contact))).one()
            if created is not None and status == UNCONFIRMED:
                self._ask_confirmation(conn, row, now)
            return describe(row)

        return self.ctx.db.write(work)

    def confirm(self, token: str) -> dict[str, Any]:
        """The contact clicked the signed confirmation link (and pressed the button): the entry starts waiting."""
        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            entry_id = self._verified(conn, token, verify_confirmation, now)
            conn.execute(update(waitlist).where(waitlist.c.id == entry_id, waitlist.c.status == UNCONFIRMED)
                         .values(status=WAITING, confirmed_at=now))
            return describe(conn.execute(_entries().where(waitlist.c.id == entry_id)).one())

        return self.ctx.db.write(work)

    def list(self, sku: str, *, status: str | None = None, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            stmt = _entries().where(waitlist.c.sku_id == require_sku(conn, sku).id, waitlist.c.id > after)
            if status:
                stmt = stmt.where(waitlist.c.status == status)
            return [describe(r) for r in conn.execute(stmt.order_by(waitlist.c.id).limit(limit))]

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """The contact clicked the signed link: every entry of that contact stops, on every SKU."""
        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            entry_id = self._verified(conn, token, verify_unsubscribe, now)
            row = conn.execute(select(waitlist.c.email, waitlist.c.phone).where(waitlist.c.id == entry_id)).first()
            if row is None:
                raise ValidationFailed("unsubscribe link names no waitlist entry")
            contact = {"email": row.email} if row.email else {"phone": row.phone}
            conn.execute(update(waitlist).where(_same_contact(contact), waitlist.c.status != UNSUBSCRIBED)
                         .values(status=UNSUBSCRIBED, unsubscribed_at=now))
            return {**contact, "status": UNSUBSCRIBED}

        return self.ctx.db.write(work)

    def unsubscribe_target(self, token: str) -> dict[str, Any]:
        """Whom an unsubscribe link would stop, changing nothing (the page a GET shows before the POST acts)."""
        with self.ctx.db.read() as conn:
            secret = conn.execute(select(app_secrets.c.value).where(app_secrets.c.name == "waitlist")
                                  ).scalar_one_or_none()
            try:
                if secret is None:  # no link was ever signed, so this one cannot be authentic
                    raise UnsubscribeTokenInvalid("unsubscribe link signature does not match")
                entry_id = verify_unsubscribe(token, secret)
            except UnsubscribeTokenInvalid as exc:
                raise ValidationFailed(str(exc)) from None
            row = conn.execute(select(waitlist.c.email, waitlist.c.phone).where(waitlist.c.id == entry_id)).first()
        if row is None:
            raise ValidationFailed("unsubscribe link names no waitlist entry")
        return {"email": row.email} if row.email else {"phone": row.phone}

    def still_subscribed(self, entry_id: int) -> bool:
        with self.ctx.db.read() as conn:
            status = conn.execute(select(waitlist.c.status).where(waitlist.c.id == entry_id)).scalar_one_or_none()
        return status is not None and status != UNSUBSCRIBED

    # ---- runtime -----------------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return self.waves.consumer()

    def timer_handlers(self) -> dict[str, Any]:
        return self.waves.timer_handlers()

    # ---- helpers -----------------------------------------------------------------------------------------------
    def _ask_confirmation(self, conn: Connection, row: Any, now: datetime) -> None:
        url = (f"{self.ctx.settings.public_url.rstrip('/')}/waitlist/confirm/"
               f"{sign_confirmation(row.id, app_secret(conn, 'waitlist', now))}")
        key = f"waitlist:confirm:{row.id}"
        if row.email:
            body = (f"Please confirm that you want to hear when {row.sku} is back in stock:\n\n{url}\n\n"
                    "If you did not ask for this, ignore this email: you will not hear from us.\n")
            outbox.enqueue(conn, CONFIRM_TOPIC, {"entry_id": row.id, "to": row.email, "body": body,
                                                 "subject": f"Confirm: tell me when {row.sku} is back"}, key, now)
        else:
            outbox.enqueue(conn, SMS_TOPIC, {"entry_id": row.id, "to": row.phone,
                                             "body": f"Confirm back-in-stock texts for {row.sku}: {url}"}, key, now)

    def _verified(self, conn: Connection, token: str, verify: Any, now: datetime) -> int:
        try:
            return int(verify(token, app_secret(conn, "waitlist", now)))
        except UnsubscribeTokenInvalid as exc:
            raise ValidationFailed(str(exc)) from None


def check_timezone(name: str) -> str:
    """An IANA time zone name the system knows (quiet hours are judged in it), or ValidationFailed."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"timezone: not an IANA time zone: {name!r}") from None
    return name


def _same_contact(contact: dict[str, str]) -> Any:
    return waitlist.c.email == contact["email"] if "email" in contact else waitlist.c.phone == contact["phone"]


def _entries() -> Any:
    return select(waitlist.c.id, skus.c.sku, waitlist.c.email, waitlist.c.phone, waitlist.c.timezone,
                  waitlist.c.status, waitlist.c.wave, waitlist.c.source, waitlist.c.created_at,
                  waitlist.c.confirmed_at, waitlist.c.notified_at, waitlist.c.deliver_at
                  ).join(skus, skus.c.id == waitlist.c.sku_id)


def describe(row: Any) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {"id": row.id, "sku": row.sku, "email": row.email, "phone": row.phone, "timezone": row.timezone,
            "status": row.status, "wave": row.wave, "source": row.source, "created_at": iso(row.created_at),
            "confirmed_at": iso(row.confirmed_at), "notified_at": iso(row.notified_at),
            "deliver_at": iso(row.deliver_at)}
