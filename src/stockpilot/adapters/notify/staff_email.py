"""The `alert.email` outbox handler: a plain-text alert to staff over the same SMTP transport as PO email.

Payload: {"to", "subject", "body"}. The Message-ID is derived from the idempotency key, so a redelivery after a
lost acknowledgement from the SMTP server is recognisable as the same alert.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from stockpilot.adapters.suppliers.email import KEY_HEADER, EmailDelivery, message_id

TOPIC = "alert.email"


class StaffEmail:
    def __init__(self, smtp_url: str, sender: str) -> None:
        self.transport = EmailDelivery(smtp_url, sender)

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        message = EmailMessage()
        message["From"] = self.transport.sender
        message["To"] = payload["to"]
        message["Subject"] = " ".join(str(payload["subject"]).split())
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(idempotency_key, self.transport.sender)
        message[KEY_HEADER] = idempotency_key
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders do not answer it
        message.set_content(str(payload["body"]))
        self.transport.send(message)
