"""The `alert.apprise` outbox handler: one alert to one Apprise URL (Slack, Teams, Discord, mailto, json://, twilio://...).

Payload: {"destination", "title", "body"}. `destination` is a hash of the URL (domain/alerts.destination_id): the
URL itself, with its credentials, stays in the settings and never lands in the outbox table or a decision. A
destination no longer configured is a permanent failure (dead at once, with that reason).

Per delivery the plugin instance is ours, so two things are set on it that a URL cannot say:
- webhook plugins (json://, form://, xml://) send the outbox idempotency key as `Idempotency-Key`, so a receiver
  can drop the redelivery that at-least-once delivery allows;
- Twilio's REST base comes from `twilio_api_url` (a regional edge such as https://api.dublin.ie1.twilio.com, or a
  loopback fake in tests); Apprise's own Twilio code still builds the request (path, basic auth, To/From/Body).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import apprise
from apprise.plugins.twilio import NotifyTwilio

from stockpilot.domain.alerts import redact

TOPIC = "alert.apprise"
TWILIO_MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
_WEBHOOK_PLUGINS = ("NotifyJSON", "NotifyForm", "NotifyXML")


class AlertUndeliverable(Exception):
    """Retrying cannot help (unknown destination, a URL Apprise cannot parse)."""

    permanent = True


class AppriseAlerts:
    def __init__(self, urls_by_destination: Callable[[], dict[str, str]], *,
                 twilio_api_url: str = "https://api.twilio.com") -> None:
        self.urls_by_destination = urls_by_destination
        self.twilio_messages_url = twilio_api_url.rstrip("/") + TWILIO_MESSAGES_PATH

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        url = self.urls_by_destination().get(str(payload["destination"]))
        if url is None:
            raise AlertUndeliverable(f"destination {payload['destination']} is no longer in alert_routes")
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise AlertUndeliverable(f"Apprise cannot use {redact(url)}")
        if isinstance(plugin, NotifyTwilio):
            plugin.notify_sms_url = self.twilio_messages_url
        if type(plugin).__name__ in _WEBHOOK_PLUGINS and isinstance(getattr(plugin, "headers", None), dict):
            plugin.headers["Idempotency-Key"] = idempotency_key
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = plugin.notify(body=str(payload["body"]), title=str(payload["title"]))
            said = " ".join(captured.getvalue().split())
        if not ok:
            raise RuntimeError(f"{redact(url)}: {said[-500:] or 'Apprise reported a failure'}")
        return {"sent": redact(url)}
