"""The `backorder.sms` outbox handler: a backorder notice texted to a customer who left a phone but no email.

The same sending account and Twilio path as the waitlist texts (sms.py: `waitlist_sms_url`, `twilio_api_url`,
Apprise's Twilio plugin); a topic of its own, as `backorder.email` is beside the staff email, so customer texts are
retried, counted and alerted on apart. Without `waitlist_sms_url` the row fails at once with "sms channel not
configured" (NoSmsChannel) and can be retried once it is set.

Payload: {"to": E.164 number, "body", "order": the reference the customer knows}.
"""

from __future__ import annotations

from typing import Any

from stockpilot.adapters.notify.sms import TwilioSms

TOPIC = "backorder.sms"


class NoticeSms(TwilioSms):
    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return self.send(str(payload["to"]), str(payload["body"]))
