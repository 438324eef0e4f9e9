"""Delivery of purchase orders to suppliers: one outbox handler per channel, fed a self-contained payload.

- `document`: the payload (`PurchaseOrderDocument.from_payload`/`to_payload`), topic names, delivery errors
- `email`: `EmailDelivery` (topic `po.email`): SMTP with the PDF from `pdf` attached
- `http_api`: `HttpApiDelivery` (topic `po.http`): JSON POST with an Idempotency-Key; `parse_ack_response`
- `edi`: `EdiDelivery` (topic `po.edi`): X12 850 file drop, checked by parsing it back; `edi_ack`: 855/997 readers
- `ack`: signed acknowledge links (`sign_ack`, `verify_ack`)
"""

from stockpilot.adapters.suppliers.document import (
    TOPIC_EDI,
    TOPIC_EMAIL,
    TOPIC_HTTP,
    DeliveryError,
    InvalidPurchaseOrder,
    PermanentDeliveryError,
    PurchaseOrderDocument,
    TransientDeliveryError,
)

__all__ = [
    "TOPIC_EDI",
    "TOPIC_EMAIL",
    "TOPIC_HTTP",
    "DeliveryError",
    "InvalidPurchaseOrder",
    "PermanentDeliveryError",
    "PurchaseOrderDocument",
    "TransientDeliveryError",
]
