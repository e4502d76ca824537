"""Clock alerts: how supervision keeps the lights and levels it announces until the relay publishes them.

One alert is one move of one clock (a tick, an extension, a supervisor's 督办): where its light and level
stood before, and the new lights and levels in the order they were reached. The relay turns each step back
into its event. The ticker writes alerts in SQL (adapters/queries.sql `fire_due_clocks`), so this shape is
what both the ticker and `PhaseClock` produce; tests hold the two to the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.supervision.domain.model import LIGHTS, ClockFacts, PhaseClock
from shared.events.supervision import ClockEvent, EscalationRaised, LightChanged


@dataclass(frozen=True)
class ClockAlert:
    clock_id: int
    at: datetime
    due_at: datetime
    due_version: int
    light_before: str
    level_before: str
    steps: tuple[str, ...]  # lights and levels: the two vocabularies never share a word
    manual: bool = False
    note: str = ""
    correlation_id: str | None = None
    causation_id: str | None = None


def alerts_of(clock: PhaseClock, correlation_id: str | None = None,
              causation_id: str | None = None) -> list[ClockAlert]:
    """The events the clock recorded, as alerts: consecutive events of one moment, one due version and one
    origin (by hand or not) share an alert. Where each alert started is read backwards from the clock's
    present light and level."""
    groups: list[list[ClockEvent]] = []
    for event in clock.events:
        if groups and _key(groups[-1][-1]) == _key(event):
            groups[-1].append(event)
        else:
            groups.append([event])
    alerts: list[ClockAlert] = []
    light, level = clock.light, clock.level
    for group in reversed(groups):
        lights = [e for e in group if isinstance(e, LightChanged)]
        levels = [e for e in group if isinstance(e, EscalationRaised)]
        light = lights[0].previous_light if lights else light
        level = levels[0].previous_level if levels else level
        first = group[0]
        manual, note = _key(first)[3:]
        steps = tuple(e.light if isinstance(e, LightChanged) else e.level for e in group)  # type: ignore[attr-defined]
        assert clock.id is not None, "a clock is stored before its events are"
        alerts.append(ClockAlert(clock.id, first.at, first.due_at, first.due_version, light, level, steps,
                                 manual, note, correlation_id, causation_id))
    return alerts[::-1]


def events_of(alert: ClockAlert, facts: ClockFacts) -> list[ClockEvent]:
    """The alert's steps as the events on `supervision.alerts.v1`, each naming what it replaced."""
    common = facts.event_fields(alert.at, alert.due_at, alert.due_version)
    light, level = alert.light_before, alert.level_before
    events: list[ClockEvent] = []
    for step in alert.steps:
        if step in LIGHTS:
            events.append(LightChanged(**common, light=step, previous_light=light))
            light = step
        else:
            events.append(EscalationRaised(**common, level=step, previous_level=level, manual=alert.manual,
                                           note=alert.note))
            level = step
    return events


def _key(event: ClockEvent) -> tuple[datetime, datetime, int, bool, str]:
    manual, note = (event.manual, event.note) if isinstance(event, EscalationRaised) else (False, "")
    return event.at, event.due_at, event.due_version, manual, note
