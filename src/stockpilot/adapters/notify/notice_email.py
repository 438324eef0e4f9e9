"""The `backorder.email` outbox handler: a plain-text notice to a customer (backordered, new date, shipped).

Same SMTP transport and Message-ID-from-idempotency-key rule as the staff email (staff_email.py); a topic of its own
so customer mail can be told apart, retried and counted separately from staff alerts.
"""

from __future__ import annotations

from stockpilot.adapters.notify.staff_email import StaffEmail

TOPIC = "backorder.email"


class NoticeEmail(StaffEmail):
    """Payload: {"to", "subject", "body"}."""
