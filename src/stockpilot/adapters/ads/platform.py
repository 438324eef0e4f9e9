"""What Stockpilot needs from an ad platform, whichever it is, and the errors its calls raise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class AdsApiError(Exception):
    """A platform call failed; the outbox retries it (rate limits, outages) unless `permanent`."""

    permanent = False


class PermanentAdsApiError(AdsApiError):
    """Retrying cannot help: bad token, missing permission, unknown ad set, invalid request."""

    permanent = True


@dataclass(frozen=True)
class AdSetRef:
    platform: str
    external_id: str  # Meta ad set id; Google ad group id
    account: str | None = None  # Google customer id


@dataclass(frozen=True)
class AdSetStatus:
    active: bool  # configured to deliver: Meta status ACTIVE, Google ENABLED
    status: str  # the platform's own word (PAUSED, ARCHIVED, REMOVED, ...)
    fingerprint: str | None = None  # Meta updated_time: changes whenever anyone edits the ad set


class AdPlatform(Protocol):
    def status(self, ref: AdSetRef) -> AdSetStatus: ...

    def set_active(self, ref: AdSetRef, active: bool) -> None: ...

    def daily_spend_micros(self, ref: AdSetRef) -> int | None:
        """Average daily spend over the last 7 days, in millionths of the account currency; None if unknown."""
        ...

    def changed_by_someone_else(self, ref: AdSetRef, *, since: datetime, until: datetime,
                                fingerprint: str | None) -> str | None:
        """Whether anyone but Stockpilot changed the ad set after `since` (our pause): a description, or None."""
        ...
