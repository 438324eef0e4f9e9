"""Ads follow stock: pause an ad set whose products are all unsellable, resume only what Stockpilot paused.

People map SKUs to ad sets (`map`). The `ads` consumer reads stock events and, per ad set advertising the SKU,
decides from the current state (domain/ads.py `next_step`), under a lock of the ad set row:
- every SKU unsellable and no pause of ours -> an `ads.pause` outbox action (key `ads:pause:<pause id>`);
- ours and some SKU at or above `ads_resume_threshold` -> book the `ads.resume_hold` timer
  (`ads_resume_hold_minutes`); below it again -> cancel the timer. When it fires with stock still there ->
  an `ads.resume` action (key `ads:resume:<pause id>:<attempt>`).
The actions look at the ad set before changing it (adapters/ads/actions.py); their outcome hooks record what
happened: paused (with the recent daily spend), declined (a person had paused it: never touched), resumed (with
the spend saved: daily spend x time paused), or left to a person (re-activated or changed since our pause).
Every step is a decision on the subject `ad:<platform>:<id>`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from stockpilot.adapters.ads.actions import PAUSE_TOPIC, RESUME_TOPIC
from stockpilot.adapters.db import ads_store as store
from stockpilot.adapters.db.dialect import insert_or_ignore
from stockpilot.adapters.db.tables import ad_pauses, ad_set_skus, ad_sets
from stockpilot.domain.ads import (
    PLATFORMS,
    UNLIMITED,
    AdSetState,
    Step,
    headroom,
    money,
    next_step,
    spend_saved_micros,
)
from stockpilot.domain.errors import NotFound, ValidationFailed
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.runtime.consumers import Consumer, Event
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku

CONSUMER = "ads"
HOLD_TIMER = "ads.resume_hold"


class AdsService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # ---- people ------------------------------------------------------------------------------------------------
    def map(self, platform: str, external_id: str, sku_codes: list[str], *, account: str | None = None
            ) -> dict[str, Any]:
        """Say that an ad set advertises these SKUs (added to any it already has); judged against stock at once."""
        platform, external_id, account = _validated(platform, external_id, account)
        if not sku_codes:
            raise ValidationFailed("skus: name at least one SKU")

        def work(conn: Connection) -> dict[str, Any]:
            now = self.ctx.clock.now()
            refs = [require_sku(conn, code) for code in sku_codes]  # all or nothing: an unknown SKU maps none
            conn.execute(insert_or_ignore(conn, ad_sets)
                         .values(platform=platform, external_id=external_id, account=account,
                                 state=AdSetState.RUNNING.value, created_at=now, updated_at=now)
                         .on_conflict_do_nothing(index_elements=["platform", "external_id"]))
            row = store.find(conn, platform, external_id)
            if row.account != account and account is not None:
                conn.execute(update(ad_sets).where(ad_sets.c.id == row.id).values(account=account, updated_at=now))
            for ref in refs:
                conn.execute(insert_or_ignore(conn, ad_set_skus).values(ad_set_id=row.id, sku_id=ref.id)
                             .on_conflict_do_nothing(index_elements=["ad_set_id", "sku_id"]))
            self._evaluate(conn, row.id, "mapped")
            return self._describe(conn, row.id)

        return self.ctx.db.write(work)

    def unmap(self, platform: str, external_id: str, sku_codes: list[str]) -> dict[str, Any]:
        def work(conn: Connection) -> dict[str, Any]:
            row = self._require(conn, platform, external_id)
            ids = [require_sku(conn, code).id for code in sku_codes]
            conn.execute(ad_set_skus.delete().where(ad_set_skus.c.ad_set_id == row.id,
                                                    ad_set_skus.c.sku_id.in_(ids)))
            self._evaluate(conn, row.id, "unmapped")  # the SKUs left may all be out (or one of them back)
            return self._describe(conn, row.id)

        return self.ctx.db.write(work)

    def list(self) -> list[dict[str, Any]]:
        with self.ctx.db.read() as conn:
            ids = [r.id for r in conn.execute(select(ad_sets.c.id).order_by(ad_sets.c.id))]
            return [self._describe(conn, i) for i in ids]

    def get(self, platform: str, external_id: str) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            row = self._require(conn, platform, external_id)
            described = self._describe(conn, row.id)
            described["pauses"] = [_pause(p) for p in store.pauses_of(conn, row.id)]
            return described

    # ---- runtime wiring ------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.on_event, kinds={"StockChanged", "BackInStock", "WentOutOfStock"},
                        accepts=self._near_the_line)

    def timer_handlers(self) -> dict[str, Any]:
        return {HOLD_TIMER: self._on_hold_timer}

    def outcome_hooks(self) -> dict[str, Any]:
        return {PAUSE_TOPIC: _PauseOutcome(self), RESUME_TOPIC: _ResumeOutcome(self)}

    def was_sent(self, action: str, pause_id: int) -> bool:
        column = ad_pauses.c.pause_sent_at if action == "pause" else ad_pauses.c.resume_sent_at
        with self.ctx.db.read() as conn:
            return conn.execute(select(column).where(ad_pauses.c.id == pause_id)).scalar_one_or_none() is not None

    def mark_sent(self, action: str, pause_id: int) -> None:
        field = "pause_sent_at" if action == "pause" else "resume_sent_at"
        self.ctx.db.write(lambda conn: conn.execute(
            update(ad_pauses).where(ad_pauses.c.id == pause_id).values({field: self.ctx.clock.now()})))

    # ---- deciding ----------------------------------------------------------------------------------------------
    def _near_the_line(self, event: Event) -> bool:
        """Pure filter: a stock change far above the resume threshold, before and after, cannot change anything
        (most reservations of a well-stocked SKU), so the consumer steps over it without a transaction."""
        if event.kind != "StockChanged":
            return True
        payload = event.payload
        before, after = payload.get("before"), payload.get("after")
        if not isinstance(before, dict) or not isinstance(after, dict):
            return True
        total_after = int(payload.get("total_available") or 0)
        total_before = total_after - (_available(after) - _available(before))
        return min(total_before, total_after) <= self.ctx.settings.ads_resume_threshold

    def on_event(self, conn: Connection, event: Event) -> None:
        for ad_set_id in store.ad_sets_of_sku(conn, event.sku):  # id order: the lock order
            self._evaluate(conn, ad_set_id, f"event {event.id} ({event.kind} {event.sku})")

    def _evaluate(self, conn: Connection, ad_set_id: int, trigger: str) -> None:
        row = store.lock_ad_set(conn, ad_set_id)
        if row is None:
            return
        now, settings = self.ctx.clock.now(), self.ctx.settings
        stock = store.stock_of(conn, ad_set_id)
        rooms = {s.sku: headroom(s, backorders_keep_running=settings.ads_backorders_keep_running) for s in stock}
        key = _hold_key(ad_set_id)
        step = next_step(AdSetState(row.state), rooms.values(), settings.ads_resume_threshold,
                         hold_pending=timers.has_scheduled(conn, key, HOLD_TIMER))
        inputs = {"trigger": trigger, "state": row.state, "headroom": rooms,
                  "resume_threshold": settings.ads_resume_threshold}
        subject = _subject(row)
        if step is Step.PAUSE:
            pause_id = conn.execute(ad_pauses.insert().values(
                ad_set_id=ad_set_id, status="requested", requested_at=now, resume_attempt=0)
                .returning(ad_pauses.c.id)).scalar_one()
            self._set_state(conn, ad_set_id, AdSetState.PAUSING, now, pause_id=pause_id)
            outbox.enqueue(conn, PAUSE_TOPIC, _payload(row, pause_id), f"ads:pause:{pause_id}", now)
            decisions.record(conn, subject, "ads_pause", inputs, ["pause", "keep running"], {"pause_id": pause_id},
                             f"every advertised SKU is unavailable to ship ({_list(rooms)}): pausing, if it is "
                             "still running when we look", now)
        elif step is Step.START_HOLD:
            fire_at = now + timedelta(minutes=settings.ads_resume_hold_minutes)
            timers.schedule(conn, HOLD_TIMER, key, fire_at, {"ad_set_id": ad_set_id, "pause_id": row.pause_id},
                            now=now)
            decisions.record(conn, subject, "ads_resume_hold", inputs, ["wait", "resume now"],
                             {"resume_check_at": fire_at.isoformat()},
                             f"stock back ({_list(rooms)}): resume if it holds for "
                             f"{settings.ads_resume_hold_minutes:g} min", now)
        elif step is Step.BREAK_HOLD:
            timers.cancel(conn, key, now, kind=HOLD_TIMER)
            decisions.record(conn, subject, "ads_resume_hold", inputs, [], None,
                             f"stock fell below {settings.ads_resume_threshold} again ({_list(rooms)}): "
                             "stays paused, the hold starts over", now)
        elif step is Step.FORGET:
            self._set_state(conn, ad_set_id, AdSetState.RUNNING, now, pause_id=None)
            decisions.record(conn, subject, "ads_forget", inputs, [], None,
                             f"stock back ({_list(rooms)}); the ad set was a person's to run, so it stays as they "
                             "left it; the next stock-out is judged afresh", now)

    def _on_hold_timer(self, conn: Connection, payload: dict[str, Any]) -> None:
        ad_set_id = int(payload["ad_set_id"])
        row = store.lock_ad_set(conn, ad_set_id)
        if row is None or row.state != AdSetState.PAUSED or row.pause_id != payload.get("pause_id"):
            return
        now, settings = self.ctx.clock.now(), self.ctx.settings
        rooms = {s.sku: headroom(s, backorders_keep_running=settings.ads_backorders_keep_running)
                 for s in store.stock_of(conn, ad_set_id)}
        if max(rooms.values(), default=0) < settings.ads_resume_threshold:
            return  # fell back since: the consumer books a new hold when it returns
        episode = store.pause(conn, row.pause_id)
        attempt = episode.resume_attempt + 1
        conn.execute(update(ad_pauses).where(ad_pauses.c.id == episode.id)
                     .values(status="resume_requested", resume_attempt=attempt, resume_requested_at=now))
        self._set_state(conn, ad_set_id, AdSetState.RESUMING, now)
        body = {**_payload(row, episode.id), "paused_at": episode.paused_at.isoformat(),
                "decided_at": now.isoformat(), "fingerprint": episode.fingerprint}
        outbox.enqueue(conn, RESUME_TOPIC, body, f"ads:resume:{episode.id}:{attempt}", now)
        saved = spend_saved_micros(episode.daily_spend_micros, now - episode.paused_at)
        decisions.record(conn, _subject(row), "ads_resume", {"headroom": rooms, "paused_at": body["paused_at"]},
                         ["resume", "stay paused"], {"pause_id": episode.id, "attempt": attempt},
                         f"stock held at {_list(rooms)} for {settings.ads_resume_hold_minutes:g} min: resuming, "
                         f"unless a person changed it since our pause (spend saved so far ~{money(saved)})", now)

    # ---- outcomes ----------------------------------------------------------------------------------------------
    def paused(self, conn: Connection, payload: dict[str, Any], result: dict[str, Any], now: datetime) -> None:
        row, episode = self._episode(conn, payload, "requested")
        if row is None:
            return
        subject = _subject(row)
        if result.get("outcome") == "paused":
            daily = result.get("daily_spend_micros")
            conn.execute(update(ad_pauses).where(ad_pauses.c.id == episode.id).values(
                status="paused", paused_at=now, prior_status=result.get("prior_status"),
                fingerprint=result.get("fingerprint"), daily_spend_micros=daily))
            self._set_state(conn, row.id, AdSetState.PAUSED, now)
            decisions.record(conn, subject, "ads_paused", {"result": result}, [], {"pause_id": episode.id},
                             f"paused (was {result.get('prior_status')}); recent spend ~{money(daily)} a day is "
                             "saved while it stays paused", now)
        else:
            self._end(conn, row, episode, "declined", AdSetState.LEFT, now,
                      f"a person already had it {result.get('status')}: Stockpilot left it alone and will not "
                      "resume it")
        self._evaluate(conn, row.id, "pause outcome")  # stock may have come back while the call was out

    def pause_failed(self, conn: Connection, payload: dict[str, Any], error: str, now: datetime) -> None:
        row, episode = self._episode(conn, payload, "requested")
        if row is not None:
            self._end(conn, row, episode, "failed", AdSetState.LEFT, now,
                      f"the platform refused the pause: {error[:300]} — left running; fix and `outbox retry`")

    def resumed(self, conn: Connection, payload: dict[str, Any], result: dict[str, Any], now: datetime) -> None:
        row, episode = self._episode(conn, payload, "resume_requested")
        if row is None:
            return
        saved = spend_saved_micros(episode.daily_spend_micros, now - episode.paused_at)
        if result.get("outcome") == "resumed":
            conn.execute(update(ad_pauses).where(ad_pauses.c.id == episode.id).values(
                status="resumed", ended_at=now, spend_saved_micros=saved))
            self._set_state(conn, row.id, AdSetState.RUNNING, now, pause_id=None)
            hours = (now - episode.paused_at).total_seconds() / 3600
            decisions.record(conn, _subject(row), "ads_resumed",
                             {"daily_spend_micros": episode.daily_spend_micros, "paused_hours": round(hours, 2)},
                             [], {"pause_id": episode.id, "spend_saved_micros": saved},
                             f"resumed after {hours:.1f} h paused: ~{money(saved)} spend saved "
                             f"({money(episode.daily_spend_micros)}/day x time paused)", now)
            return
        reason = ("a person re-activated it during our pause" if result.get("outcome") == "already_active"
                  else f"a person changed it since our pause ({result.get('reason')})")
        self._end(conn, row, episode, "left", AdSetState.LEFT, now, f"{reason}: not touched", saved=saved)
        self._evaluate(conn, row.id, "resume outcome")

    def resume_failed(self, conn: Connection, payload: dict[str, Any], error: str, now: datetime) -> None:
        row, episode = self._episode(conn, payload, "resume_requested")
        if row is None:
            return
        conn.execute(update(ad_pauses).where(ad_pauses.c.id == episode.id).values(status="paused",
                                                                                  reason=error[:2000]))
        self._set_state(conn, row.id, AdSetState.PAUSED, now)
        decisions.record(conn, _subject(row), "ads_resume_failed", {"error": error[:500]}, [], None,
                         "the platform refused the resume: still paused; the next restock tries again, or resume "
                         "it by hand", now)

    # ---- helpers -----------------------------------------------------------------------------------------------
    def _episode(self, conn: Connection, payload: dict[str, Any], expected: str) -> tuple[Any, Any]:
        row = store.lock_ad_set(conn, int(payload["ad_set_id"]))
        episode = store.pause(conn, int(payload["pause_id"]))
        if row is None or episode is None or episode.status != expected or row.pause_id != episode.id:
            return None, None  # already recorded (a replayed outcome) or superseded
        return row, episode

    def _end(self, conn: Connection, row: Any, episode: Any, status: str, state: AdSetState, now: datetime,
             reason: str, *, saved: int | None = None) -> None:
        conn.execute(update(ad_pauses).where(ad_pauses.c.id == episode.id).values(
            status=status, ended_at=now, reason=reason, spend_saved_micros=saved))
        self._set_state(conn, row.id, state, now)
        decisions.record(conn, _subject(row), f"ads_{status}", {"pause_id": episode.id}, [], None, reason, now)

    def _set_state(self, conn: Connection, ad_set_id: int, state: AdSetState, now: datetime, **extra: Any) -> None:
        conn.execute(update(ad_sets).where(ad_sets.c.id == ad_set_id)
                     .values(state=state.value, updated_at=now, **extra))

    def _require(self, conn: Connection, platform: str, external_id: str) -> Any:
        row = store.find(conn, platform, str(external_id))
        if row is None:
            raise NotFound(f"no {platform} ad set {external_id!r} is mapped")
        return row

    def _describe(self, conn: Connection, ad_set_id: int) -> dict[str, Any]:
        row = conn.execute(select(ad_sets).where(ad_sets.c.id == ad_set_id)).one()
        return {"platform": row.platform, "ad_set_id": row.external_id, "account": row.account,
                "state": row.state, "skus": store.skus_of(conn, ad_set_id),
                "pause": _pause(store.pause(conn, row.pause_id)) if row.pause_id else None}


class _PauseOutcome:
    def __init__(self, service: AdsService) -> None:
        self.service = service

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        self.service.paused(conn, payload, result or {}, now)

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        self.service.pause_failed(conn, payload, error, now)


class _ResumeOutcome(_PauseOutcome):
    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        self.service.resumed(conn, payload, result or {}, now)

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        self.service.resume_failed(conn, payload, error, now)


def _validated(platform: str, external_id: str, account: str | None) -> tuple[str, str, str | None]:
    platform = str(platform).strip().lower()
    if platform not in PLATFORMS:
        raise ValidationFailed(f"platform: expected one of {', '.join(PLATFORMS)}, got {platform!r}")
    external_id = str(external_id).strip()
    if not external_id.isdigit() or len(external_id) > 64:
        raise ValidationFailed(f"ad_set_id: expected the platform's numeric id, got {external_id!r}")
    account = account.replace("-", "").strip() if account else None
    if platform == "google" and (not account or not account.isdigit()):
        raise ValidationFailed("account: a Google ad group needs its customer id (digits, dashes allowed)")
    return platform, external_id, account


def _payload(row: Any, pause_id: int) -> dict[str, Any]:
    return {"pause_id": pause_id, "ad_set_id": row.id, "platform": row.platform, "external_id": row.external_id,
            "account": row.account}


def _subject(row: Any) -> str:
    return f"ad:{row.platform}:{row.external_id}"


def _hold_key(ad_set_id: int) -> str:
    return f"ads:{ad_set_id}"


def _list(rooms: dict[str, int]) -> str:
    return ", ".join(f"{sku} {'unlimited' if value >= UNLIMITED else value}" for sku, value in rooms.items())


def _available(levels: dict[str, Any]) -> int:
    return int(levels.get("on_hand", 0)) - int(levels.get("committed", 0)) - int(levels.get("reserved", 0))


def _pause(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {"id": row.id, "status": row.status, "requested_at": iso(row.requested_at), "paused_at": iso(row.paused_at),
            "ended_at": iso(row.ended_at), "prior_status": row.prior_status,
            "daily_spend": money(row.daily_spend_micros) if row.daily_spend_micros is not None else None,
            "spend_saved": money(row.spend_saved_micros) if row.spend_saved_micros is not None else None,
            "reason": row.reason}
