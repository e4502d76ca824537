"""Events supervision publishes on `supervision.alerts.v1`: lights and 督办 levels."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from shared.events.envelope import Event
from shared.events.intake import Urgency

Light = Literal["green", "yellow", "red"]
Level = Literal["none", "reminder", "yellow_card", "red_card", "leader"]
Phase = Literal["sign", "handle", "verify"]


class ClockEvent(Event):
    incident_id: uuid.UUID
    at: datetime
    phase: Phase
    due_at: datetime
    due_version: int
    category: str
    urgency: Urgency
    grid_code: str | None = None
    unit_id: str | None = None

    def subject(self) -> str:
        return str(self.incident_id)


class LightChanged(ClockEvent):
    type = "supervision.light.changed"
    light: Light
    previous_light: Light


class EscalationRaised(ClockEvent):
    type = "supervision.escalation.raised"
    level: Level
    previous_level: Level
    manual: bool = False
    note: str = ""


SUPERVISION_EVENTS: tuple[type[ClockEvent], ...] = (LightChanged, EscalationRaised)
