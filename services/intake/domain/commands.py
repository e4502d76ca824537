"""What callers ask intake to do (imperative names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from shared.events.intake import Point, Urgency


@dataclass(frozen=True)
class Actor:
    """Who acts: the token's subject, role and unit (None for system actions)."""

    sub: str
    role: str
    unit: str | None = None


@dataclass(frozen=True)
class ReportIncident:
    source: str
    category: str
    urgency: Urgency
    title: str
    description: str = ""
    location: Point | None = None
    address: str | None = None
    grid_code: str | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reported_at: datetime | None = None
    attachments: tuple[str, ...] = ()
    actor: Actor | None = None
    incident_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class SignIncident:
    incident_id: uuid.UUID
    actor: Actor
