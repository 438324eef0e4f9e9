"""The `waitlist.email` outbox handler: a back-in-stock notice to a customer, over the PO email SMTP transport.

Payload: {"entry_id", "to", "subject", "body", "unsubscribe_url"?}. A notice carries `List-Unsubscribe` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058; the shop's relay must DKIM-sign both headers for
Gmail and Yahoo to offer the button). Message-ID comes from the idempotency key (one per entry and wave),
so a redelivery is recognisably the same notice. `still_subscribed(entry_id)` is asked right before sending: a
contact who unsubscribed after the wave was decided still receives nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from stockpilot.adapters.suppliers.email import KEY_HEADER, EmailDelivery, message_id

TOPIC = "waitlist.email"
CONFIRM_TOPIC = "waitlist.confirm"  # the double opt-in request, same handler


class CustomerEmail:
    def __init__(self, smtp_url: str, sender: str, still_subscribed: Callable[[int], bool]) -> None:
        self.transport = EmailDelivery(smtp_url, sender)
        self.still_subscribed = still_subscribed

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        if not self.still_subscribed(int(payload["entry_id"])):
            return {"skipped": "unsubscribed"}
        message = EmailMessage()
        message["From"] = self.transport.sender
        message["To"] = payload["to"]
        message["Subject"] = " ".join(str(payload["subject"]).split())
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(idempotency_key, self.transport.sender)
        message[KEY_HEADER] = idempotency_key
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies to a notice
        if payload.get("unsubscribe_url"):  # a confirmation request has none: nothing to leave yet
            # RFC 8058 one-click: the provider POSTs "List-Unsubscribe=One-Click" to this URL (api/waitlist_routes.py)
            message["List-Unsubscribe"] = f"<{payload['unsubscribe_url']}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(str(payload["body"]))
        self.transport.send(message)
        return {"sent": True}
