"""What a worker runs: outbox handlers by topic, timer handlers by kind, event consumers, outcome hooks.

The one place that turns settings into concrete delivery adapters for the runtime (bootstrap.py does the same for
the services). Later capabilities register theirs here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockpilot.adapters.ads.actions import PAUSE_TOPIC as ADS_PAUSE_TOPIC
from stockpilot.adapters.ads.actions import RESUME_TOPIC as ADS_RESUME_TOPIC
from stockpilot.adapters.ads.actions import AdActions
from stockpilot.adapters.ads.google import GoogleAds, RefreshToken
from stockpilot.adapters.ads.meta import MetaAds
from stockpilot.adapters.ads.platform import AdPlatform
from stockpilot.adapters.channels.order_cancel import TOPIC as CHANNEL_CANCEL_TOPIC
from stockpilot.adapters.channels.order_cancel import ChannelOrderCancel
from stockpilot.adapters.notify.apprise_alerts import TOPIC as APPRISE_TOPIC
from stockpilot.adapters.notify.apprise_alerts import AppriseAlerts
from stockpilot.adapters.notify.customer_email import CONFIRM_TOPIC as WAITLIST_CONFIRM_TOPIC
from stockpilot.adapters.notify.customer_email import TOPIC as WAITLIST_TOPIC
from stockpilot.adapters.notify.customer_email import CustomerEmail
from stockpilot.adapters.notify.notice_email import TOPIC as BACKORDER_TOPIC
from stockpilot.adapters.notify.notice_email import NoticeEmail
from stockpilot.adapters.notify.notice_sms import TOPIC as BACKORDER_SMS_TOPIC
from stockpilot.adapters.notify.notice_sms import NoticeSms
from stockpilot.adapters.notify.sms import TOPIC as WAITLIST_SMS_TOPIC
from stockpilot.adapters.notify.sms import CustomerSms, NoSmsChannel
from stockpilot.adapters.notify.staff_email import TOPIC as ALERT_TOPIC
from stockpilot.adapters.notify.staff_email import StaffEmail
from stockpilot.adapters.suppliers.document import TOPIC_EDI, TOPIC_EMAIL, TOPIC_HTTP
from stockpilot.adapters.suppliers.edi import EdiDelivery
from stockpilot.adapters.suppliers.email import EmailDelivery
from stockpilot.adapters.suppliers.http_api import HttpApiDelivery
from stockpilot.adapters.webhook import TOPIC as WEBHOOK_TOPIC
from stockpilot.adapters.webhook import WebhookHandler
from stockpilot.runtime import outbox, timers
from stockpilot.runtime.consumers import Consumer
from stockpilot.services.amazon_polling import POLL_TOPIC as AMAZON_POLL_TOPIC
from stockpilot.services.amazon_polling import AmazonPolling
from stockpilot.services.channel_push import TOPIC as CHANNEL_PUSH_TOPIC
from stockpilot.services.channel_subscriptions import TOPIC as SUBSCRIPTIONS_TOPIC
from stockpilot.services.channel_subscriptions import ChannelSubscriptions
from stockpilot.services.purchasing import PLAN_TOPIC
from stockpilot.services.staff_alerts import ChainedOutcome
from stockpilot.services.webhook_intake import PROCESS_TOPIC as CHANNEL_WEBHOOK_TOPIC
from stockpilot.services.webhook_processing import DeliveryDead, WebhookProcessor

if TYPE_CHECKING:
    from stockpilot.bootstrap import Stockpilot


@dataclass(frozen=True)
class Automations:
    outbox_handlers: dict[str, outbox.Handler]
    timer_handlers: dict[str, timers.TimerHandler]
    consumers: list[Consumer]
    outcomes: dict[str, outbox.OutcomeHook]
    on_start: list[Callable[[], Any]]
    # Topics a worker delivers on a dispatcher thread of their own (see Worker): applying webhooks is database
    # work that a burst of orders waits on, and must not queue behind pushes, mails and supplier calls.
    lanes: tuple[frozenset[str], ...] = (frozenset({CHANNEL_WEBHOOK_TOPIC}),)
    # Topics delivered several rows at a time (outbox.BatchHandler): a burst of webhooks is applied in a few
    # transactions, not one each.
    batch_handlers: dict[str, outbox.BatchHandler] = field(default_factory=dict)

    def worker_kwargs(self) -> dict[str, Any]:
        return {"outbox_handlers": self.outbox_handlers, "timer_handlers": self.timer_handlers,
                "consumers": self.consumers, "outcomes": self.outcomes, "on_start": self.on_start,
                "lanes": self.lanes, "batch_handlers": self.batch_handlers}


def automations(sp: Stockpilot) -> Automations:
    settings = sp.ctx.settings
    processor = WebhookProcessor(sp.ctx, sp.orders)
    mail = _NoSmtp() if not settings.smtp_url else None
    amazon_polling = AmazonPolling(sp.ctx)  # Amazon FBA inventory and orders, polled (services/amazon_polling.py)
    subscriptions = ChannelSubscriptions(sp.ctx)  # webhook subscription health (services/channel_subscriptions.py)
    handlers: dict[str, outbox.Handler] = {
        WEBHOOK_TOPIC: WebhookHandler(),
        TOPIC_EMAIL: mail or EmailDelivery(settings.smtp_url or "", settings.mail_from),
        TOPIC_HTTP: HttpApiDelivery(),
        TOPIC_EDI: EdiDelivery(str(Path(settings.edi_dir))),
        ALERT_TOPIC: mail or StaffEmail(settings.smtp_url or "", settings.mail_from),
        PLAN_TOPIC: lambda payload, key: sp.plan.recompute().as_dict(),
        CHANNEL_WEBHOOK_TOPIC: processor,
        WAITLIST_TOPIC: mail or CustomerEmail(settings.smtp_url or "", settings.mail_from,
                                              sp.waitlist.still_subscribed),
        # staff alerts (docs/notifications.md)
        APPRISE_TOPIC: AppriseAlerts(sp.alerts.urls_by_destination, twilio_api_url=settings.twilio_api_url),
        AMAZON_POLL_TOPIC: amazon_polling,
        SUBSCRIPTIONS_TOPIC: subscriptions,
        CHANNEL_PUSH_TOPIC: sp.channel_pushes.deliver,  # available-to-sell out to the channels
        BACKORDER_TOPIC: mail or NoticeEmail(settings.smtp_url or "", settings.mail_from),  # customer notices
        CHANNEL_CANCEL_TOPIC: ChannelOrderCancel(sp.backorders.channel_named,  # a backorder cancel, on the store
                                                 settings.channel_http_timeout_seconds),
    }
    ads = AdActions(_ad_platforms(sp), sp.ads.was_sent, sp.ads.mark_sent)  # Ads
    handlers.update({ADS_PAUSE_TOPIC: ads.pause, ADS_RESUME_TOPIC: ads.resume})
    # A delivery that gives up alerts staff (alert topics themselves excluded: an alert about a failed alert loops).
    dead_alerts = {topic: sp.alerts.dead_delivery_hook(topic)
                   for topic in (WEBHOOK_TOPIC, WAITLIST_TOPIC, PLAN_TOPIC, BACKORDER_TOPIC,
                                 CHANNEL_CANCEL_TOPIC, WAITLIST_CONFIRM_TOPIC, WAITLIST_SMS_TOPIC,
                                 AMAZON_POLL_TOPIC, SUBSCRIPTIONS_TOPIC, BACKORDER_SMS_TOPIC)}
    # A failed ad pause leaves the ad set spending: staff hear of it too (after the ads hook records its outcome).
    dead_alerts.update({topic: ChainedOutcome(hook, sp.alerts.dead_delivery_hook(topic))
                        for topic, hook in sp.ads.outcome_hooks().items()})
    # Waitlist contacts: the double opt-in email goes like the notices; texts through Apprise's Twilio plugin
    handlers[WAITLIST_CONFIRM_TOPIC] = handlers[WAITLIST_TOPIC]
    handlers[WAITLIST_SMS_TOPIC] = (CustomerSms(settings.waitlist_sms_url, sp.waitlist.still_subscribed,
                                                twilio_api_url=settings.twilio_api_url)
                                    if settings.waitlist_sms_url else NoSmsChannel())
    # Backorder notices to a customer with a phone and no email: the same Twilio account and path
    handlers[BACKORDER_SMS_TOPIC] = (NoticeSms(settings.waitlist_sms_url, twilio_api_url=settings.twilio_api_url)
                                     if settings.waitlist_sms_url else NoSmsChannel())
    return Automations(
        outbox_handlers=handlers,
        timer_handlers={**sp.purchasing.timer_handlers(), **sp.waitlist.timer_handlers(),
                        **sp.ads.timer_handlers(), **sp.alerts.timer_handlers(),
                        **amazon_polling.timer_handlers(), **subscriptions.timer_handlers()},
        # The channel push consumer runs first in each pass: a push's latency is what channels see.
        consumers=[sp.channel_pushes.consumer(), sp.purchasing.consumer(), sp.waitlist.consumer(), sp.ads.consumer(),
                   sp.alerts.consumer(), sp.backorders.consumer()],
        outcomes={**sp.purchasing.outcome_hooks(), **dead_alerts,
                  CHANNEL_WEBHOOK_TOPIC: ChainedOutcome(DeliveryDead(),
                                                        sp.alerts.dead_delivery_hook(CHANNEL_WEBHOOK_TOPIC)),
                  CHANNEL_PUSH_TOPIC: ChainedOutcome(sp.channel_pushes,  # a push given up on also alerts staff
                                                     sp.alerts.dead_delivery_hook(CHANNEL_PUSH_TOPIC))},
        batch_handlers={CHANNEL_WEBHOOK_TOPIC: processor.batch},
        on_start=[sp.purchasing.schedule_planning, amazon_polling.schedule_all,
                  subscriptions.schedule_sweep, sp.alerts.schedule_pruning],
    )


class _NoSmtp:
    """Mail is not configured: every attempt fails with the reason, so the outbox shows it and can retry later."""

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        raise RuntimeError("STOCKPILOT_SMTP_URL is not set: cannot send email")


def _ad_platforms(sp: Stockpilot) -> dict[str, AdPlatform]:
    """Ads: the platforms with credentials; an action for another one dies at once saying it is not configured."""
    settings = sp.ctx.settings
    platforms: dict[str, AdPlatform] = {}
    if settings.meta_access_token:
        platforms["meta"] = MetaAds(settings.meta_access_token, base_url=settings.meta_graph_url,
                                    version=settings.meta_api_version, app_secret=settings.meta_app_secret)
    refresh = None
    if settings.google_ads_client_id and settings.google_ads_client_secret and settings.google_ads_refresh_token:
        refresh = RefreshToken(settings.google_ads_client_id, settings.google_ads_client_secret,
                               settings.google_ads_refresh_token, settings.google_ads_token_url)
    if settings.google_ads_developer_token and (refresh or settings.google_ads_access_token):
        platforms["google"] = GoogleAds(settings.google_ads_developer_token, settings.google_ads_access_token,
                                        refresh=refresh, login_customer_id=settings.google_ads_login_customer_id,
                                        base_url=settings.google_ads_url, version=settings.google_ads_api_version)
    return platforms
