"""Composition root of notifications: the pool, the clock, the channels, the delivery rules and the bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.notifications.adapters.email import SmtpEmail
from services.notifications.adapters.secret_box import SecretBox
from services.notifications.adapters.sms import HttpSmsGateway
from services.notifications.adapters.webhook import SignedWebhook
from services.notifications.config import NotificationsSettings
from services.notifications.domain.delivery import DeliveryPolicy, QuietHours
from services.notifications.service_layer.channels import Channels
from services.notifications.service_layer.handlers import BATCH_EVENT_HANDLERS, COMMAND_HANDLERS, EVENT_HANDLERS
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork, PgNotificationsUnitOfWork
from shared.egress import Egress, EgressPolicy
from shared.messagebus import MessageBus
from shared.messaging.topics import ALERTS, ASSIGNMENTS, INCIDENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "notifications"


@dataclass(kw_only=True)
class NotificationsContainer(ServiceContainer[NotificationsSettings, NotificationsUnitOfWork]):
    channels: Channels  # what the deliverer sends through
    policy: DeliveryPolicy


def message_bus(uow: Callable[[], NotificationsUnitOfWork], *, channels: Channels, policy: DeliveryPolicy,
                hotline_callback_url: str = "") -> MessageBus[NotificationsUnitOfWork]:
    return MessageBus(uow, COMMAND_HANDLERS, EVENT_HANDLERS,
                      dependencies={"channels": channels, "policy": policy,
                                    "hotline_callback_url": hotline_callback_url},
                      batch_events=BATCH_EVENT_HANDLERS)


def delivery_policy(settings: NotificationsSettings) -> DeliveryPolicy:
    quiet = settings.quiet_hours()
    return DeliveryPolicy(max_segments=settings.sms_max_segments, bundle_seconds=settings.sms_bundle_seconds,
                          quiet_hours=QuietHours(*quiet) if quiet else None,
                          max_attempts=settings.delivery_max_attempts,
                          backoff_base=settings.delivery_backoff_seconds)


def webhook_egress(settings: NotificationsSettings) -> Egress:
    """Where webhooks may go: https only outside dev and test, public addresses only unless allowed."""
    return Egress(EgressPolicy(require_https=not settings.is_dev, allow_local=settings.allows_local_webhooks(),
                               networks=settings.webhook_networks()))


async def bootstrap(settings: NotificationsSettings) -> NotificationsContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    sms = HttpSmsGateway(settings.sms_url, settings.sms_timeout_seconds, max_response_bytes=settings.response_max_bytes)
    egress = webhook_egress(settings)
    webhook = SignedWebhook(settings.hotline_callback_secret.get_secret_value(), egress,
                            deadline_seconds=settings.webhook_timeout_seconds,
                            max_response_bytes=settings.response_max_bytes)
    email = SmtpEmail(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_timeout_seconds,
                      settings.smtp_username,
                      settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                      settings.smtp_starttls)
    channels = Channels(sms=sms, email=email, webhook=webhook, webhook_urls=egress)
    policy = delivery_policy(settings)
    box = SecretBox(settings.subscription_secret_keys())
    bus = message_bus(lambda: PgNotificationsUnitOfWork(pool, clock, box), channels=channels, policy=policy,
                      hotline_callback_url=settings.hotline_callback_url)
    return NotificationsContainer(name=NAME, settings=settings, pool=pool, clock=clock, bus=bus,
                                  consumes=[INCIDENTS, ASSIGNMENTS, ALERTS], tasks=tasks,
                                  closers=[sms.close, webhook.close, email.close], channels=channels, policy=policy)
