"""The `waitlist.sms` outbox topic: back-in-stock texts (and double opt-in requests) to E.164 numbers; TwilioSms, the
sending itself, is shared with the backorder texts (notice_sms.py).

Stockpilot has one SMS path, Apprise's Twilio plugin, shared with the staff alerts (adapters/notify/
apprise_alerts.py, `twilio_api_url`). `waitlist_sms_url` names the sending account without a recipient,
`twilio://AccountSID:AuthToken@FromPhone`; each text appends the contact's number. Right before sending,
`still_subscribed(entry_id)` is asked, as for email. Without `waitlist_sms_url` texts are still stored and queued
like any message, and their delivery fails with a clear "sms channel not configured" — dead at once, so
`stockpilot outbox list --status dead` shows them and `outbox retry ID` sends them once it is configured.
Payload: {"entry_id", "to", "body"}.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import apprise
from apprise.plugins.twilio import NotifyTwilio

from stockpilot.adapters.notify.apprise_alerts import TWILIO_MESSAGES_PATH
from stockpilot.domain.alerts import redact

TOPIC = "waitlist.sms"


class SmsChannelNotConfigured(RuntimeError):
    permanent = True  # retrying cannot help until someone configures the channel


class NoSmsChannel:
    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        about = (f"waitlist entry {payload['entry_id']}" if "entry_id" in payload
                 else f"order {payload.get('order')}")
        raise SmsChannelNotConfigured(
            f"sms channel not configured (set waitlist_sms_url): cannot text {payload.get('to')} ({about})")


class TwilioSms:
    """One text to one E.164 number through Apprise's Twilio plugin (shared by every customer SMS topic)."""

    def __init__(self, sender_url: str, *, twilio_api_url: str = "https://api.twilio.com") -> None:
        if not sender_url.startswith("twilio://") or sender_url.rstrip("/").count("/") > 2:
            raise ValueError("waitlist_sms_url must be twilio://AccountSID:AuthToken@FromPhone (no recipient)")
        self.sender_url = sender_url.rstrip("/")
        self.messages_url = twilio_api_url.rstrip("/") + TWILIO_MESSAGES_PATH

    def send(self, to: str, body: str) -> dict[str, Any]:
        number = str(to).lstrip("+")
        if not number.isdigit():
            raise SmsChannelNotConfigured(f"not a phone number: {to!r}")
        plugin = apprise.Apprise.instantiate(f"{self.sender_url}/{number}")
        if not isinstance(plugin, NotifyTwilio):
            raise SmsChannelNotConfigured(f"Apprise cannot use {redact(self.sender_url)} for SMS")
        plugin.notify_sms_url = self.messages_url
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = plugin.notify(body=str(body))
            said = " ".join(captured.getvalue().split())
        if not ok:
            raise RuntimeError(f"SMS to {to}: {said[-500:] or 'Apprise reported a failure'}")
        return {"sent": True}


class CustomerSms:
    def __init__(self, sender_url: str, still_subscribed: Callable[[int], bool], *,
                 twilio_api_url: str = "https://api.twilio.com") -> None:
        self.sms = TwilioSms(sender_url, twilio_api_url=twilio_api_url)
        self.still_subscribed = still_subscribed

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        if not self.still_subscribed(int(payload["entry_id"])):
            return {"skipped": "unsubscribed"}
        return self.sms.send(str(payload["to"]), str(payload["body"]))
