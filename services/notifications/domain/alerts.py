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


# What the command centre must act on (its queue, the requests it decides, what presses): each goes on the live
# stream under its own name and is a subscription type of its own. The value names it in a message.
CENTRE_ALERTS: dict[str, str] = {
    "centre.unroutable": "待派遣",  # in the centre's queue: no place or owner by the rules, or a return to settle
    "centre.second_return": "二次退单待终审",  # returned twice: the centre's dispatch is final
    "centre.extension_requested": "延期申请待审批",
    "centre.suspension_requested": "挂起申请待审批",
    "centre.emergency_reported": "特急案件",
    "centre.urged": "催办",  # on the stream as intake.incident.urged, as it was before it had a name here
}
