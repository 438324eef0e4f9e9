"""Cancel a Shopify order through the Admin GraphQL `orderCancel` mutation (a customer's backorder cancel link).

- `orderCancel(orderId: gid://shopify/Order/N, reason: CUSTOMER, refundMethod: {originalPaymentMethodsRefund:
  false}, restock: false, notifyCustomer: false, staffNote)`, selecting `job { id done }` and
  `orderCancelUserErrors { field message code }` (`refundMethod` replaced the deprecated `refund` in 2025-07).
- Why these options: refunds stay the shop's decision (as for BigCommerce); no restock, because Stockpilot owns the
  counts and the next push sets Shopify's `available` (a restock would come back as an `inventory_levels/update`
  and be read as stock found on the channel); the customer already saw Stockpilot's confirmation page.
- Shopify cancels in a background job: the answer's `job` is recorded; `done` is usually false at that moment.
- orderCancel takes no idempotency key, so a user error is looked into before it is called final: if the order
  already has `cancelledAt` (an earlier attempt whose answer was lost, or the merchant), the cancel is done.
  `NOT_FOUND`, `INVALID`, `NO_REFUND_PERMISSION` on an order not cancelled are permanent (PushRejected);
  `INTERNAL_ERROR` is retried. Throttling and HTTP outcomes are the shared client's (shopify_admin.py).
"""

from __future__ import annotations

from typing import Any

from stockpilot.adapters.channels.push import ChannelAccount, PushRejected
from stockpilot.adapters.channels.shopify_admin import ShopifyAdmin, gid, user_error_text

ORDER_CANCEL = """
mutation StockpilotOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $refundMethod: OrderCancelRefundMethodInput!,
                               $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refundMethod: $refundMethod, restock: $restock,
              notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
""".strip()
ORDER_STATE = """
query StockpilotOrderState($id: ID!) {
  order(id: $id) { id cancelledAt }
}
""".strip()
STAFF_NOTE = "Cancelled by the customer from Stockpilot's backorder notice (signed link)."


class ShopifyOrderCancel:
    def __init__(self, admin: ShopifyAdmin) -> None:
        self.admin = admin

    def cancel(self, account: ChannelAccount, order_id: str) -> dict[str, Any]:
        order = gid("Order", order_id)
        data = self.admin.graphql(account, ORDER_CANCEL, {
            "orderId": order, "reason": "CUSTOMER", "refundMethod": {"originalPaymentMethodsRefund": False},
            "restock": False, "notifyCustomer": False, "staffNote": STAFF_NOTE})
        outcome = data.get("orderCancel") or {}
        errors = outcome.get("orderCancelUserErrors") or []
        if not errors:
            job = outcome.get("job") or {}
            return {"job": {"id": job.get("id"), "done": job.get("done")}}
        detail = user_error_text(errors)
        codes = {str(e.get("code")) for e in errors}
        if codes == {"INTERNAL_ERROR"}:
            raise RuntimeError(f"Shopify could not cancel order {order_id} for now: {detail}")
        if "NOT_FOUND" not in codes:
            state = (self.admin.graphql(account, ORDER_STATE, {"id": order}).get("order") or {})
            if state.get("cancelledAt"):
                return {"already_cancelled": state["cancelledAt"]}
        raise PushRejected(f"Shopify refused to cancel order {order_id}: {detail}")
