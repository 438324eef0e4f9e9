"""The handlers a worker knows, by outbox topic and timer kind. Later capabilities register theirs here."""

from __future__ import annotations

from stockpilot.adapters.webhook import TOPIC as WEBHOOK_TOPIC
from stockpilot.adapters.webhook import WebhookHandler
from stockpilot.runtime import outbox, timers


def default_outbox_handlers() -> dict[str, outbox.Handler]:
    return {WEBHOOK_TOPIC: WebhookHandler()}


def default_timer_handlers() -> dict[str, timers.TimerHandler]:
    return {}
