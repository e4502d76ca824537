"""Notifications on a real database for integration tests: the bus bootstrap builds, with the channels and
delivery rules a test gives, and deliveries made directly (for tests about the deliverer alone)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from services.notifications.adapters.secret_box import SecretBox
from services.notifications.bootstrap import message_bus
from services.notifications.domain.commands import DeliverDue
from services.notifications.domain.delivery import ChannelName, Delivery, DeliveryPolicy
from services.notifications.service_layer.channels import Channel
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork, PgNotificationsUnitOfWork
from shared.clock import Clock
from shared.messagebus import MessageBus
from tests.unit.notifications.fakes import channels

HOTLINE_CALLBACK_URL = "http://12345.example/cb"


SECRET_BOX = SecretBox(["subscription-secret-key-for-tests"])


def units_of_work(pool: asyncpg.Pool, clock: Clock) -> Callable[[], NotificationsUnitOfWork]:
    return lambda: PgNotificationsUnitOfWork(pool, clock, SECRET_BOX)


def bus(uow: Callable[[], NotificationsUnitOfWork], policy: DeliveryPolicy | None = None, *,
        sms: Channel | None = None, email: Channel | None = None, webhook: Channel | None = None,
        hotline_callback_url: str = HOTLINE_CALLBACK_URL) -> MessageBus[NotificationsUnitOfWork]:
    return message_bus(uow, channels=channels(sms, email, webhook), policy=policy or DeliveryPolicy(),
                       hotline_callback_url=hotline_callback_url)


async def deliver_due(uow: Callable[[], NotificationsUnitOfWork], batch: int, max_attempts: int, backoff: float,
                      concurrency: int = 1, policy: DeliveryPolicy | None = None, *, sms: Channel | None = None,
                      email: Channel | None = None, webhook: Channel | None = None) -> int:
    """One deliverer pass through the bus, with these channels, dead after `max_attempts`."""
    rules = dataclasses.replace(policy or DeliveryPolicy(), max_attempts=max_attempts, backoff_base=backoff)
    deliverer = bus(uow, rules, sms=sms, email=email, webhook=webhook)
    return await deliverer.handle(DeliverDue(batch=batch, concurrency=concurrency))


def delivery(*, channel: ChannelName, recipient: str, address: str, body: str, urgent: bool, at: datetime,
             incident_id: uuid.UUID | None = None, event_type: str = "t", summary: str | None = None) -> Delivery:
    """A delivery due at `at`, for an event of its own."""
    return Delivery(event_id=uuid.uuid4(), event_type=event_type, incident_id=incident_id, channel=channel,
                    recipient=recipient, address=address, body=body, urgent=urgent, created_at=at,
                    next_attempt_at=at, summary=summary)


async def add(uow: Callable[[], NotificationsUnitOfWork], *deliveries: Delivery) -> None:
    async with uow() as unit:
        for one in deliveries:
            await unit.deliveries.add(one)
        await unit.commit()
