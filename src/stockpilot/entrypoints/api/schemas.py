"""Request bodies of the HTTP API (responses are the services' JSON-ready dicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationIn(Strict):
    code: str = Field(min_length=1, max_length=64)
    name: str | None = None
    kind: Literal["warehouse", "3pl", "store", "fba"] = "warehouse"
    priority: int = 100


class ProductIn(Strict):
    handle: str = Field(min_length=1)
    title: str | None = None
    vendor: str | None = None
    product_type: str | None = None


class SkuIn(Strict):
    title: str | None = None
    barcode: str | None = None
    options: dict[str, str] | None = None
    backorder_policy: Literal["deny", "allow", "allow_notify"] | None = None
    backorder_cap: int | None = Field(default=None, ge=0)
    low_stock_threshold: int | None = Field(default=None, ge=0)
    product: ProductIn | None = None

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude={"product"}, exclude_none=True)


class AdjustmentIn(Strict):
    sku: str
    location: str
    delta: int | None = None
    on_hand: int | None = Field(default=None, ge=0)
    kind: Literal["adjust", "receive", "return"] = "adjust"
    reason: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> AdjustmentIn:
        if (self.delta is None) == (self.on_hand is None):
            raise ValueError("give exactly one of delta or on_hand")
        return self


class TransferIn(Strict):
    sku: str
    from_location: str
    to_location: str
    quantity: int = Field(gt=0)
    reason: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=200)


class LineIn(Strict):
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    location: str | None = None


class ReservationIn(Strict):
    reference: str = Field(min_length=1, max_length=255)
    lines: list[LineIn] = Field(min_length=1)
    ttl_seconds: int | None = Field(default=None, gt=0)
    source: str = "api"
    # A refusal (409 insufficient_stock) enrols the customer in the SKU's waitlist (entrypoints/api/notify_me.py)
    customer_email: str | None = Field(default=None, max_length=254)
    customer_phone: str | None = Field(default=None, max_length=32)
    notify_me: bool = False


class ExtendIn(Strict):
    ttl_seconds: int | None = Field(default=None, gt=0)


class CommitIn(Strict):
    order_reference: str | None = None
    customer_email: str | None = Field(default=None, max_length=254)  # for backorder notices
    customer_phone: str | None = Field(default=None, max_length=32)  # E.164: backorder notices by SMS


class OrderIn(Strict):
    reference: str = Field(min_length=1, max_length=255)
    lines: list[LineIn] = Field(min_length=1)
    source: str = "api"
    customer_email: str | None = Field(default=None, max_length=254)  # for backorder notices
    # E.164: backorder notices by SMS when there is no email; with notify_me, a refusal (409 insufficient_stock)
    # enrols the customer in the SKU's waitlist (api/notify_me.py)
    customer_phone: str | None = Field(default=None, max_length=32)
    notify_me: bool = False


class ReturnIn(Strict):
    sku: str
    quantity: int = Field(gt=0)
    restock: bool = False
    location: str | None = None
    reason: str | None = None
    idempotency_key: str = Field(min_length=1, max_length=200)


class ListingIn(Strict):
    channel: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    role: str | None = None  # what the id is on the channel (inventory_item, variant, ...): what pushes address
    # A `variation`'s parent product id (required then, refused for other roles): WooCommerce's
    # /products/{parent}/variations/{id}; any number of variations share one parent.
    parent_external_id: str | None = None
