"""What people are told of each event: which texts, filled with what, and whether it may wait. Pure.

A `Notice` names its templates before they are read (the stored texts are the handler's to load); its
`message` is then the text in every form a channel needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.notifications.domain.templates import (
    assignment_summary,
    assignment_values,
    escalation_summary,
    escalation_values,
    light_summary,
    light_values,
    render,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned
from shared.events.supervision import EscalationRaised, LightChanged


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
    """督办 to contacts and subscribers. Red-card and leader 督办 and emergencies go at once."""
    return Notice("sms.escalation", "email.escalation_subject",
                  escalation_values(event.incident_id, event.category, event.phase, event.level, event.due_at,
                                    event.note),
                  escalation_summary(event.incident_id, event.phase, event.level),
                  urgent=event.level in ("red_card", "leader") or event.urgency == "emergency")
