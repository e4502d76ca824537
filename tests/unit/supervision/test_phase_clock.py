import uuid
from datetime import date, datetime, timedelta

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
    clock.stop(START + timedelta(minutes=30), "signed")
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


def test_pause_stops_the_thresholds_and_resume_moves_them_by_the_paused_time():
    clock = urgent_sign_clock()
    clock.pause(START + timedelta(minutes=30))
    assert clock.next_check_at() is None
    clock.tick(START + timedelta(hours=5))
    assert fired(clock) == []
    clock.resume(START + timedelta(hours=5), CAL)  # paused 4.5 h: everything ahead moves 4.5 h
    assert clock.yellow_at == START + timedelta(minutes=84 + 270)
    assert clock.due_at == START + timedelta(hours=6, minutes=30)
    assert clock.due_version == 2 and clock.next_check_at() == clock.yellow_at


def test_resume_in_working_time_keeps_the_working_budget_left():
    policy = Policy("*", "normal", "handle", 7, "working_hours")
    # Mon 09:00 + 7 wh: 3 h to noon, 3.5 h in the afternoon, 0.5 h on Tuesday → Tue 09:00.
    clock = PhaseClock.start(FACTS, "handle", policy, START, CAL, 1)
    assert clock.due_at == datetime(2026, 11, 24, 9, 0, tzinfo=ZONE)
    clock.pause(datetime(2026, 11, 23, 11, 0, tzinfo=ZONE))          # 2 wh used, 5 wh left
    clock.resume(datetime(2026, 11, 25, 9, 0, tzinfo=ZONE), CAL)     # Wed 09:00 + 3 h + 2 h
    assert clock.due_at == datetime(2026, 11, 25, 16, 0, tzinfo=ZONE)


def test_an_approved_extension_is_a_new_due_version_and_can_turn_yellow_back_to_green():
    policy = Policy("*", "normal", "handle", 2, "working_days")
    clock = PhaseClock.start(FACTS, "handle", policy, START, CAL, 1)  # Mon → due Wed 17:30
    assert clock.due_at == datetime(2026, 11, 25, 17, 30, tzinfo=ZONE)
    clock.tick(clock.yellow_at)
    assert fired(clock) == [("light", "yellow"), ("escalation", "reminder")]
    now = clock.yellow_at + timedelta(minutes=5)
    assert clock.extend(3, "working_days", now, CAL, policy)
    assert clock.due_at == datetime(2026, 11, 30, 17, 30, tzinfo=ZONE) and clock.due_version == 2
    assert fired(clock) == [("light", "green")]
    assert clock.level == "reminder"  # 督办 levels are never lowered
    clock.tick(clock.yellow_at)
    assert fired(clock) == [("light", "yellow")]  # the new version's yellow fires; the reminder stays raised


def test_extension_in_another_unit_than_the_limit_does_not_apply():
    clock = urgent_sign_clock()
    assert not clock.extend(1, "working_days", START, CAL, Policy("*", "urgent", "sign", 2, "hours"))
    assert clock.due_version == 1


def test_a_hotline_deadline_earlier_than_the_policy_binds_the_handle_phase():
    deadline = datetime(2026, 11, 24, 12, 0, tzinfo=ZONE)
    facts = CaseFacts(FACTS.incident_id, "env.noise", "normal", None, "grid-1", deadline)
    policy = Policy("*", "normal", "handle", 5, "working_days")
    clock = PhaseClock.start(facts, "handle", policy, START, CAL, 1)
    assert clock.due_at == deadline
    # 70 % of the working time from Mon 09:00 to Tue 12:00 (6.5 h + 3.5 h = 10 h) = 7 h: Mon 6.5 h + 0.5 h → Tue 09:00.
    assert clock.yellow_at == datetime(2026, 11, 24, 9, 0, tzinfo=ZONE)
    later = CaseFacts(FACTS.incident_id, "env.noise", "normal", None, "grid-1", datetime(2027, 1, 1, tzinfo=ZONE))
    assert PhaseClock.start(later, "handle", policy, START, CAL, 1).due_at == datetime(2026, 11, 30, 17, 30,
                                                                                        tzinfo=ZONE)


# 督办 belongs to the case (DOMAIN.md §5: raised levels are never lowered).

def test_a_clock_started_at_the_cases_level_fires_only_the_levels_above_it():
    """DOMAIN.md §5 (督办 ladder; raised levels are never lowered): a phase started at the case's red card
    lights yellow and red as its own thresholds come, but its ladder fires only the leader's 督办."""
    clock = PhaseClock.start(FACTS, "sign", Policy("*", "urgent", "sign", 2, "hours"), START, CAL, cycle=1,
                             level="red_card")
    assert (clock.light, clock.level, clock.start_level) == ("green", "red_card", "red_card")
    clock.tick(START + timedelta(hours=3, minutes=30))  # past yellow, due and the red card's point
    assert fired(clock) == [("light", "yellow"), ("light", "red")]
    assert clock.next_check_at() == clock.leader_at
    clock.tick(clock.leader_at)
    assert fired(clock) == [("escalation", "leader")]


# The 12345 deadline (DOMAIN.md §5: handle due = the earlier of the deadline and the policy due).

def test_a_handle_clock_started_after_the_deadline_is_due_at_the_deadline_and_red_at_once():
    """DOMAIN.md §5: the hotline deadline binds whenever the handle clock starts, even after it has passed;
    the ladder counts from the deadline (red card a working day after it)."""
    deadline = datetime(2026, 11, 20, 12, 0, tzinfo=ZONE)  # the Friday before START
    facts = CaseFacts(FACTS.incident_id, "env.noise", "normal", None, "grid-1", deadline)
    clock = PhaseClock.start(facts, "handle", HANDLE, START, CAL, 1)
    assert (clock.due_at, clock.yellow_at, clock.due_fixed) == (deadline, deadline, True)
    assert clock.red_card_at == datetime(2026, 11, 23, 17, 30, tzinfo=ZONE)  # Fri + 1 wd = Mon's close
    clock.tick(START)
    assert fired(clock) == [("light", "yellow"), ("escalation", "reminder"), ("light", "red"),
                            ("escalation", "yellow_card")]
    assert clock.next_check_at() == clock.red_card_at


# Calendar changes (an override, a year imported): thresholds counted again from the clock's anchor.

HANDLE = Policy("*", "normal", "handle", 5, "working_days")


def handle_clock(deadline: datetime | None = None) -> PhaseClock:
    facts = CaseFacts(uuid.uuid4(), "city.garbage", "normal", "320508019044001", "grid-1", deadline)
    return PhaseClock.start(facts, "handle", HANDLE, START, CAL, cycle=1)


def off(*days: date) -> WorkCalendar:
    new = CAL.copy()
    new.overrides.update({day: False for day in days})
    return new


def test_a_new_holiday_ahead_moves_the_due_one_working_day():
    """DOMAIN.md §5 (working days are the official calendar's; recompute when it changes)."""
    clock = handle_clock()
    assert clock.due_at == datetime(2026, 11, 30, 17, 30, tzinfo=ZONE)  # Tue..Fri + Mon
    new = off(date(2026, 11, 26))  # Thursday declared a holiday
    assert clock.rebase(START + timedelta(hours=1), CAL, new, HANDLE) is True
    assert clock.due_at == datetime(2026, 12, 1, 17, 30, tzinfo=ZONE)
    assert clock.due_version == 2
    assert clock.red_card_at == new.add(clock.due_at, 1, "working_days")
    assert START < clock.yellow_at < clock.due_at
    assert clock.rebase(START + timedelta(hours=1), new, new, HANDLE) is False  # the same change again: nothing


def test_a_day_already_counted_that_turns_out_a_holiday_still_moves_the_due():
    """DOMAIN.md §5 (recompute when the notice appears): a passed day the clock counted as worked, declared
    a holiday, is not a working day of the limit: the due moves a working day later."""
    clock = handle_clock()
    assert clock.rebase(datetime(2026, 11, 25, 9, 0, tzinfo=ZONE), CAL, off(date(2026, 11, 24)), HANDLE) is True
    assert clock.due_at == datetime(2026, 12, 1, 17, 30, tzinfo=ZONE)


def test_a_change_before_the_clock_or_on_a_natural_hour_limit_moves_nothing():
    """DOMAIN.md §5: natural hours (7×24) ignore the calendar; days before the count began do not count."""
    clock = handle_clock()
    assert clock.rebase(START, CAL, off(date(2026, 11, 20)), HANDLE) is False
    hours = urgent_sign_clock()
    assert hours.rebase(START, CAL, off(START.date()), Policy("*", "urgent", "sign", 2, "hours")) is False


def test_a_late_clock_keeps_its_due_and_only_the_ladder_ahead_moves():
    """DOMAIN.md §5 (督办 ladder counted in working days from the due)."""
    clock = handle_clock()
    late = clock.due_at + timedelta(minutes=5)
    clock.tick(late)
    assert (clock.light, clock.level) == ("red", "yellow_card")
    due, red_card = clock.due_at, clock.red_card_at
    new = off(red_card.astimezone(ZONE).date())  # the red-card day becomes a holiday
    assert clock.rebase(late, CAL, new, HANDLE) is True
    assert clock.due_at == due and clock.light == "red"  # what already happened stays
    assert clock.red_card_at == new.add(late, CAL.working_seconds_between(late, red_card) / 3600, "working_hours")
    assert clock.red_card_at > red_card


def test_a_red_clock_whose_due_moves_past_now_goes_back_to_green_and_fires_again_once():
    """DOMAIN.md §5 (a threshold fires once per due version; raised 督办 levels are never lowered): a due that
    moves later re-evaluates the light as an extension does."""
    clock = handle_clock()
    now = clock.due_at + timedelta(minutes=5)  # Mon 11-30 17:35: red, yellow card
    clock.tick(now)
    fired(clock)
    # The week turns out to hold three holidays: five working days end on Thursday 12-03.
    assert clock.rebase(now, CAL, off(date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)), HANDLE)
    assert clock.due_at == datetime(2026, 12, 3, 17, 30, tzinfo=ZONE) and clock.due_version == 2
    assert fired(clock) == [("light", "green")] and clock.level == "yellow_card"
    clock.tick(now)
    assert fired(clock) == []
    clock.tick(clock.due_at)
    assert fired(clock) == [("light", "yellow"), ("light", "red")]  # no second reminder or yellow card
    clock.tick(clock.due_at + timedelta(minutes=1))
    assert fired(clock) == []


def test_a_green_clock_whose_due_moves_before_now_turns_red_once_by_the_tick():
    """DOMAIN.md §5: a provisional holiday the notice makes a working day shortens the count; the light the
    new due reaches fires once, with its 督办 step."""
    provisional = off(date(2026, 11, 24), date(2026, 11, 25))  # thought holidays when the clock started
    facts = CaseFacts(uuid.uuid4(), "city.garbage", "normal", None, "grid-1")
    clock = PhaseClock.start(facts, "handle", HANDLE, START, provisional, cycle=1)
    assert clock.due_at == datetime(2026, 12, 2, 17, 30, tzinfo=ZONE)
    now = datetime(2026, 12, 1, 11, 0, tzinfo=ZONE)  # past 70 % of the budget, before the due
    clock.tick(now)
    assert fired(clock) == [("light", "yellow"), ("escalation", "reminder")]
    assert clock.rebase(now, provisional, CAL, HANDLE) is True  # the notice: both were working days
    assert clock.due_at == datetime(2026, 11, 30, 17, 30, tzinfo=ZONE)
    assert fired(clock) == []  # raising is the tick's
    clock.tick(now)
    assert fired(clock) == [("light", "red"), ("escalation", "yellow_card")]
    assert clock.rebase(now, CAL, CAL, HANDLE) is False


def test_a_resumed_clock_is_counted_from_its_resumption():
    """DOMAIN.md §5 (挂起: paused time is not counted): a holiday inside the pause changes nothing, one after
    the resumption moves the due."""
    clock = handle_clock()
    clock.pause(datetime(2026, 11, 24, 9, 0, tzinfo=ZONE))
    resumed_at = datetime(2026, 11, 26, 9, 0, tzinfo=ZONE)
    clock.resume(resumed_at, CAL)
    assert clock.counted_from == resumed_at
    due = clock.due_at
    assert clock.rebase(resumed_at, CAL, off(date(2026, 11, 25)), HANDLE) is False
    assert clock.rebase(resumed_at, CAL, off(date(2026, 11, 27)), HANDLE) is True
    assert clock.due_at == off(date(2026, 11, 27)).add_working_seconds(
        resumed_at, CAL.working_seconds_between(resumed_at, due))


def test_a_12345_deadline_is_an_instant_and_stays():
    """DOMAIN.md §5: the hotline deadline is an instant 12345 set; only 12345 moves it."""
    deadline = datetime(2026, 11, 27, 12, 0, tzinfo=ZONE)
    clock = handle_clock(deadline)
    assert clock.due_at == deadline and clock.due_fixed
    clock.rebase(START, CAL, off(date(2026, 11, 25)), HANDLE)
    assert clock.due_at == deadline


def test_the_working_time_left_is_counted_by_the_calendar_and_stops_at_a_pause():
    """The case page's countdown (issue 16): a 2-working-day handle limit started Monday 09:00 is due Wednesday
    17:30 (次日起算); on Monday at 11:00 the working time left is the rest of Monday (1 h + 3.5 h) and two whole
    working days; at lunch it does not run down; overdue it is negative; paused (挂起), it keeps what it had."""
    clock = PhaseClock.start(FACTS, "handle", Policy("*", "normal", "handle", 2, "working_days"), START, CAL, cycle=1)
    assert clock.due_at == datetime(2026, 11, 25, 17, 30, tzinfo=ZONE)
    assert clock.counts_in == "working_time"
    eleven = START + timedelta(hours=2)
    assert clock.remaining_working_seconds(eleven, CAL) == (1 + 3.5) * 3600 + 2 * CAL.day_seconds
    assert clock.counting(eleven, CAL) is True
    lunch = datetime(2026, 11, 23, 12, 30, tzinfo=ZONE)
    assert clock.counting(lunch, CAL) is False
    assert clock.remaining_working_seconds(lunch, CAL) == 3.5 * 3600 + 2 * CAL.day_seconds
    late = datetime(2026, 11, 26, 9, 30, tzinfo=ZONE)  # Thursday: an hour of working time overdue
    assert clock.remaining_working_seconds(late, CAL) == -3600
    clock.pause(eleven)
    assert clock.counting(late, CAL) is False
    assert clock.remaining_working_seconds(late, CAL) == (1 + 3.5) * 3600 + 2 * CAL.day_seconds
    hours = urgent_sign_clock()
    assert hours.counts_in == "natural_time" and hours.counting(lunch, CAL) is True
