"""The schema, as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

Alembic migrations create exactly this; tests/integration/test_migrations.py checks they never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from stockpilot.adapters.db.types import BigId, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

locations = Table(
    "locations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("priority", Integer, nullable=False, default=100),
    Column("created_at", UtcDateTime, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("handle", String(255), nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("vendor", String(255)),
    Column("product_type", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
)

# A sellable variant. The stock columns hold the SKU's totals over all locations, kept in the same
# transaction as the per-location row, so crossing a threshold (out of stock, back in stock) is decided
# exactly once even when locations change concurrently.
skus = Table(
    "skus",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sku", String(128), nullable=False, unique=True),
    Column("product_id", Integer, ForeignKey("products.id")),
    Column("title", String(500), nullable=False, default=""),
    Column("barcode", String(64)),
    Column("options", JSON, nullable=False, default=dict),
    Column("backorder_policy", String(16), nullable=False, default="deny"),
    Column("backorder_cap", Integer),
    Column("low_stock_threshold", Integer),
    Column("on_hand", Integer, nullable=False, default=0),
    Column("committed", Integer, nullable=False, default=0),
    Column("reserved", Integer, nullable=False, default=0),
    Column("incoming", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

channel_listings = Table(
    "channel_listings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String(64), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    # What the id is on the channel (inventory_item, variant, product, variation, ...): outbound pushes pick the
    # role their platform's API addresses; inbound matching ignores it. NULL: unknown (inbound only).
    Column("role", String(32)),
    # The parent product of a `variation` (WooCommerce addresses it as /products/{parent}/variations/{id}); any
    # number of variations share one parent, which is not a listing of its own. NULL for every other role.
    Column("parent_external_id", String(255)),
    UniqueConstraint("channel", "external_id", name="uq_channel_listings_channel_external_id"),
    Index("ix_channel_listings_channel_sku_id", "channel", "sku_id"),
    Index("ix_channel_listings_channel_parent_external_id", "channel", "parent_external_id"),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("location_id", Integer, ForeignKey("locations.id"), primary_key=True),
    Column("on_hand", Integer, nullable=False, default=0),
    Column("committed", Integer, nullable=False, default=0),
    Column("reserved", Integer, nullable=False, default=0),
    Column("incoming", Integer, nullable=False, default=0),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    CheckConstraint("committed >= 0", name="committed_not_negative"),
    CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    CheckConstraint("incoming >= 0", name="incoming_not_negative"),
)

# Append-only. Each row carries the signed change to every bucket, so a level is the plain sum of its rows.
movements = Table(
    "movements",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("location_id", Integer, ForeignKey("locations.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("d_on_hand", Integer, nullable=False),
    Column("d_committed", Integer, nullable=False),
    Column("d_reserved", Integer, nullable=False),
    Column("d_incoming", Integer, nullable=False),
    Column("source", String(64), nullable=False),
    Column("reference", String(255)),
    Column("reason", String(500)),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_movements_sku_id_id", "sku_id", "id"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("reference", String(255), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("order_id", BigId, ForeignKey("orders.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_reservations_status_expires_at", "status", "expires_at"),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("reservation_id", BigId, ForeignKey("reservations.id"), nullable=False, index=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("location_id", Integer, ForeignKey("locations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Index("ix_reservation_lines_sku_id_location_id", "sku_id", "location_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("reference", String(255), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("reservation_id", BigId),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", BigId, ForeignKey("orders.id"), nullable=False, index=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("location_id", Integer, ForeignKey("locations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("fulfilled", Integer, nullable=False, default=0),
    Column("cancelled", Integer, nullable=False, default=0),
    Column("returned", Integer, nullable=False, default=0),
)

# Domain events in commit order per SKU; automations consume them by id (see docs/architecture.md).
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("sku", String(128), nullable=False),
    Column("location", String(64)),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_events_sku_id", "sku", "id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

# --- Automation runtime (see docs/runtime.md) ---------------------------------------------------------------

# Transactional outbox: rows are written in the business transaction and delivered later by a Dispatcher.
# status: pending -> delivered | dead; dead -> pending (retry) | discarded (kept for the record).
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", String(128), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("available_at", UtcDateTime, nullable=False),
    Column("leased_until", UtcDateTime),
    Column("leased_by", String(128)),
    Column("last_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    Index("ix_outbox_status_available_at", "status", "available_at"),
)

# Durable timers. status: scheduled -> fired | cancelled, each by a conditional update, so exactly one wins.
timers = Table(
    "timers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    Column("correlation_key", String(255), nullable=False),
    Column("fire_at", UtcDateTime, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("leased_until", UtcDateTime),
    Column("leased_by", String(128)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("fired_at", UtcDateTime),
    Column("cancelled_at", UtcDateTime),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text),
    Index("ix_timers_status_fire_at", "status", "fire_at"),
    Index("ix_timers_correlation_key", "correlation_key"),
)

# The explained decision log: what an automation saw, what it could do, what it chose and why.
decisions = Table(
    "decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subject", String(255), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("choice", JSON),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_decisions_subject_id", "subject", "id"),
    Index("ix_decisions_kind_created_at", "kind", "created_at"),  # the dashboard's "alerts, last 24 h" (0011)
)

# Event consumers (runtime/consumers.py): one row per consumer with its position in `events` (the last event id it
# has processed), a lease (leased_by, leased_until) so one runner works it at a time, the pending gap observation
# (PostgreSQL: ids <= gap_upto still missing once the oldest running transaction id reaches gap_horizon are holes),
# and the stuck state of a failing handler (failing_event_id, failures, last_error).
consumer_positions = Table(
    "consumer_positions",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False, default=0),
    Column("leased_by", String(128)),
    Column("leased_until", UtcDateTime),
    Column("gap_upto", BigInteger),
    Column("gap_horizon", BigInteger),
    Column("failing_event_id", BigInteger),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_error_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# --- Replenishment and purchasing (see docs/purchasing.md) ---------------------------------------------------

suppliers = Table(
    "suppliers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("delivery_method", String(16), nullable=False),  # email | http | edi
    Column("email", String(320)),
    Column("api_url", String(1000)),
    Column("api_token", String(500)),
    Column("edi_dir", String(1000)),
    Column("edi_id", String(15)),  # the supplier's interchange id (ISA08) for X12
    Column("currency", String(3), nullable=False),
    Column("contact", String(200)),
    Column("phone", String(64)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# What a supplier offers for a SKU. unit_cost is a decimal string: exact on both databases.
supplier_offers = Table(
    "supplier_offers",
    metadata,
    Column("supplier_id", Integer, ForeignKey("suppliers.id"), primary_key=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("supplier_sku", String(128)),
    Column("unit_cost", String(32), nullable=False),
    Column("lead_time_days", Float, nullable=False),
    Column("lead_time_spread_days", Float, nullable=False, default=0.0),
    Column("moq", Integer, nullable=False, default=1),
    Column("pack_size", Integer, nullable=False, default=1),
    Column("capacity", Integer),
    Column("available", Boolean, nullable=False, default=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_supplier_offers_sku_id", "sku_id"),
)

# Per-SKU planning settings (service level, manual min/max, cover) and the last computed policy.
sku_policies = Table(
    "sku_policies",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("service_level", Float),
    Column("manual_min", Integer),
    Column("manual_max", Integer),
    Column("target_cover_days", Float),
    Column("policy", String(16), nullable=False, default="stockpilot"),
    Column("mean_daily", Float),
    Column("std_daily", Float),
    Column("demand_class", String(16)),
    Column("reorder_point", Integer),
    Column("safety_stock", Integer),
    Column("order_up_to", Integer),
    Column("explanation", JSON),
    Column("computed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Imported daily demand (`stockpilot import history`); demand from orders is read from the orders themselves.
demand_history = Table(
    "demand_history",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("units", Integer, nullable=False),
)

# Planning's cache of daily demand: one packed series per SKU (int32 little-endian units per day from start_day;
# days past its end, up to demand_series_meta.through_day, are zeros), so a recompute reads one row per SKU, not
# one per SKU-day. `stale` asks for a rebuild from orders and imported history (an import or a cancellation
# changed past days). Derived data: dropping it loses nothing.
demand_series = Table(
    "demand_series",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("start_day", Date, nullable=False),
    Column("units", LargeBinary, nullable=False),
    Column("observed_from", Date, nullable=False),
    Column("stale", Boolean, nullable=False, default=False),
)

# One row: every day before through_day is in demand_series for each SKU that is not stale.
demand_series_meta = Table(
    "demand_series_meta",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("through_day", Date, nullable=False),
)

# A promotion or season: demand on days in [starts_on, ends_on] is multiplied. sku_id NULL: every SKU.
planned_events = Table(
    "planned_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("sku_id", Integer, ForeignKey("skus.id")),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("multiplier", Float, nullable=False),
)

purchase_orders = Table(
    "purchase_orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("number", String(32), unique=True),
    Column("supplier_id", Integer, ForeignKey("suppliers.id")),  # NULL: a draft waiting for a person to pick one
    Column("location_id", Integer, ForeignKey("locations.id"), nullable=False),  # ship-to
    Column("status", String(24), nullable=False),
    Column("revision", Integer, nullable=False, default=0),
    Column("trigger", String(16), nullable=False),  # oversell | reorder | manual | top_up | reroute
    Column("parent_id", BigId),  # the PO this one tops up or replaces
    Column("review_reason", Text),
    Column("currency", String(3), nullable=False),
    Column("needed_by", Date),
    Column("eta", Date),
    Column("tried_suppliers", JSON, nullable=False, default=list),  # codes already tried for this need
    Column("supplier_reference", String(128)),
    Column("delivery_error", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("received_at", UtcDateTime),
    Index("ix_purchase_orders_status_id", "status", "id"),
    Index("ix_purchase_orders_supplier_id_created_at", "supplier_id", "created_at"),
)

purchase_order_lines = Table(
    "purchase_order_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("po_id", BigId, ForeignKey("purchase_orders.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", String(32)),
    Column("received", Integer, nullable=False, default=0),
    Column("confirmed", Integer),
    UniqueConstraint("po_id", "sku_id", name="uq_purchase_order_lines_po_id_sku_id"),
    Index("ix_purchase_order_lines_sku_id", "sku_id"),
)

# The status timeline of each PO (what the dashboard shows), append-only.
purchase_order_history = Table(
    "purchase_order_history",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("po_id", BigId, ForeignKey("purchase_orders.id"), nullable=False, index=True),
    Column("status", String(24), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("note", Text),
    Column("at", UtcDateTime, nullable=False),
)

# At most one amendable open PO per SKU: the primary key is the guarantee, under any concurrency.
sku_in_flight = Table(
    "sku_in_flight",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("po_id", BigId, ForeignKey("purchase_orders.id"), nullable=False),
    Column("since", UtcDateTime, nullable=False),
)

# Replenishment signals waiting out the coalescing window, one row per SKU; flushed per supplier.
replenishment_requests = Table(
    "replenishment_requests",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("group_key", String(64), nullable=False),  # supplier code, or "" when no supplier is on file
    Column("trigger", String(16), nullable=False),
    Column("signals", Integer, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("first_at", UtcDateTime, nullable=False),
    Index("ix_replenishment_requests_group_key", "group_key"),
)

# Secrets the service generates for itself on first start (e.g. the key that signs acknowledge links).
app_secrets = Table(
    "app_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# --- Sales channels and inbound webhooks (see docs/channels.md) ---------------------------------------------

# A registered store. The secret is kept as given: it is what verifies the store's webhooks (never returned by the
# API). One store per shop domain / site URL / store hash, so a delivery resolves to exactly one channel.
channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # shopify | woocommerce | bigcommerce | standard
    Column("secret", String(500), nullable=False),
    Column("shop_domain", String(255), unique=True),
    Column("site_url", String(500), unique=True),
    Column("store_hash", String(64), unique=True),
    Column("api_url", String(1000)),
    Column("api_token", String(500)),
    Column("buffer", Integer, nullable=False, default=0),
    Column("buffer_percent", Integer, nullable=False, default=0, server_default="0"),  # outbound: hold back P%
    Column("location", String(64)),  # the Stockpilot location the channel's own counts are about
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Every verified delivery, persisted before it is answered; the unique keys are the platform's own ids, so a
# redelivery is recognised, not applied again. status: received -> processed | ignored | parked | dead.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("delivery_key", String(255), nullable=False),  # webhook / delivery id, BigCommerce hash, webhook-id
    Column("event_key", String(255)),  # Shopify: topic + X-Shopify-Event-Id (one event, several deliveries)
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64)),
    Column("error", Text),
    Column("effect", JSON),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("received_at", UtcDateTime, nullable=False),
    Column("processed_at", UtcDateTime),
    UniqueConstraint("channel_id", "delivery_key", name="uq_webhook_deliveries_channel_id_delivery_key"),
    UniqueConstraint("channel_id", "event_key", name="uq_webhook_deliveries_channel_id_event_key"),
    Index("ix_webhook_deliveries_status_id", "status", "id"),
)

# The newest payload timestamp applied per (channel, item): an older delivery arriving later is ignored.
channel_watermarks = Table(
    "channel_watermarks",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("item_key", String(255), primary_key=True),
    Column("source_updated_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The last value Stockpilot pushed to a channel per item: a count update equal to it is our own echo.
channel_pushes = Table(
    "channel_pushes",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("item_key", String(255), primary_key=True),
    Column("value", Integer, nullable=False),
    # When the last push wrote its values; also its acknowledgement's token (confirm_push matches it), which a stale
    # push's hook moves so that an older acknowledgement cannot override what the channel may show.
    Column("pushed_at", UtcDateTime, nullable=False),
    # `value` is written just before a push is sent (its echo may beat our own bookkeeping); the value the channel
    # acknowledged is kept apart, so a push that failed is still seen as a change and sent again.
    Column("confirmed_value", Integer),
    Column("confirmed_at", UtcDateTime),
    # The values sent in the last few minutes, [value, sent at, send tag], newest last: in a burst, the echo of an
    # older push can arrive after a newer one was written, and it is still our own echo, not a count made on the
    # channel. A send that provably did not set its value is taken out (by its tag).
    Column("recent_values", JSON),
)

# Back-in-stock waitlist: one entry per (SKU, email), released oldest first in waves throttled to available stock.
# status: waiting -> notified (in `wave`) | unsubscribed (the contact clicked the signed link: never mailed again).
waitlist = Table(
    "waitlist",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), nullable=False),
    Column("email", String(254)),  # email or phone (0012): exactly one is set
    Column("status", String(16), nullable=False),
    Column("wave", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    Column("notified_at", UtcDateTime),
    Column("unsubscribed_at", UtcDateTime),
    # Contact preferences (0012): an E.164 phone for SMS, the IANA time zone quiet hours are judged in, when a
    # double opt-in was confirmed (status `unconfirmed` until then), where the entry came from, and when a notice
    # held back by quiet hours is due.
    Column("phone", String(16)),
    Column("timezone", String(64)),
    Column("confirmed_at", UtcDateTime),
    Column("source", String(16)),
    Column("deliver_at", UtcDateTime),
    UniqueConstraint("sku_id", "email", name="uq_waitlist_sku_id_email"),
    UniqueConstraint("sku_id", "phone", name="uq_waitlist_sku_id_phone"),
    Index("ix_waitlist_sku_id_status_id", "sku_id", "status", "id"),
    Index("ix_waitlist_email", "email"),
    Index("ix_waitlist_phone", "phone"),
)

# The per-contact frequency cap (0014): per contact (an email or an E.164 phone) slots 0..cap-1, each holding when
# one of its recent back-in-stock notices was decided. A wave tells a contact only by claiming a slot whose notice
# is older than the cap period: a guarded UPDATE (or the slot's first INSERT ... ON CONFLICT DO NOTHING), so two
# waves of different SKUs racing for a contact's last slot cannot both win (services/waitlist_waves.py).
waitlist_cap_slots = Table(
    "waitlist_cap_slots",
    metadata,
    Column("contact", String(254), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("entry_id", BigInteger),  # the waitlist entry told then
)

# ---- Ads (0012): ad sets (Meta) / ad groups (Google) that advertise SKUs, and Stockpilot's pauses of them. ----
# state: running | pausing | paused | resuming | left (domain/ads.py); pause_id: the pause episode in progress.
ad_sets = Table(
    "ad_sets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(16), nullable=False),
    Column("external_id", String(64), nullable=False),  # Meta ad set id; Google ad group id
    Column("account", String(32)),  # Google: the customer id the ad group belongs to
    Column("state", String(16), nullable=False),
    Column("pause_id", BigInteger),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("platform", "external_id", name="uq_ad_sets_platform_external_id"),
)

ad_set_skus = Table(
    "ad_set_skus",
    metadata,
    Column("ad_set_id", Integer, ForeignKey("ad_sets.id"), primary_key=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Index("ix_ad_set_skus_sku_id", "sku_id"),
)

# One row per pause episode. status: requested -> paused -> resume_requested -> resumed | left;
# requested -> declined (a person had it paused) | failed (the platform refused). *_sent_at: we sent the change
# (written before the call, so a redelivery knows a PAUSED status may be our own doing).
ad_pauses = Table(
    "ad_pauses",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ad_set_id", Integer, ForeignKey("ad_sets.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("pause_sent_at", UtcDateTime),
    Column("paused_at", UtcDateTime),
    Column("prior_status", String(32)),
    Column("fingerprint", String(64)),  # Meta updated_time right after our pause
    Column("daily_spend_micros", BigInteger),
    Column("resume_attempt", Integer, nullable=False, default=0),
    Column("resume_requested_at", UtcDateTime),
    Column("resume_sent_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("spend_saved_micros", BigInteger),
    Column("reason", Text),
    Index("ix_ad_pauses_ad_set_id_id", "ad_set_id", "id"),
)

# --- Dashboard sign-in (issue 7) -----------------------------------------------------------------------------
# People who sign in to the dashboard with a name and password. password_hash is an Argon2id encoded hash;
# session_version goes up when the password changes or the user is disabled, which ends every open session.
dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),  # stored lower-case
    Column("password_hash", String(255), nullable=False),
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_at", UtcDateTime, nullable=False),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("last_signin_at", UtcDateTime),
    Column("disabled_at", UtcDateTime),
)

# Consecutive failed sign-ins per user name as typed (existing or not): the durable lockout (domain/signin_throttle).
signin_failures = Table(
    "signin_failures",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UtcDateTime, nullable=False),
    Column("locked_until", UtcDateTime),
)

# Staff alerts (docs/notifications.md). alert_occurrences: one row per alert key (derived from the event that raised
# it), so a replayed event finds its key and sends nothing. alert_windows: per (kind, subject) the current merge
# window and how many alerts it swallowed. alert_digest_items: low-priority alerts waiting for their destination's
# digest (`digest_id` set once sent). sku_tags: free-form tags that alert routes can match.
alert_occurrences = Table(
    "alert_occurrences",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
alert_windows = Table(
    "alert_windows",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("window_no", Integer, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("suppressed", Integer, nullable=False),
    Column("context", JSON, nullable=False),  # the window's first alert: template values and destinations
)
alert_digest_items = Table(
    "alert_digest_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("destination", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("title", String(500), nullable=False),
    Column("link", String(1000)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("digest_id", BigInteger),
    Index("ix_alert_digest_items_digest_id_destination", "digest_id", "destination"),
)
sku_tags = Table(
    "sku_tags",
    metadata,
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("tag", String(64), primary_key=True),
)

# Customer backorder notices. order_contacts: who placed an order (from the channel payload or the API): an email,
# an E.164 phone, or both (migration 0013). backorder_notices: one row per backordered order: where it was told
# (email, else phone), the ETA last told, how many notices went out (the outbox key's counter), and whether it has
# shipped or was cancelled by the customer's signed link.
order_contacts = Table(
    "order_contacts",
    metadata,
    Column("order_id", BigId, ForeignKey("orders.id"), primary_key=True),
    Column("email", String(254)),
    Column("phone", String(16)),
    CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="email_or_phone"),
)
backorder_notices = Table(
    "backorder_notices",
    metadata,
    Column("order_id", BigId, ForeignKey("orders.id"), primary_key=True),
    Column("email", String(254)),
    Column("phone", String(16)),
    Column("status", String(16), nullable=False),  # backordered -> shipped | cancelled
    Column("eta", Date),
    Column("notices", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_backorder_notices_status", "status"),
)

# --- Sales channels: Amazon polling and platform webhook subscriptions (see docs/channels.md) -----------------

# An Amazon seller account (channel kind `amazon`): the LWA client secret is the channel's `secret`, the refresh
# token its `api_token`, the SP-API endpoint its `api_url`; these are the rest of what polling and pushing need.
amazon_accounts = Table(
    "amazon_accounts",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("seller_id", String(64), nullable=False),
    Column("marketplace_id", String(32), nullable=False),
    Column("lwa_client_id", String(255), nullable=False),
    Column("lwa_url", String(1000), nullable=False),
    Column("poll_seconds", Integer, nullable=False),
)

# How far a polled stream of a channel has been read (Amazon: `inventory` and `orders`, an ISO 8601 instant as
# the API takes it); a poll reads from here, and moves it forward in the transaction that stores what it found.
channel_poll_cursors = Table(
    "channel_poll_cursors",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("stream", String(32), primary_key=True),
    Column("cursor", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Stockpilot's webhook subscriptions on a platform, one per (channel, topic): the platform's id for it, the
# address it delivers to, and what the last health check found (active | disabled | missing | failed).
channel_subscriptions = Table(
    "channel_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("topic", String(128), nullable=False),
    Column("address", String(1000), nullable=False),
    Column("platform_id", String(255)),
    Column("status", String(16), nullable=False),
    Column("detail", Text),
    Column("checked_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel_id", "topic", name="uq_channel_subscriptions_channel_id_topic"),
)

# --- Channels, outbound (available-to-sell pushes; see docs/channels.md "Outbound") -----------------------------

# Which Stockpilot locations feed a channel's location. Several rows with one external_id: their available is summed
# into that channel location. No rows for a channel: its `location`, else every location, with no channel id.
channel_locations = Table(
    "channel_locations",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("location_id", Integer, ForeignKey("locations.id"), primary_key=True),
    Column("external_id", String(255)),  # the channel's own location id (Shopify / BigCommerce); NULL: none
)

# One row per (channel, SKU) that has ever needed a push: the coalescing state. `generation` counts the stock
# changes seen; `queued` says one outbox push is pending or in flight (at most one per row), `pushed_generation`
# the generation the last finished push had read. A change while queued only bumps generation; when the push
# finishes and generation moved on, its outcome enqueues the next one (with the newest value read at send time).
channel_push_state = Table(
    "channel_push_state",
    metadata,
    Column("channel_id", Integer, ForeignKey("channels.id"), primary_key=True),
    Column("sku_id", Integer, ForeignKey("skus.id"), primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("pushed_generation", BigInteger, nullable=False),
    Column("queued", Boolean, nullable=False),
    Column("pushes", Integer, nullable=False),  # pushes that reached the channel (a burst's coalescing shows here)
    Column("last_pushed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("batch_id", BigInteger),  # 0015: the channel_push_batches row a queued push rides in (NULL: its own row)
    Index("ix_channel_push_state_batch_id", "batch_id"),
)

# 0015: one platform request's worth of (channel, SKU) pushes. Open (sealed_at NULL) while rows join it, up to
# `limit` (the platform's per-request maximum); sealed when its outbox row is first handled, so the rows it carries
# are fixed from then on; finished when that row is delivered or dead. Finished batches are pruned after an hour.
channel_push_batches = Table(
    "channel_push_batches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("size", Integer, nullable=False),
    Column("limit", Integer, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sealed_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("lines", Integer),  # lines it sent, set when finished (a batch that sent nothing starts no window)
    Index("ix_channel_push_batches_channel_id_sealed_at", "channel_id", "sealed_at"),
)
