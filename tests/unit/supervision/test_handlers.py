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


async def test_escalation_without_a_running_clock_the_caller_sees_is_404(bus, store):
    case = await assigned_case(bus)
    for incident, actor in ((case, FAR), (uuid.uuid4(), SUPERVISOR)):
        with pytest.raises(NoRunningClock) as refused:
            await bus.handle(c.EscalateClock(incident, "leader", actor))
        assert isinstance(refused.value, NotFound) and refused.value.status == 404
        assert refused.value.detail == f"no running clock for incident {incident}"
    await handle(bus, ev.IncidentClosed(incident_id=case, at=NOW))
    with pytest.raises(NoRunningClock):
        await bus.handle(c.EscalateClock(case, "leader", SUPERVISOR))
    assert store.clocks.alerts == [] and store.clocks.of(case)[0].level == "none"


# ---- Policies ------------------------------------------------------------------------------------------------

GOOD = Policy("city.ads", "urgent", "sign", 1, "hours", ladder={"red_card": (30, "hours"), "leader": (60, "hours")})


async def test_policies_are_stored_together(bus, store):
    other = dataclasses.replace(GOOD, phase="handle", limit_amount=4)
    assert await bus.handle(c.PutPolicies((GOOD, other))) == 2
    assert store.policies.rows[("city.ads", "urgent", "sign")] == GOOD
    assert store.policies.rows[("city.ads", "urgent", "handle")] == other


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
