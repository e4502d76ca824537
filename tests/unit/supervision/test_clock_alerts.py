"""A clock's events kept as alerts and rendered again by the relay come out as they went in."""

import uuid
from datetime import datetime, timedelta

import pytest

from services.supervision.domain.alerts import alerts_of, events_of
from services.supervision.domain.model import CaseFacts, PhaseClock, Policy
from shared.calendar import ZONE, WorkCalendar

CAL = WorkCalendar()
START = datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)  # Monday
POLICY = Policy("*", "normal", "handle", 2, "working_days")


def handle_clock() -> PhaseClock:
    clock = PhaseClock.start(CaseFacts(uuid.uuid4(), "city.garbage", "normal", "320508019044001", "grid-1"),
                             "handle", POLICY, START, CAL, cycle=1)
    clock.id = 7
    return clock


def round_trip(clock: PhaseClock) -> tuple[list, list]:
    recorded = list(clock.events)
    rendered = [event for alert in alerts_of(clock) for event in events_of(alert, clock.facts)]
    return recorded, rendered


def late_tick(clock: PhaseClock) -> None:
    clock.tick(START + timedelta(days=30))


def extension_after_red(clock: PhaseClock) -> None:
    clock.tick(clock.due_at + timedelta(minutes=1))  # red, yellow card
    clock.extend(3, "working_days", clock.due_at + timedelta(hours=1), CAL, POLICY)  # back to green
    clock.tick(clock.yellow_at + timedelta(minutes=1))  # yellow again, in the new due version


def by_hand_then_due(clock: PhaseClock) -> None:
    clock.escalate_by_hand("red_card", "sup-1: 领导批示", START + timedelta(hours=1))
    clock.tick(clock.due_at)  # yellow and red lights; the reminder and yellow card are below red card


@pytest.mark.parametrize("story", [late_tick, extension_after_red, by_hand_then_due])
def test_events_survive_being_kept_as_alerts(story):
    clock = handle_clock()
    story(clock)
    recorded, rendered = round_trip(clock)
    assert len(recorded) >= 3
    assert rendered == recorded


def test_one_moment_makes_one_alert_and_the_steps_keep_their_order():
    clock = handle_clock()
    late_tick(clock)
    [alert] = alerts_of(clock)
    assert alert.steps == ("yellow", "reminder", "red", "yellow_card", "red_card", "leader")
    assert (alert.light_before, alert.level_before, alert.manual) == ("green", "none", False)


def test_an_escalation_by_hand_is_its_own_alert_with_its_note():
    clock = handle_clock()
    by_hand_then_due(clock)
    manual, ticked = alerts_of(clock)
    assert (manual.steps, manual.manual, manual.note) == (("red_card",), True, "sup-1: 领导批示")
    assert (ticked.steps, ticked.level_before, ticked.manual) == (("yellow", "red"), "red_card", False)
