import uuid
from datetime import datetime, timedelta

from services.supervision.domain.model import CaseFacts, PhaseClock, Policy
from shared.calendar import ZONE, WorkCalendar

CAL = WorkCalendar()
START = datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)  # Monday
FACTS = CaseFacts(uuid.uuid4(), "safety.fire", "urgent", "320508019044001", "grid-1")


def urgent_sign_clock() -> PhaseClock:
    return PhaseClock.start(FACTS, "sign", Policy("*", "urgent", "sign", 2, "hours"), START, CAL, cycle=1)


def fired(clock: PhaseClock) -> list[tuple[str, str]]:
    out = [(e.type.split(".")[1], getattr(e, "light", None) or e.level) for e in clock.events]
    clock.events = []
    return out


def test_thresholds_of_a_two_hour_limit():
    clock = urgent_sign_clock()
    assert clock.yellow_at == START + timedelta(minutes=84)
    assert clock.due_at == START + timedelta(hours=2)
    assert clock.red_card_at == START + timedelta(hours=3)
    assert clock.leader_at == START + timedelta(hours=4)
    assert clock.next_check_at() == clock.yellow_at


def test_each_threshold_fires_once_in_order():
    clock = urgent_sign_clock()
    clock.tick(START + timedelta(minutes=80))
    assert fired(clock) == []
    clock.tick(START + timedelta(minutes=90))
    assert fired(clock) == [("light", "yellow"), ("escalation", "reminder")]
    clock.tick(START + timedelta(minutes=91))
    assert fired(clock) == []
    assert clock.next_check_at() == clock.due_at
    clock.tick(START + timedelta(hours=2))
    assert fired(clock) == [("light", "red"), ("escalation", "yellow_card")]
    clock.tick(START + timedelta(hours=3, minutes=1))
    assert fired(clock) == [("escalation", "red_card")]
    clock.tick(START + timedelta(hours=5))
    assert fired(clock) == [("escalation", "leader")]
    assert clock.next_check_at() is None
    clock.tick(START + timedelta(days=9))
    assert fired(clock) == []


def test_a_late_ticker_catches_up_with_every_step_in_order():
    clock = urgent_sign_clock()
    clock.tick(START + timedelta(hours=10))
    assert fired(clock) == [("light", "yellow"), ("escalation", "reminder"), ("light", "red"),
                            ("escalation", "yellow_card"), ("escalation", "red_card"), ("escalation", "leader")]


def test_a_stopped_clock_fires_nothing():
    clock = urgent_sign_clock()
    clock.stop(START + timedelta(minutes=30))
    clock.tick(START + timedelta(hours=10))
    assert fired(clock) == [] and clock.next_check_at() is None


def test_working_day_limit_uses_the_calendar_and_the_working_day_ladder():
    clock = PhaseClock.start(FACTS, "handle", Policy("*", "normal", "handle", 5, "working_days"), START, CAL, 1)
    assert clock.due_at == datetime(2026, 11, 30, 17, 30, tzinfo=ZONE)
    assert clock.red_card_at == datetime(2026, 12, 1, 17, 30, tzinfo=ZONE)
    assert clock.leader_at == datetime(2026, 12, 7, 17, 30, tzinfo=ZONE)
    assert START < clock.yellow_at < clock.due_at


def test_events_carry_the_case_facts_and_the_due_version():
    clock = urgent_sign_clock()
    clock.tick(START + timedelta(minutes=85))
    light = clock.events[0]
    assert (light.incident_id, light.phase, light.due_version, light.grid_code, light.unit_id) == (
        FACTS.incident_id, "sign", 1, "320508019044001", "grid-1")
    assert (light.previous_light, light.light) == ("green", "yellow")
