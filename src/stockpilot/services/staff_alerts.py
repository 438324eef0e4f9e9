"""Staff alerts: routed by kind, SKU tag or supplier to Apprise URLs; deduplicated, merged, digested, on the runtime.

`raise_alert(conn, alert)` runs in the transaction of the fact that causes it (an Oversold event consumed, a PO
timer firing, a delivery found dead):
1. The alert's key comes from that fact (`event:<id>`, `<PO>:ack_reminder`, ...) and is claimed once in
   `alert_occurrences`: a replayed event or a re-fired hook sends nothing.
2. Routes (settings `alert_routes`) give the destinations. None match: escalations (ack reminders, failed POs,
   dead deliveries) go to the staff address (`alert_email`) over SMTP as before routes existed; otherwise the
   decision log says nobody was told.
3. Immediate destinations: the (kind, subject) window row is locked. Outside a window, the alert goes out (one
   `alert.apprise` / `alert.email` outbox row per destination, keyed by alert and destination) and a window of
   `alert_merge_minutes` opens with an `alert.window` timer at its end. Inside one, the alert is only counted;
   when the timer fires, one "N more" message goes out if anything was counted. A storm is one message plus one.
4. Digest destinations (a route with `digest = true`, or a kind in `alert_digest_kinds`): the alert waits as an
   `alert_digest_items` row; one `alert.digest` timer, `alert_digest_minutes` after the first waiting item, sends
   one message per destination listing everything waiting.
Every alert, summary and digest writes a decision (subject: the SKU, PO or topic) with the redacted destinations.

Keys are kept for `horizon()`: `alert_replay_days`, or the merge or digest window if one is longer. An hourly
`alert.prune` timer (booked at worker start) deletes older keys and digest items already sent. A key is only
needed to recognise a replay, so the consumer does not alert on an event older than the horizon at all: a replay
reaching back past it is stale, not new, and sends nothing although its key is gone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stockpilot.adapters.db import alert_store
from stockpilot.adapters.notify.alert_templates import render
from stockpilot.adapters.notify.apprise_alerts import TOPIC as APPRISE_TOPIC
from stockpilot.adapters.notify.staff_email import TOPIC as EMAIL_TOPIC
from stockpilot.domain import alerts as rules
from stockpilot.domain.errors import ValidationFailed
from stockpilot.runtime import decisions, outbox, timers
from stockpilot.runtime.consumers import Consumer, Event
from stockpilot.services.context import Context
from stockpilot.services.lookups import require_sku

CONSUMER = "staff_alerts"
WINDOW_TIMER = "alert.window"
DIGEST_TIMER = "alert.digest"
DIGEST_KEY = "alerts:digest"
PRUNE_TIMER = "alert.prune"  # hourly: forget occurrence keys older than the replay horizon
PRUNE_KEY = "alerts:prune"
PRUNE_EVERY = timedelta(hours=1)
_TAG = re.compile(r"[a-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Alert:
    kind: str  # one of domain.alerts.KINDS
    subject: str  # what it is about: a SKU, a PO number, an outbox topic (the merge window is per kind + subject)
    key: str  # unique per occurrence and derived from its cause, so a replay is recognised
    values: dict[str, Any] = field(default_factory=dict)  # for the kind's template
    sku: str | None = None  # for routes by SKU tag
    supplier: str | None = None  # for routes by supplier code
    path: str = ""  # the dashboard page, appended to public_url in the link


class StaffAlerts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.routes = rules.parse_routes(ctx.settings.alert_routes)  # a bad route stops start-up, naming itself
        self.digest_kinds = {k.strip() for k in ctx.settings.alert_digest_kinds.split(",") if k.strip()}

    # ---- SKU tags (what routes can match) ------------------------------------------------------------------------
    def set_tags(self, sku: str, tags: list[str]) -> dict[str, Any]:
        """Replace a SKU's tags; lower-case, each 1-64 characters of letters, digits and - _ . :"""
        clean = sorted({str(t).strip().lower() for t in tags})
        bad = [t for t in clean if not _TAG.fullmatch(t)]
        if bad:
            raise ValidationFailed(f"tags: {bad[0]!r} is not a tag (1-64 of a-z 0-9 - _ . :)")

        def work(conn: Connection) -> dict[str, Any]:
            alert_store.set_tags(conn, require_sku(conn, sku).id, clean)
            return {"sku": sku, "tags": clean}

        return self.ctx.db.write(work)

    def tags(self, sku: str) -> dict[str, Any]:
        with self.ctx.db.read() as conn:
            require_sku(conn, sku)
            return {"sku": sku, "tags": alert_store.tags_of(conn, sku)}

    # ---- raising -------------------------------------------------------------------------------------------------
    def raise_alert(self, conn: Connection, alert: Alert) -> str:
        """Route, dedupe, merge or batch one alert inside the caller's transaction; returns what happened."""
        now = self.ctx.clock.now()
        if not alert_store.claim_occurrence(conn, f"{alert.kind}:{alert.key}", alert.kind, alert.subject, now):
            return "replayed"
        tags = alert_store.tags_of(conn, alert.sku) if alert.sku else []
        fallback = rules.STAFF_EMAIL if self.ctx.settings.alert_email and alert.kind in rules.FALLBACK_KINDS else None
        chosen = rules.destinations(self.routes, alert.kind, tags, alert.supplier,
                                    low_priority=alert.kind in self.digest_kinds, fallback=fallback)
        link = self._link(alert.path)
        title, body = render(alert.kind, {**alert.values, "link": link})
        inputs = {"kind": alert.kind, "key": alert.key, "tags": tags, "supplier": alert.supplier}
        options = [rules.redact(d.url) for d in chosen]
        if not chosen:
            decisions.record(conn, alert.subject, "staff_alert", inputs, [], None,
                             f"{title}: no alert route matches (and no staff address for this kind): nobody told",
                             now)
            return "unrouted"
        batched = [d for d in chosen if d.digest]
        for dest in batched:
            alert_store.add_digest_item(conn, dest.id, alert.kind, alert.subject, title, link, now)
        if batched and not timers.has_scheduled(conn, DIGEST_KEY, DIGEST_TIMER):
            timers.schedule(conn, DIGEST_TIMER, DIGEST_KEY,
                            now + timedelta(minutes=self.ctx.settings.alert_digest_minutes), {}, now=now)
        immediate = [d for d in chosen if not d.digest]
        outcome = "digest" if batched else "sent"
        if immediate:
            outcome = self._immediate(conn, alert, immediate, title, body, link, now)
        said = {"sent": f"sent to {len(immediate)} destination(s)",
                "merged": "merged into the open window (counted for its summary)",
                "digest": "held for the digest"}[outcome]
        decisions.record(conn, alert.subject, "staff_alert", inputs, options,
                         {"outcome": outcome, "immediate": [rules.redact(d.url) for d in immediate],
                          "digest": [rules.redact(d.url) for d in batched]},
                         f"{title}: {said}" + (f"; {len(batched)} destination(s) get it in the digest"
                                               if batched and outcome != "digest" else ""), now)
        return outcome

    def _immediate(self, conn: Connection, alert: Alert, chosen: list[rules.Destination], title: str, body: str,
                   link: str, now: datetime) -> str:
        minutes = self.ctx.settings.alert_merge_minutes
        if minutes > 0:
            window = alert_store.lock_window(conn, alert.kind, alert.subject, now)
            if window["ends_at"] > now:
                alert_store.count_suppressed(conn, alert.kind, alert.subject, window["suppressed"] + 1)
                return "merged"
            number = window["window_no"] + 1
            ends = now + timedelta(minutes=minutes)
            alert_store.open_window(conn, alert.kind, alert.subject, number, now, ends,
                                    {"title": title, "link": link, "destinations": [d.id for d in chosen]})
            timers.schedule(conn, WINDOW_TIMER, f"alert:{alert.kind}:{alert.subject}", ends,
                            {"kind": alert.kind, "subject": alert.subject, "window_no": number}, now=now)
        for dest in chosen:
            self._send(conn, dest.id, title, body, f"alert:{alert.kind}:{alert.key}:{dest.id}", now)
        return "sent"

    def _send(self, conn: Connection, destination: str, title: str, body: str, key: str, now: datetime) -> None:
        if destination == rules.destination_id(rules.STAFF_EMAIL):  # the pre-routes behaviour, same handler
            outbox.enqueue(conn, EMAIL_TOPIC, {"to": self.ctx.settings.alert_email, "subject": title, "body": body},
                           key, now)
        else:
            outbox.enqueue(conn, APPRISE_TOPIC, {"destination": destination, "title": title, "body": body}, key, now)

    def _link(self, path: str) -> str:
        return self.ctx.settings.public_url.rstrip("/") + (path or "/")

    # ---- the runtime ---------------------------------------------------------------------------------------------
    def consumer(self) -> Consumer:
        return Consumer(CONSUMER, self.on_event, kinds={"Oversold", "LowStock"})

    def on_event(self, conn: Connection, event: Event) -> None:
        if event.created_at < self.ctx.clock.now() - self.horizon():
            return  # older than the keys we keep: a replay (or a worker down that long); stale news either way
        payload = event.payload
        if event.kind == "Oversold":
            self.raise_alert(conn, Alert(
                rules.OVERSELL, event.sku, f"event:{event.id}", sku=event.sku, path=f"/inventory/{event.sku}",
                values={"sku": event.sku, "oversold_units": payload.get("oversold_units"),
                        "available": payload.get("available"), "reference": payload.get("reference")}))
        elif event.kind == "LowStock":
            self.raise_alert(conn, Alert(
                rules.LOW_STOCK, event.sku, f"event:{event.id}", sku=event.sku, path=f"/inventory/{event.sku}",
                values={"sku": event.sku, "available": payload.get("available"),
                        "threshold": payload.get("threshold")}))

    def timer_handlers(self) -> dict[str, Any]:
        return {WINDOW_TIMER: self._on_window_end, DIGEST_TIMER: self._on_digest, PRUNE_TIMER: self._on_prune}

    def horizon(self) -> timedelta:
        """How long an alert key is kept: the replay horizon, and never less than a merge or digest window."""
        settings = self.ctx.settings
        return max(timedelta(days=settings.alert_replay_days), timedelta(minutes=settings.alert_merge_minutes),
                   timedelta(minutes=settings.alert_digest_minutes))

    def schedule_pruning(self) -> bool:
        """Make sure the hourly prune is booked (a worker calls this on start); True if it booked it."""
        def work(conn: Connection) -> bool:
            if timers.has_scheduled(conn, PRUNE_KEY, PRUNE_TIMER):
                return False
            now = self.ctx.clock.now()
            timers.schedule(conn, PRUNE_TIMER, PRUNE_KEY, now + PRUNE_EVERY, {}, now=now)
            return True

        return self.ctx.db.write(work)

    def _on_prune(self, conn: Connection, payload: dict[str, Any]) -> None:
        now = self.ctx.clock.now()
        keys, items = alert_store.prune(conn, now - self.horizon())
        timers.schedule(conn, PRUNE_TIMER, PRUNE_KEY, now + PRUNE_EVERY, {}, now=now)
        if keys or items:
            decisions.record(conn, PRUNE_KEY, "staff_alert_prune", {"horizon_days": self.horizon() / timedelta(days=1)},
                             [], {"keys": keys, "digest_items": items},
                             f"forgot {keys} alert key(s) and {items} sent digest item(s) older than the horizon", now)

    def _on_window_end(self, conn: Connection, payload: dict[str, Any]) -> None:
        now = self.ctx.clock.now()
        kind, subject = str(payload["kind"]), str(payload["subject"])
        window = alert_store.lock_window(conn, kind, subject, now)
        if window["window_no"] != payload["window_no"] or window["suppressed"] == 0:
            return  # nothing was merged: the first message said it all
        count, context = window["suppressed"], window["context"]
        title, body = render("merged", {"count": count, "kind": kind, "subject": subject, "title": context["title"],
                                        "minutes": self.ctx.settings.alert_merge_minutes, "link": context["link"]})
        for destination in context["destinations"]:
            self._send(conn, destination, title, body,
                       f"alert-window:{kind}:{subject}:{window['window_no']}:{destination}", now)
        alert_store.count_suppressed(conn, kind, subject, 0)
        decisions.record(conn, subject, "staff_alert", {"kind": kind, "window_no": window["window_no"],
                                                        "merged": count}, [],
                         {"outcome": "summary", "destinations": len(context["destinations"])},
                         f"{count} more {kind} alert(s) within {self.ctx.settings.alert_merge_minutes:g} min: "
                         "one summary sent", now)

    def _on_digest(self, conn: Connection, payload: dict[str, Any]) -> None:
        now = self.ctx.clock.now()
        items = alert_store.pending_digest_items(conn)
        by_destination: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_destination.setdefault(item["destination"], []).append(item)
        for destination, batch in by_destination.items():
            digest_id = batch[0]["id"]
            title, body = render("digest", {"total": len(batch), "items": _grouped(batch)})
            self._send(conn, destination, title, body, f"alert-digest:{digest_id}:{destination}", now)
            alert_store.mark_digested(conn, [i["id"] for i in batch], digest_id)
        decisions.record(conn, DIGEST_KEY, "staff_alert", {"waiting": len(items)}, [],
                         {"outcome": "digest", "destinations": len(by_destination)},
                         f"digest of {len(items)} low-priority alert(s) to {len(by_destination)} destination(s)", now)

    def urls_by_destination(self) -> dict[str, str]:
        """destination id -> Apprise URL, for the delivery handler (the outbox holds only the ids)."""
        return {rules.destination_id(url): url for route in self.routes for url in route.urls}

    def dead_delivery_hook(self, topic: str) -> DeadDeliveryAlert:
        return DeadDeliveryAlert(self, topic)


def _grouped(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Digest lines: the same title (kind and subject) once, with how many times it came."""
    counts: Counter[tuple[str, str | None]] = Counter((i["title"], i["link"]) for i in items)
    return [{"title": title, "link": link, "count": n} for (title, link), n in counts.items()]


class DeadDeliveryAlert:
    """Outcome hook: an outbox delivery of `topic` that gave up alerts staff (merged per topic, so a dead receiver
    flooding the outbox is one message and a summary)."""

    dead_only = True

    def __init__(self, alerts: StaffAlerts, topic: str) -> None:
        self.alerts = alerts
        self.topic = topic

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        return None

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        self.alerts.raise_alert(conn, Alert(
            rules.DELIVERY_DEAD, self.topic, f"dead:{idempotency_key}", path="/automations",
            values={"topic": self.topic, "key": idempotency_key, "error": error[:300]}))


class ChainedOutcome:
    """Two outcome hooks for one topic, in order (e.g. park the webhook delivery, then alert staff)."""

    def __init__(self, *hooks: outbox.OutcomeHook) -> None:
        self.hooks = hooks
        self.dead_only = all(getattr(hook, "dead_only", False) for hook in hooks)
        self.runs_first = any(getattr(hook, "runs_first", False) for hook in hooks)  # see outbox.OutcomeHook

    def delivered(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
                  result: Any = None) -> None:
        for hook in self.hooks:
            hook.delivered(conn, payload, idempotency_key, now, result)

    def dead(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, error: str,
             now: datetime) -> None:
        for hook in self.hooks:
            hook.dead(conn, payload, idempotency_key, error, now)

    def stale(self, conn: Connection, payload: dict[str, Any], idempotency_key: str, now: datetime,
              outcome: Any) -> None:
        for hook in self.hooks:
            stale = getattr(hook, "stale", None)
            if stale is not None:
                stale(conn, payload, idempotency_key, now, outcome)
