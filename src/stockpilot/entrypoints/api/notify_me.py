"""An attempted purchase of an unavailable SKU can enrol the customer in its back-in-stock waitlist.

The hook sits at the API boundary, after the core refused: a reservation or direct order refused with
409 `insufficient_stock` whose body carries `notify_me: true` and `customer_email` (or `customer_phone`) joins the
refused SKU's waitlist in a transaction of its own (the core's refusal wrote nothing), and the 409 answer says so
under `waitlist`. `notify_me: true` is the customer's consent. A contact that cannot be used never turns the
refusal into another error: the answer carries `waitlist: {"error", "detail"}` instead. Only the SKU the core
named as short is joined (the first short line of a cart).
"""

from __future__ import annotations

from typing import Any

from stockpilot.bootstrap import Stockpilot
from stockpilot.domain.errors import InsufficientStock, StockpilotError


def enrol_refused(sp: Stockpilot, refused: InsufficientStock, body: Any) -> dict[str, Any] | None:
    if not getattr(body, "notify_me", False):
        return None
    email, phone = getattr(body, "customer_email", None), getattr(body, "customer_phone", None)
    if email is None and phone is None:
        return {"error": "invalid", "detail": "notify_me needs customer_email or customer_phone"}
    try:
        entry = sp.waitlist.join(refused.sku, email, True, phone=None if email else phone, source="refused")
    except StockpilotError as exc:
        return {"error": exc.code, "detail": exc.detail}
    return {"id": entry["id"], "sku": entry["sku"], "status": entry["status"]}
