"""The event contract: pydantic models per producer, wrapped in a CloudEvents envelope."""

from __future__ import annotations

from shared.events.envelope import Envelope, Event
from shared.events.intake import INTAKE_EVENTS
from shared.events.notifications import NOTIFICATION_EVENTS
from shared.events.routing import ROUTING_EVENTS
from shared.events.supervision import SUPERVISION_EVENTS

EVENT_MODELS: dict[str, type[Event]] = {
    model.type: model
    for model in (*INTAKE_EVENTS, *ROUTING_EVENTS, *SUPERVISION_EVENTS, *NOTIFICATION_EVENTS)
}


def parse_event(envelope: Envelope) -> Event:
    """The typed payload of an envelope; KeyError for a type this code does not know."""
    return EVENT_MODELS[envelope.type].model_validate(envelope.data)


__all__ = ["EVENT_MODELS", "Envelope", "Event", "parse_event"]
