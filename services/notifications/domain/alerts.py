"""Alerts: light changes and 督办 on the supervisors' live stream (SSE). Pure."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Alert:
    """One event on the live stream (once per event), shown to callers whose area covers its grid."""

    event_id: uuid.UUID
    event_type: str
    incident_id: uuid.UUID | None
    grid_code: str | None
    payload: dict[str, Any]  # the event's data as it was on the bus
    created_at: datetime
