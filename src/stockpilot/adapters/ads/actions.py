"""The `ads.pause` and `ads.resume` outbox handlers: look at the ad set first, then change it only if it is ours.

Pause: read the status. Not active -> a person already paused (or archived) it: answer "declined", touch nothing.
Active -> note "sent" in our database, pause it, read the fingerprint and the recent daily spend.
Resume: read the status. Active -> a person re-activated it already ("already_active"). Paused but changed by
someone else since our pause -> "left". Otherwise note "sent" and activate it.

The "sent" note is written before the platform call, so a redelivery (the outbox is at least once: a crash after
the call, before the outcome was recorded) that finds the ad set PAUSED knows it may be our own pause and carries
on, instead of mistaking it for a person's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from stockpilot.adapters.ads.platform import AdPlatform, AdSetRef, PermanentAdsApiError

PAUSE_TOPIC = "ads.pause"
RESUME_TOPIC = "ads.resume"

class AdActions:
    def __init__(self, platforms: Mapping[str, AdPlatform], was_sent: Callable[[str, int], bool],
                 mark_sent: Callable[[str, int], None]) -> None:
        # was_sent / mark_sent(action, pause_id): each its own short transaction in Stockpilot's database
        self.platforms = dict(platforms)
        self.was_sent = was_sent
        self.mark_sent = mark_sent

    def pause(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        platform, ref, pause_id = self._target(payload)
        before = platform.status(ref)
        if before.active:
            self.mark_sent("pause", pause_id)
            platform.set_active(ref, False)
        elif not self.was_sent("pause", pause_id):
            return {"outcome": "declined", "status": before.status}
        after = platform.status(ref)
        if after.active:  # the platform said yes but still shows it active: try again later
            raise RuntimeError(f"{ref.platform} ad set {ref.external_id} still active after pausing")
        return {"outcome": "paused", "prior_status": before.status, "fingerprint": after.fingerprint,
                "daily_spend_micros": platform.daily_spend_micros(ref)}

    def resume(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        platform, ref, pause_id = self._target(payload)
        now = platform.status(ref)
        sent = self.was_sent("resume", pause_id)
        if now.active:
            return {"outcome": "resumed" if sent else "already_active", "status": now.status}
        if now.status not in ("PAUSED",):  # archived, deleted, removed: not ours to bring back
            return {"outcome": "left", "reason": f"status is {now.status}"}
        if not sent:
            changed = platform.changed_by_someone_else(
                ref, since=datetime.fromisoformat(payload["paused_at"]),
                until=datetime.fromisoformat(payload["decided_at"]), fingerprint=payload.get("fingerprint"))
            if changed:
                return {"outcome": "left", "reason": changed}
            self.mark_sent("resume", pause_id)
        platform.set_active(ref, True)
        return {"outcome": "resumed", "status": "ACTIVE" if ref.platform == "meta" else "ENABLED"}

    def _target(self, payload: dict[str, Any]) -> tuple[AdPlatform, AdSetRef, int]:
        name = str(payload["platform"])
        platform = self.platforms.get(name)
        if platform is None:
            raise NotConfigured(f"{name} ads are not configured (see docs/notifications.md, Ads)")
        return platform, AdSetRef(name, str(payload["external_id"]), payload.get("account")), int(payload["pause_id"])


class NotConfigured(PermanentAdsApiError):
    """No credentials for the platform: dead at once with this reason; `outbox retry` after configuring."""
