"""Composition root of notifications."""

from __future__ import annotations

from services.notifications.adapters.email import SmtpEmail
from services.notifications.adapters.sms import HttpSmsGateway
from services.notifications.adapters.webhook import SignedWebhook
from services.notifications.config import NotificationsSettings
from services.notifications.service_layer.handlers import EVENT_HANDLERS
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.messaging.topics import ALERTS, ASSIGNMENTS, INCIDENTS
from shared.runtime import ServiceContainer, build_clock, open_pool

NAME = "notifications"


NotificationsContainer = ServiceContainer[NotificationsSettings, NotificationsUnitOfWork]


async def bootstrap(settings: NotificationsSettings) -> NotificationsContainer:
    pool = await open_pool(settings)
    clock, tasks = await build_clock(settings)
    sms = HttpSmsGateway(settings.sms_url, settings.sms_timeout_seconds)
    webhook = SignedWebhook(settings.hotline_secret.get_secret_value(), settings.webhook_secret.get_secret_value(),
                            settings.sms_timeout_seconds)
    email = SmtpEmail(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_timeout_seconds,
                      settings.smtp_username,
                      settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                      settings.smtp_starttls)
    return NotificationsContainer(
        name=NAME, settings=settings, pool=pool, clock=clock,
        uow=lambda: NotificationsUnitOfWork(pool, clock, settings.hotline_callback_url, settings.sms_max_segments,
                                            settings.sms_bundle_seconds, settings.quiet_hours()),
        handlers=EVENT_HANDLERS, consumes=[INCIDENTS, ASSIGNMENTS, ALERTS], tasks=tasks,
        extras={"channels": {"sms": sms, "webhook": webhook, "email": email},
                "closers": [sms.close, webhook.close, email.close]},
    )
