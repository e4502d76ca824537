"""What people are told of each event: which texts, filled with what, and whether it may wait. Pure.

A `Notice` names its templates before they are read (the stored texts are the handler's to load); its
`message` is then the text in every form a channel needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.notifications.domain.alerts import CENTRE_ALERTS
from services.notifications.domain.cases import CaseOwner, Part
from services.notifications.domain.templates import (
    assignment_summary,
    assignment_values,
    case_ref,
    centre_values,
    co_assigned_summary,
    escalation_summary,
    escalation_values,
    light_summary,
    light_values,
    reassigned_away_summary,
    render,
    suspension_values,
    urge_summary,
    urge_values,
)
from shared.events.intake import IncidentRestored, IncidentUrged, SuspensionDecided
from shared.events.routing import IncidentAssigned, IncidentReassigned
from shared.events.supervision import EscalationRaised, LightChanged

# 督办 levels that never wait (DOMAIN.md §5, DESIGN §6: quiet hours spare emergencies and red lights): 黄牌督办
# fires at the red light, 红牌 and 领导督办 after it. Only 催办 (the yellow light's) may wait for the morning.
URGENT_LEVELS = frozenset({"yellow_card", "red_card", "leader"})


@dataclass(frozen=True)
class Message:
    """One notice in its forms: the text (an SMS cuts it to the segment limit; an email body keeps it whole),
    an email subject, and its line in a bundled SMS."""

    text: str
    subject: str
    summary: str


@dataclass(frozen=True)
class Notice:
    """What to tell about one event: its templates, the values they are filled with, and whether it is
    urgent (goes at once, night or not, never bundled)."""

    text_template: str
    subject_template: str
    values: dict[str, str]
    summary: str
    urgent: bool

    @property
    def templates(self) -> list[str]:
        return [self.text_template, self.subject_template]

    def message(self, stored: Mapping[str, str]) -> Message:
        """The texts, from the stored templates (else the defaults)."""
        return Message(render(self.text_template, stored.get(self.text_template), self.values),
                       render(self.subject_template, stored.get(self.subject_template), self.values), self.summary)


def assignment_notice(event: IncidentAssigned | IncidentReassigned) -> Notice:
    """A new case to its owner. Urgent and emergency cases go at once; a normal one may wait one bundling
    window (five new cases in a minute are one SMS)."""
    return Notice("sms.assigned", "email.assigned_subject",
                  assignment_values(event.incident_id, event.category, event.urgency, event.owner.unit_name),
                  assignment_summary(event.incident_id), urgent=event.urgency != "normal")


def co_owner_notice(event: IncidentAssigned | IncidentReassigned) -> Notice:
    """协办: a co-owner hears which unit leads the case, as soon as the lead owner hears of it."""
    return Notice("sms.co_assigned", "email.co_assigned_subject",
                  assignment_values(event.incident_id, event.category, event.urgency, event.owner.unit_name),
                  co_assigned_summary(event.incident_id), urgent=event.urgency != "normal")


def reassigned_away_notice(event: IncidentAssigned | IncidentReassigned) -> Notice:
    """改派: the owner the case was taken from hears where it went, as soon as the new owner hears of it (so
    nobody keeps working a case that is no longer theirs)."""
    return Notice("sms.reassigned_away", "email.reassigned_away_subject",
                  assignment_values(event.incident_id, event.category, event.urgency, event.owner.unit_name),
                  reassigned_away_summary(event.incident_id), urgent=event.urgency != "normal")


def assignment_notices(event: IncidentAssigned | IncidentReassigned) -> dict[Part, Notice]:
    """What each party of an assignment is told."""
    return {"owner": assignment_notice(event), "co_owner": co_owner_notice(event),
            "previous": reassigned_away_notice(event)}


def light_notice(event: LightChanged) -> Notice | None:
    """A yellow or red light to the case's handler; None for a light turning green again (an extension):
    good news the handler already has. Red lights and emergencies go at once."""
    if event.light == "green":
        return None
    return Notice(f"sms.light_{event.light}", "email.light_subject",
                  light_values(event.incident_id, event.category, event.phase, event.light, event.due_at),
                  light_summary(event.incident_id, event.phase, event.light),
                  urgent=event.light == "red" or event.urgency == "emergency")


def escalation_notice(event: EscalationRaised) -> Notice:
    """督办 to contacts and subscribers. Yellow-card (it fires at the red light), red-card and leader 督办 and
    emergencies go at once; a 催办 may wait out the night and a bundling window."""
    return Notice("sms.escalation", "email.escalation_subject",
                  escalation_values(event.incident_id, event.category, event.phase, event.level, event.due_at,
                                    event.note),
                  escalation_summary(event.incident_id, event.phase, event.level),
                  urgent=event.level in URGENT_LEVELS or event.urgency == "emergency")


def urge_notice(event: IncidentUrged, owner: CaseOwner | None) -> Notice:
    """催办 (12345 or the centre pressing for progress, DOMAIN.md §7) to the case's handler and subscribers.
    Like the ladder's 催办 it may wait out the night, unless the case is an emergency. The event names no
    category: it is the one routing gave the owner notifications knows of."""
    return Notice("sms.urged", "email.urged_subject",
                  urge_values(event.incident_id, owner.category if owner else None, event.note),
                  urge_summary(event.incident_id), urgent=owner is not None and owner.urgency == "emergency")


def centre_notice(alert: str, incident_id: object, category: str | None, urgency: str | None,
                  detail: str = "") -> Notice:
    """A centre alert to its subscribers. An emergency goes at once, night or not; so does a case left with no
    owner unless it is a normal one; the requests (延期, 挂起) and a second return may wait a bundling window."""
    what = CENTRE_ALERTS[alert]
    urgent = urgency == "emergency" or (alert == "centre.unroutable" and urgency == "urgent")
    return Notice("sms.centre_alert", "email.centre_alert_subject",
                  centre_values(incident_id, category, urgency, what, detail),
                  f"案件{case_ref(incident_id)}{what}", urgent=urgent)


def suspension_decided_notice(event: SuspensionDecided, owner: CaseOwner | None) -> Notice:
    """The centre's answer to a 挂起 request, to the unit that asked (DOMAIN §5)."""
    return Notice("sms.suspension_decided", "email.suspension_decided_subject",
                  suspension_values(event.incident_id, owner.category if owner else None, event.approved,
                                    event.until, event.note),
                  f"案件{case_ref(event.incident_id)}挂起申请{'已批准' if event.approved else '未批准'}",
                  urgent=False)


def restored_notice(event: IncidentRestored, owner: CaseOwner) -> Notice:
    """12345 refused our 退单: the unit that had the order has it again and signs afresh."""
    values = assignment_values(event.incident_id, owner.category, owner.urgency, owner.unit_name)
    return Notice("sms.restored", "email.restored_subject", {**values, "note": event.note},
                  f"案件{case_ref(event.incident_id)}退单未获12345同意", urgent=owner.urgency != "normal")
