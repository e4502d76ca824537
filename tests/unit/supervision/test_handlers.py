"""Supervision's handlers through its bus, on fakes: the clocks each lifecycle event starts, stops, pauses and
moves; the refusals of its commands (with the domain error that answers them) and that a refusal writes nothing."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta

import pytest

from services.supervision.domain import commands as c
from services.supervision.domain.errors import (
    ClockNotVirtual,
    InvalidPolicy,
    InvalidSchedule,
    LevelNotRaised,
    NoRunningClock,
    NotPermitted,
    UnknownCase,
)
from services.supervision.domain.model import Policy
from shared.calendar import ZONE, WorkCalendar
from shared.clock import ClockAnchor, VirtualClock
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.events import intake as ev
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from tests.support import FixedClock, handle
from tests.unit.supervision.fakes import NOW, FakeClockStore, SupervisionStore, fake_bus

GRID = "320508019044001"
OWNER = Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1")
CALENDAR = WorkCalendar()
SUPERVISOR = c.Actor("sup", "supervisor", ("320508",))
FAR = c.Actor("sup2", "supervisor", ("310101",))


@pytest.fixture
def store() -> SupervisionStore:
    return SupervisionStore()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def bus(store, clock):
    return fake_bus(store, clock, CALENDAR)


def received(case: uuid.UUID, at: datetime = NOW) -> ev.IncidentReceived:
    return ev.IncidentReceived(incident_id=case, at=at, source="gridworker", category="city.garbage",
                               urgency="normal", title="垃圾", reported_at=at)


def assigned(case: uuid.UUID, at: datetime = NOW) -> IncidentAssigned:
    return IncidentAssigned(incident_id=case, at=at, category="city.garbage", urgency="normal", grid_code=GRID,
                            owner=OWNER, reason="located")


async def assigned_case(bus) -> uuid.UUID:
    case = uuid.uuid4()
    await handle(bus, received(case))
    await handle(bus, assigned(case))
    return case


async def signed_case(bus, at: datetime = NOW) -> uuid.UUID:
    case = await assigned_case(bus)
    await handle(bus, ev.IncidentSigned(incident_id=case, at=at, actor="w1"))
    return case


# ---- Lifecycle events ---------------------------------------------------------------------------------------

async def test_an_assignment_starts_a_sign_clock_on_the_policy(bus, store):
    case = await assigned_case(bus)
    [sign] = store.clocks.of(case)
    assert (sign.phase, sign.cycle, sign.running, sign.light, sign.started_by) == ("sign", 1, True, "green",
                                                                                   "assigned")
    assert sign.due_at == CALENDAR.add(NOW, 1, "working_days")  # the '*' normal sign policy
    assert sign.grid_code == GRID and sign.unit_id == "grid-1" and sign.assignment_id == 1
    assert store.clocks.alerts == []  # a fresh clock is green: nothing to announce


async def test_a_late_assignment_starts_its_clock_already_past_yellow(bus, store, clock):
    case = uuid.uuid4()
    await handle(bus, received(case))
    clock.advance(hours=30)  # the event arrives a day after it happened: past the yellow point
    await handle(bus, assigned(case))
    [sign] = store.clocks.of(case)
    assert sign.light == "yellow" and sign.level == "reminder"
    [alert] = store.clocks.alerts
    assert alert.steps == ("yellow", "reminder") and alert.clock_id == sign.id
    assert alert.causation_id is not None  # caused by the assignment's envelope


async def test_a_signature_stops_the_sign_clock_and_starts_handle(bus, store):
    at = NOW + timedelta(hours=1)
    case = await signed_case(bus, at)
    sign, handle_clock = store.clocks.of(case)
    assert (sign.running, sign.stopped_at, sign.stop_reason) == (False, at, "signed")
    assert (handle_clock.phase, handle_clock.running, handle_clock.started_by) == ("handle", True, "signed")
    assert handle_clock.due_at == CALENDAR.add(at, 5, "working_days")
    assert store.cases.rows[case].signed is True


async def test_a_second_signature_does_not_restart_the_handle_clock(bus, store):
    case = await signed_case(bus)
    [first_handle] = [c for c in store.clocks.of(case) if c.phase == "handle"]
    await handle(bus, ev.IncidentSigned(incident_id=case, at=NOW + timedelta(hours=2), actor="w1"))
    assert [(k.phase, k.id, k.running) for k in store.clocks.of(case)] == [
        ("sign", 1, False), ("handle", first_handle.id, True)]
    assert store.clocks.of(case)[1].started_at == first_handle.started_at


async def test_a_signature_before_supervision_saw_the_case_is_retried_later(bus, store):
    case = uuid.uuid4()
    with pytest.raises(UnknownCase, match="retry later"):
        await handle(bus, ev.IncidentSigned(incident_id=case, at=NOW, actor="w1"))
    assert store.clocks.rows == {}


async def test_a_signature_overtaking_the_assignment_starts_no_sign_clock(bus, store):
    case = uuid.uuid4()
    await handle(bus, received(case))
    await handle(bus, ev.IncidentSigned(incident_id=case, at=NOW, actor="w1"))
    await handle(bus, assigned(case))
    assert [k.phase for k in store.clocks.of(case)] == ["handle"]


async def test_suspension_pauses_and_resumption_resumes_with_the_budget_left(bus, store, clock):
    case = await signed_case(bus)
    due_before = store.clocks.of(case)[-1].due_at
    paused_at = NOW + timedelta(hours=1)
    await handle(bus, ev.IncidentSuspended(incident_id=case, at=paused_at, reason="挂账"))
    paused = store.clocks.of(case)[-1]
    assert paused.paused_at == paused_at and paused.next_check_at() is None

    clock.advance(days=30)  # a month suspended: nothing fires
    assert await bus.handle(c.FireDueClocks(100)) == []
    await handle(bus, ev.IncidentResumed(incident_id=case, at=clock.now()))
    resumed = store.clocks.of(case)[-1]
    assert resumed.paused_at is None and resumed.running and resumed.light == "green"
    assert resumed.due_version == 2 and resumed.due_at > clock.now() > due_before
    left = CALENDAR.working_seconds_between(paused_at, due_before)
    assert resumed.due_at == CALENDAR.add_working_seconds(clock.now(), left)


async def test_an_approved_extension_moves_the_due_time_and_a_refused_one_does_not(bus, store):
    case = await signed_case(bus)
    before = store.clocks.of(case)[-1]
    await handle(bus, ev.ExtensionDecided(incident_id=case, at=NOW, approved=False, amount=2, unit="working_days"))
    assert store.clocks.of(case)[-1].due_at == before.due_at
    await handle(bus, ev.ExtensionDecided(incident_id=case, at=NOW, approved=True, amount=2, unit="working_days"))
    extended = store.clocks.of(case)[-1]
    assert extended.due_at == CALENDAR.add(before.due_at, 2, "working_days")
    assert extended.due_version == before.due_version + 1 and extended.extension_amount == 2


async def test_a_return_stops_every_clock_and_the_reassignment_starts_a_fresh_sign(bus, store):
    case = await signed_case(bus)
    await handle(bus, ev.IncidentReturned(incident_id=case, at=NOW, reason="非本单位职责", return_count=1))
    assert not any(k.running for k in store.clocks.of(case))
    assert store.cases.rows[case].signed is False
    again = IncidentReassigned(**assigned(case, NOW + timedelta(hours=1)).model_dump(exclude={"type"}))
    await handle(bus, again)
    fresh = store.clocks.of(case)[-1]
    assert (fresh.phase, fresh.cycle, fresh.started_by, fresh.running) == ("sign", 2, "reassigned", True)


async def test_closing_stops_every_clock_and_records_the_closure(bus, store):
    case = await signed_case(bus)
    await handle(bus, ev.IncidentClosed(incident_id=case, at=NOW + timedelta(hours=3)))
    assert {(k.running, k.stop_reason) for k in store.clocks.of(case)} == {(False, "signed"), (False, "closed")}
    assert ("closed", case, NOW + timedelta(hours=3)) in store.cases.facts


# ---- 改派, the case's 督办 level, the 12345 deadline --------------------------------------------------------------

NEW_OWNER = Owner(unit_id="community-1", unit_name="一社区", unit_kind="community")


def reassigned(case: uuid.UUID, at: datetime, owner: Owner = NEW_OWNER) -> IncidentReassigned:
    return IncidentReassigned(incident_id=case, at=at, category="city.garbage", urgency="normal", grid_code=GRID,
                              owner=owner, previous_unit_id=OWNER.unit_id, reason="dispatched by sup")


async def test_a_reassignment_while_in_progress_stops_the_old_owners_clock_and_starts_a_fresh_sign(bus, store):
    """DOMAIN.md §4–§5 (改派: a reassignment gives a fresh sign clock): the old owner's handle clock stops
    ("reassigned") and can no longer climb the ladder; the case is unsigned until the new owner signs."""
    case = await signed_case(bus)
    at = NOW + timedelta(hours=2)
    await handle(bus, reassigned(case, at))
    sign, old_handle, fresh = store.clocks.of(case)
    assert (old_handle.phase, old_handle.running, old_handle.stop_reason, old_handle.stopped_at) == (
        "handle", False, "reassigned", at)
    assert (fresh.phase, fresh.cycle, fresh.started_by, fresh.unit_id, fresh.running) == (
        "sign", 2, "reassigned", "community-1", True)
    assert store.cases.rows[case].signed is False
    await handle(bus, ev.IncidentSigned(incident_id=case, at=at + timedelta(hours=1), actor="c1",
                                        unit_id="community-1"))
    new_handle = store.clocks.of(case)[-1]
    assert (new_handle.phase, new_handle.unit_id, new_handle.running) == ("handle", "community-1", True)


async def test_a_new_owners_signature_before_the_reassignment_starts_its_handle_clock(bus, store):
    """DOMAIN.md §4 (改派, then 签收 by the new owner): supervision reads two topics, so the new owner's
    signature may come first; the reassignment then starts the handle clock from that signature."""
    case = await signed_case(bus)
    at = NOW + timedelta(hours=2)
    signed_at = at + timedelta(minutes=30)
    await handle(bus, ev.IncidentSigned(incident_id=case, at=signed_at, actor="c1", unit_id="community-1"))
    assert [k.phase for k in store.clocks.of(case) if k.running] == ["handle"]  # the old owner's, still
    await handle(bus, reassigned(case, at))
    clocks = store.clocks.of(case)
    assert [(k.phase, k.running) for k in clocks] == [("sign", False), ("handle", False), ("handle", True)]
    assert (clocks[-1].started_at, clocks[-1].unit_id, clocks[-1].started_by) == (signed_at, "community-1", "signed")
    assert store.cases.rows[case].signed is True


async def test_a_former_owners_signature_reported_after_the_reassignment_is_ignored(bus, store):
    """DOMAIN.md §4: only the owner signs; the old owner's signature, late, must not start the new owner's
    handle clock."""
    case = await assigned_case(bus)
    await handle(bus, reassigned(case, NOW + timedelta(hours=2)))
    await handle(bus, ev.IncidentSigned(incident_id=case, at=NOW + timedelta(hours=1), actor="w1", unit_id="grid-1"))
    assert [(k.phase, k.running) for k in store.clocks.of(case)] == [("sign", False), ("sign", True)]
    assert store.cases.rows[case].signed is False


async def test_the_cases_level_carries_to_the_next_phase_and_over_a_reassignment(bus, store, clock):
    """DOMAIN.md §5 (raised 督办 levels are never lowered): the level belongs to the case; a later phase and
    a reassigned owner's sign clock start at it, and their ladders fire only above it."""
    case = await assigned_case(bus)
    clock.advance(days=3)  # the sign phase (1 wd, due Tue) reaches the red card on Wednesday's close
    await bus.handle(c.FireDueClocks(100))
    assert store.clocks.of(case)[0].level == "red_card"
    await handle(bus, ev.IncidentSigned(incident_id=case, at=clock.now(), actor="w1", unit_id="grid-1"))
    handle_clock = store.clocks.of(case)[-1]
    assert (handle_clock.phase, handle_clock.light, handle_clock.level, handle_clock.start_level) == (
        "handle", "green", "red_card", "red_card")
    await handle(bus, reassigned(case, clock.now()))
    fresh = store.clocks.of(case)[-1]
    assert (fresh.phase, fresh.level) == ("sign", "red_card")
    alerts_before = len(store.clocks.alerts)
    clock.advance(days=3)
    await bus.handle(c.FireDueClocks(100))
    [alert] = store.clocks.alerts[alerts_before:]
    assert alert.steps == ("yellow", "red")  # its own lights; no reminder, no yellow card, red card already


async def test_rework_carries_the_level_and_a_reopening_starts_afresh(bus, store):
    """DOMAIN.md §4–§5: 返工 is the same handling (its level stays); 重办 is a new cycle after 结案, which
    ended the 督办 (listed until closed): its clocks start at none."""
    case = await signed_case(bus)
    await bus.handle(c.EscalateClock(case, "yellow_card", SUPERVISOR))
    await handle(bus, ev.IncidentResultSubmitted(incident_id=case, at=NOW + timedelta(hours=1), actor="w1"))
    assert store.clocks.of(case)[-1].level == "yellow_card"  # the verify phase carries it
    await handle(bus, ev.IncidentVerified(incident_id=case, at=NOW + timedelta(hours=2), actor="sup", passed=False))
    rework = store.clocks.of(case)[-1]
    assert (rework.phase, rework.started_by, rework.level) == ("handle", "rework", "yellow_card")
    await handle(bus, ev.IncidentClosed(incident_id=case, at=NOW + timedelta(hours=3)))
    await handle(bus, ev.IncidentReopened(incident_id=case, at=NOW + timedelta(hours=4), actor="sup"))
    sign = store.clocks.of(case)[-1]
    assert (sign.phase, sign.started_by, sign.level) == ("sign", "reopened", "none")
    await handle(bus, ev.IncidentSigned(incident_id=case, at=NOW + timedelta(hours=5), actor="w1"))
    assert store.clocks.of(case)[-1].level == "none"  # the new cycle's handle clock: afresh too


def hotline_received(case: uuid.UUID, deadline: datetime) -> ev.IncidentReceived:
    return ev.IncidentReceived(incident_id=case, at=NOW, source="hotline", category="city.garbage",
                               urgency="normal", title="垃圾", reported_at=NOW, hotline_order_no="GD-1",
                               deadline=deadline)


async def hotline_case(bus, deadline: datetime, signed_at: datetime) -> uuid.UUID:
    case = uuid.uuid4()
    await handle(bus, hotline_received(case, deadline))
    await handle(bus, assigned(case))
    await handle(bus, ev.IncidentSigned(incident_id=case, at=signed_at, actor="w1", unit_id="grid-1"))
    return case


async def test_a_case_signed_after_its_12345_deadline_is_red_at_once(bus, store, clock):
    """DOMAIN.md §5 (a hotline deadline binds: handle due = the earlier of it and the policy due), whenever the
    handle clock starts: signed after the deadline, it is due at the deadline, red at once."""
    deadline = NOW + timedelta(hours=3)
    clock.advance(hours=5)
    case = await hotline_case(bus, deadline, clock.now())
    handle_clock = store.clocks.of(case)[-1]
    assert (handle_clock.due_at, handle_clock.due_fixed, handle_clock.light, handle_clock.level) == (
        deadline, True, "red", "yellow_card")
    assert store.clocks.alerts[-1].steps == ("yellow", "reminder", "red", "yellow_card")
    assert handle_clock.red_card_at == CALENDAR.add(deadline, 1, "working_days")  # the ladder from the deadline


async def test_only_12345_moves_a_hotline_cases_due_and_its_deadline_binds_the_rework(bus, store):
    """DOMAIN.md §5 (延期: for a hotline order 12345 itself must agree to a later deadline): a local approval
    moves nothing; 12345's moves the handle due and the deadline, which then binds the 返工 handle clock."""
    deadline = NOW + timedelta(days=2)  # Wed 09:00, before the policy's 5 working days
    case = await hotline_case(bus, deadline, NOW)
    assert store.clocks.of(case)[-1].due_at == deadline
    local = ev.ExtensionDecided(incident_id=case, at=NOW, actor="sup", approved=True, amount=2, unit="working_days")
    await handle(bus, local)
    assert store.clocks.of(case)[-1].due_at == deadline and store.clocks.of(case)[-1].due_version == 1
    hotline = ev.ExtensionDecided(incident_id=case, at=NOW, actor="12345", approved=True, amount=2,
                                  unit="working_days")
    await handle(bus, hotline)
    moved = CALENDAR.add(deadline, 2, "working_days")
    extended = store.clocks.of(case)[-1]
    assert (extended.due_at, extended.due_version, extended.due_fixed) == (moved, 2, True)
    assert store.cases.rows[case].deadline == moved
    await handle(bus, ev.IncidentResultSubmitted(incident_id=case, at=NOW + timedelta(hours=1), actor="w1"))
    await handle(bus, ev.IncidentVerified(incident_id=case, at=NOW + timedelta(hours=2), actor="sup", passed=False))
    assert store.clocks.of(case)[-1].due_at == moved  # 返工: still the (moved) deadline


async def test_a_local_extension_still_moves_an_ordinary_cases_due(bus, store):
    """DOMAIN.md §5 (延期, decided by a supervisor, a second by a leader) for a case that is not 12345's."""
    case = await signed_case(bus)
    before = store.clocks.of(case)[-1].due_at
    await handle(bus, ev.ExtensionDecided(incident_id=case, at=NOW, actor="sup", approved=True, amount=1,
                                          unit="working_days"))
    assert store.clocks.of(case)[-1].due_at == CALENDAR.add(before, 1, "working_days")


async def test_an_assignment_remembers_the_names_of_its_owner_and_co_owners(bus, store):
    """DOMAIN.md §6 (红黑榜 names the units it lists): a territorial owner or co-owner names its own area's code;
    every unit names its id."""
    case = uuid.uuid4()
    await handle(bus, received(case))
    district = Owner(unit_id="d-1", unit_name="姑苏区指挥中心", unit_kind="district")
    await handle(bus, IncidentAssigned(incident_id=case, at=NOW, category="city.garbage", urgency="emergency",
                                       grid_code=GRID, community_code=GRID[:12], street_code=GRID[:9],
                                       district_code=GRID[:6], owner=OWNER, co_owners=[district], reason="located"))
    assert store.cases.names == {("unit", "grid-1"): "一网格", ("grid", GRID): "一网格",
                                 ("unit", "d-1"): "姑苏区指挥中心", ("district", "320508"): "姑苏区指挥中心"}


# ---- The ticker -------------------------------------------------------------------------------------------------

async def test_the_ticker_fires_each_threshold_once_and_returns_when_each_was_due(bus, store, clock):
    case = await assigned_case(bus)
    [sign] = store.clocks.of(case)
    clock.advance(days=10)
    assert await bus.handle(c.FireDueClocks(100)) == [sign.yellow_at]
    assert await bus.handle(c.FireDueClocks(100)) == []
    [fired] = store.clocks.of(case)
    assert (fired.light, fired.level) == ("red", "leader")
    [alert] = store.clocks.alerts
    assert alert.steps == ("yellow", "reminder", "red", "yellow_card", "red_card", "leader")


# ---- Manual 督办 -----------------------------------------------------------------------------------------------

async def test_escalation_by_hand_raises_the_level_and_records_an_alert(bus, store):
    case = await assigned_case(bus)
    clock = await bus.handle(c.EscalateClock(case, "red_card", SUPERVISOR, "限期整改"))
    assert clock.level == "red_card"
    assert store.clocks.of(case)[0].level == "red_card"
    [alert] = store.clocks.alerts
    assert (alert.steps, alert.manual, alert.note, alert.level_before) == (("red_card",), True, "sup: 限期整改",
                                                                           "none")


async def test_escalation_is_refused_with_409_at_or_below_the_current_level(bus, store):
    case = await assigned_case(bus)
    await bus.handle(c.EscalateClock(case, "red_card", SUPERVISOR))
    with pytest.raises(LevelNotRaised) as refused:
        await bus.handle(c.EscalateClock(case, "reminder", SUPERVISOR))
    assert isinstance(refused.value, Conflict) and refused.value.status == 409
    assert refused.value.extensions == {"current_level": "red_card"}
    assert refused.value.detail == "督办 is already at red_card; levels are raised, never lowered"
    assert len(store.clocks.alerts) == 1 and store.clocks.of(case)[0].level == "red_card"


async def test_escalation_without_a_running_clock_is_404_and_on_another_areas_case_403(bus, store):
    """DESIGN §5: unknown → 404; wrong area → 403."""
    case = await assigned_case(bus)
    unknown = uuid.uuid4()
    with pytest.raises(NoRunningClock) as refused:
        await bus.handle(c.EscalateClock(unknown, "leader", SUPERVISOR))
    assert isinstance(refused.value, NotFound) and refused.value.status == 404
    assert refused.value.detail == f"no running clock for incident {unknown}"
    with pytest.raises(Forbidden):
        await bus.handle(c.EscalateClock(case, "leader", FAR))
    await handle(bus, ev.IncidentClosed(incident_id=case, at=NOW))
    with pytest.raises(NoRunningClock):
        await bus.handle(c.EscalateClock(case, "leader", SUPERVISOR))
    assert store.clocks.alerts == [] and store.clocks.of(case)[0].level == "none"


# ---- Policies ------------------------------------------------------------------------------------------------

GOOD = Policy("city.ads", "urgent", "sign", 1, "hours", ladder={"red_card": (30, "hours"), "leader": (60, "hours")})


async def test_policies_are_stored_together(bus, store):
    other = dataclasses.replace(GOOD, phase="handle", limit_amount=4)
    assert await bus.handle(c.PutPolicies((GOOD, other))) == 2
    assert store.policies.rows[("city.ads", "urgent", "sign", "*")] == GOOD
    assert store.policies.rows[("city.ads", "urgent", "handle", "*")] == other


async def test_one_policy_refused_stores_none_and_names_its_place(bus, store):
    before = dict(store.policies.rows)
    bad = dataclasses.replace(GOOD, phase="handle", yellow_ratio=1.2)
    with pytest.raises(InvalidPolicy) as refused:
        await bus.handle(c.PutPolicies((GOOD, bad)))
    assert isinstance(refused.value, Invalid) and refused.value.status == 422
    reason = "yellow_ratio must be between 0 and 1 (yellow before red)"
    assert refused.value.detail == f"policy 1: {reason}"
    assert refused.value.errors == [{"field": "body.1", "message": reason, "type": "policy"}]
    assert store.policies.rows == before  # the good one before it was not stored either


# ---- The calendar ----------------------------------------------------------------------------------------------

async def test_a_day_off_recounts_running_clocks_and_updates_the_calendar(store, clock):
    calendar = WorkCalendar()
    bus = fake_bus(store, clock, calendar)
    case = await assigned_case(bus)
    [sign] = store.clocks.of(case)
    due_day = sign.due_at.astimezone(ZONE).date()
    assert await bus.handle(c.OverrideCalendarDay(due_day, False, "临时")) == 1
    assert calendar.is_workday(due_day) is False and calendar.holiday_names[due_day] == "临时"
    [moved] = store.clocks.of(case)
    assert moved.due_at > sign.due_at and moved.due_version == 2
    assert store.calendar_days.overrides == {due_day: False}


async def test_an_imported_year_that_shortens_a_count_turns_the_light_red_once(store, clock):
    """DOMAIN.md §5 (recompute provisional due times when the notice is imported; a threshold fires once per
    due version): a clock counted over provisional holidays that the notice makes working days is due earlier;
    past now, it turns red with its 督办 steps in the same transaction, once."""
    calendar = WorkCalendar()
    bus = fake_bus(store, clock, calendar)
    clock._now = datetime(2027, 2, 3, 9, 0, tzinfo=ZONE)  # Wed; by law 2/5 and 2/8–2/10 are provisional holidays
    case = uuid.uuid4()
    for event in (received(case, clock.now()), assigned(case, clock.now()),
                  ev.IncidentSigned(incident_id=case, at=clock.now(), actor="w1")):
        await handle(bus, event)
    assert store.clocks.of(case)[-1].due_at == datetime(2027, 2, 16, 17, 30, tzinfo=ZONE)  # 2/4, 11, 12, 15, 16
    clock._now = datetime(2027, 2, 12, 17, 45, tzinfo=ZONE)
    await bus.handle(c.FireDueClocks(100))
    assert store.clocks.of(case)[-1].light == "green" and store.clocks.alerts == []
    # A notice (for the test) giving 2/6–2/9 off and working 2/5 and 2/10: 2/4, 2/5, 2/10, 2/11, 2/12.
    holidays = {datetime(2027, 2, d).date(): "春节" for d in range(6, 10)}
    assert await bus.handle(c.ImportCalendarYear(2027, holidays)) == 1
    moved = store.clocks.of(case)[-1]
    assert moved.due_at == datetime(2027, 2, 12, 17, 30, tzinfo=ZONE) and moved.due_version == 2
    assert (moved.light, moved.level) == ("red", "yellow_card")
    [alert] = store.clocks.alerts
    assert alert.steps == ("yellow", "reminder", "red", "yellow_card") and alert.due_version == 2
    assert await bus.handle(c.ImportCalendarYear(2027, holidays)) == 0  # the same notice again: nothing moves
    assert len(store.clocks.alerts) == 1


async def test_a_day_off_behind_a_red_clock_turns_it_back_green_once(store, clock):
    """DOMAIN.md §5 (a threshold fires once per due version; raised levels are never lowered): a due that a
    new holiday (one already passed) moves past now turns the red light back, announced once; the yellow card
    stays."""
    calendar = WorkCalendar()
    bus = fake_bus(store, clock, calendar)
    case = await assigned_case(bus)  # sign: 1 wd → Tue 11-24 17:30
    clock._now = datetime(2026, 11, 24, 17, 45, tzinfo=ZONE)
    await bus.handle(c.FireDueClocks(100))
    assert (store.clocks.of(case)[0].light, store.clocks.of(case)[0].level) == ("red", "yellow_card")
    assert await bus.handle(c.OverrideCalendarDay(datetime(2026, 11, 24).date(), False, "临时")) == 1
    sign = store.clocks.of(case)[0]
    assert sign.due_at == datetime(2026, 11, 25, 17, 30, tzinfo=ZONE) and sign.due_version == 2
    # Monday's 6.5 working hours of the 13.5 are used: under 70 %, green again
    assert (sign.light, sign.level) == ("green", "yellow_card")
    assert store.clocks.alerts[-1].steps == ("green",) and store.clocks.alerts[-1].light_before == "red"
    count = len(store.clocks.alerts)
    assert await bus.handle(c.OverrideCalendarDay(datetime(2026, 11, 24).date(), False, "临时")) == 0
    assert len(store.clocks.alerts) == count


async def test_a_year_schedule_with_a_date_listed_twice_is_refused_and_writes_nothing(bus, store):
    holidays = {datetime(2027, 2, 8).date(): "春节"}
    with pytest.raises(InvalidSchedule, match="both") as refused:
        await bus.handle(c.ImportCalendarYear(2027, holidays, frozenset(holidays)))
    assert refused.value.errors == [{"field": "body", "message": refused.value.detail, "type": "schedule"}]
    assert store.calendar_days.overrides == {} and store.calendar_days.imported_years == {}
    assert await bus.handle(c.ImportCalendarYear(2027, holidays, source="国办发明电")) == 0
    assert store.calendar_days.imported_years == {2027: "国办发明电"} and len(store.calendar_days.overrides) == 365


# ---- The virtual clock ------------------------------------------------------------------------------------------

async def test_only_a_virtual_clock_advances_and_only_for_admins_and_supervisors(store):
    with pytest.raises(ClockNotVirtual) as refused:
        await fake_bus(store, FixedClock(NOW)).handle(c.AdvanceClock(60, c.Actor("w1", "gridworker")))
    assert refused.value.status == 404  # on a real clock nothing can be advanced, whoever asks

    virtual = VirtualClock(ClockAnchor(NOW, 0.0, 0.0), real_time=lambda: 0.0)
    saved = FakeClockStore()
    bus = fake_bus(store, virtual, clock_store=saved)
    with pytest.raises(NotPermitted) as forbidden:
        await bus.handle(c.AdvanceClock(60, c.Actor("w1", "gridworker")))
    assert isinstance(forbidden.value, Forbidden) and saved.saved == []
    assert await bus.handle(c.AdvanceClock(3600, c.Actor("admin", "admin"))) == NOW + timedelta(hours=1)
    assert virtual.now() == NOW + timedelta(hours=1) and saved.saved[-1].virtual == NOW + timedelta(hours=1)



async def test_referring_up_stops_the_clocks_without_counting_a_return(bus, store):
    """DOMAIN §4 上报: not a 退单: the owner's clocks stop, no return is recorded; its reassignment restarts them."""
    case = await signed_case(bus)
    await handle(bus, ev.IncidentReferred(incident_id=case, at=NOW, reason="需街道协调", unit_id="g-1"))
    assert [k for k in store.clocks.of(case) if k.running] == []
    assert [f for f in store.cases.facts if f[0] == "returned"] == []


async def test_a_refused_return_of_a_12345_order_gives_its_unit_a_fresh_sign_clock_at_its_level(bus, store, clock):
    """DOMAIN §7: 12345 refuses our 退单 (the order we ruled not ours): the unit that had it signs afresh; the
    case's 督办 level stays with it (§5: never lowered)."""
    case = await assigned_case(bus)
    clock.advance(days=5)
    await bus.handle(c.FireDueClocks(100))  # the unsigned case is red by now, 督办 raised
    [sign] = store.clocks.of(case)
    level = sign.level
    assert level != "none"
    await handle(bus, ev.IncidentRejected(incident_id=case, at=clock.now(), reason="非本单位职责，退回12345"))
    assert [k for k in store.clocks.of(case) if k.running] == []
    await handle(bus, ev.IncidentRestored(incident_id=case, at=clock.now(), actor="12345", unit_id=OWNER.unit_id))
    [fresh] = [k for k in store.clocks.of(case) if k.running]
    assert (fresh.phase, fresh.started_by, fresh.level) == ("sign", "restored", level)
    await handle(bus, ev.IncidentRestored(incident_id=uuid.uuid4(), at=clock.now(), actor="12345", unit_id=None))


async def test_an_urge_is_counted_on_the_cases_current_assignment(bus, store):
    """催办率 (issue 14: 催办 counts in statistics)."""
    case = await signed_case(bus)
    await handle(bus, ev.IncidentUrged(incident_id=case, at=NOW, actor="12345", note="再次来电"))
    assert [f for f in store.cases.facts if f[0] == "urged"] == [("urged", case, NOW)]


async def test_a_month_is_frozen_once_through_the_bus_and_a_second_freeze_keeps_the_first(bus, store):
    """DOMAIN §6: a published month's figures no longer move."""
    from datetime import date

    from services.supervision.domain.statistics import Rate, UnitFigures

    first = UnitFigures("320508", "姑苏区", 3, 0.5, {"return_rate": Rate(1, 3)})
    await bus.handle(c.FreezeMonth(date(2026, 11, 1), "district", NOW, (first,)))
    await bus.handle(c.FreezeMonth(date(2026, 11, 1), "district", NOW, (UnitFigures("320508", cases=9),)))
    assert store.frozen_months.rows[(date(2026, 11, 1), "district")] == (NOW, [first])
