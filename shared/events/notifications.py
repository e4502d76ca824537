"""Events notifications publishes on `notifications.deliveries.v1`: the fate of each delivery."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.events.envelope import Event


class DeliveryEvent(Event):
    delivery_id: uuid.UUID
    incident_id: uuid.UUID | None = None
    cause_event_id: uuid.UUID
    channel: str
    recipient: str
    attempts: int
    at: datetime

    def subject(self) -> str:
        return str(self.incident_id or self.delivery_id)


class DeliverySucceeded(DeliveryEvent):
    type = "notifications.delivery.succeeded"


class DeliveryFailed(DeliveryEvent):
    type = "notifications.delivery.failed"
    error: str


NOTIFICATION_EVENTS: tuple[type[DeliveryEvent], ...] = (DeliverySucceeded, DeliveryFailed)
