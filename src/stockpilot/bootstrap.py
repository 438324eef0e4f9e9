"""Wiring: settings in, a ready set of services out. The only place that picks concrete adapters."""

from __future__ import annotations

from dataclasses import dataclass, field

from stockpilot.adapters.channels.pushers import default_pushers
from stockpilot.adapters.db.database import Database
from stockpilot.adapters.db.migrate import upgrade
from stockpilot.adapters.system_clock import SystemClock
from stockpilot.config import Settings
from stockpilot.domain.clock import Clock
from stockpilot.runtime.foreground import Foreground
from stockpilot.services.ads import AdsService
from stockpilot.services.backorder_notices import BackorderNotices
from stockpilot.services.catalog import CatalogService
from stockpilot.services.channel_locations import ChannelLocations
from stockpilot.services.channel_push import ChannelPushes
from stockpilot.services.channel_reconcile import ChannelReconcile
from stockpilot.services.channels import ChannelService
from stockpilot.services.check import CheckService
from stockpilot.services.context import Context
from stockpilot.services.orders import OrderService
from stockpilot.services.plan import PlanService
from stockpilot.services.planning import PlanningSettings
from stockpilot.services.purchasing import PurchasingService
from stockpilot.services.reservations import ReservationService
from stockpilot.services.staff_alerts import StaffAlerts
from stockpilot.services.stock import StockService
from stockpilot.services.suppliers import SupplierService
from stockpilot.services.tokens import TokenService
from stockpilot.services.users import UserService
from stockpilot.services.waitlist import WaitlistService
from stockpilot.services.webhook_intake import WebhookIntake
from stockpilot.services.webhook_processing import WebhookDeliveries


@dataclass(frozen=True)
class Stockpilot:
    ctx: Context
    catalog: CatalogService
    stock: StockService
    reservations: ReservationService
    orders: OrderService
    checker: CheckService
    tokens: TokenService
    suppliers: SupplierService
    purchasing: PurchasingService
    planning: PlanningSettings
    plan: PlanService
    channels: ChannelService
    webhook_intake: WebhookIntake
    webhooks: WebhookDeliveries
    waitlist: WaitlistService
    users: UserService  # dashboard sign-in (issue 7)
    ads: AdsService
    alerts: StaffAlerts  # staff alerts (docs/notifications.md)
    channel_pushes: ChannelPushes
    backorders: BackorderNotices  # customer backorder notices (docs/notifications.md)
    channel_locations: ChannelLocations  # outbound: which locations feed each channel location
    channel_reconcile: ChannelReconcile  # outbound: drift between channels' counts and available-to-sell
    # Requests in flight on the API's fast paths; the embedded worker's passes let them go first.
    foreground: Foreground = field(default_factory=Foreground)

    @property
    def db(self) -> Database:
        return self.ctx.db

    def close(self) -> None:
        self.ctx.db.dispose()


def build(settings: Settings | None = None, *, clock: Clock | None = None, migrate: bool = True) -> Stockpilot:
    settings = settings or Settings.from_env()
    db = Database(settings.database_url, pool_size=settings.db_pool_size)
    if migrate:
        upgrade(db)
    ctx = Context(db=db, clock=clock or SystemClock(), settings=settings)
    orders = OrderService(ctx)
    pushes = ChannelPushes(ctx, default_pushers(settings))  # outbound available-to-sell
    return Stockpilot(
        ctx=ctx,
        catalog=CatalogService(ctx),
        stock=StockService(ctx),
        reservations=ReservationService(ctx),
        orders=orders,
        checker=CheckService(ctx),
        tokens=TokenService(ctx),
        suppliers=SupplierService(ctx),
        purchasing=PurchasingService(ctx),
        planning=PlanningSettings(ctx),
        plan=PlanService(ctx),
        channels=ChannelService(ctx),
        webhook_intake=WebhookIntake(ctx),
        webhooks=WebhookDeliveries(ctx),
        waitlist=WaitlistService(ctx),
        users=UserService(ctx),
        ads=AdsService(ctx),
        alerts=StaffAlerts(ctx),
        channel_pushes=pushes,
        channel_locations=ChannelLocations(ctx, pushes),
        channel_reconcile=ChannelReconcile(ctx, pushes),
        backorders=BackorderNotices(ctx, orders),
    )
