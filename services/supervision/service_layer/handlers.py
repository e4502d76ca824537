"""Supervision's use cases: start and stop phase clocks on lifecycle events; the commands of its API (manual
督办, policies, the calendar, the virtual clock) and of its ticker (fire due thresholds).

The bus (shared/messagebus.py, wired in bootstrap.py) gives each handler its unit of work and what else it
names: the work calendar, the process's clock and the store of the virtual clock's anchor.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from services.supervision.domain import commands as c
from services.supervision.domain.calendar import year_schedule
from services.supervision.domain.errors import (
    ClockNotVirtual,
    InvalidPolicy,
    LevelNotRaised,
    NoRunningClock,
    NotPermitted,
    OutsideArea,
    UnknownCase,
)
from services.supervision.domain.model import (
    HOTLINE_ACTOR,
    CaseAssignment,
    Phase,
    PhaseClock,
    PhaseHistory,
    SupervisedCase,
)
from services.supervision.domain.statistics import names_seen
from services.supervision.service_layer.calendar import change_calendar, refresh_calendar
from services.supervision.service_layer.unit_of_work import CalendarDays, SupervisionUnitOfWork
from shared.calendar import WorkCalendar
from shared.clock import Clock, VirtualClock
from shared.events.envelope import Envelope
from shared.events.intake import (
    ExtensionDecided,
    IncidentClosed,
    IncidentMerged,
    IncidentReceived,
    IncidentReferred,
    IncidentRejected,
    IncidentReopened,
    IncidentRestored,
    IncidentResultSubmitted,
    IncidentResumed,
    IncidentReturned,
    IncidentSigned,
    IncidentSuspended,
    IncidentUrged,
    IncidentVerified,
    IncidentVisited,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned
from shared.messagebus import Command
from shared.runtime import ClockStore

CLOCK_ADVANCERS = ("admin", "supervisor")

# ---- Lifecycle events (the consumer runs these inside its own unit of work, with the inbox row) -------------


async def start_phase(uow: SupervisionUnitOfWork, calendar: WorkCalendar, case: SupervisedCase, phase: Phase,
                      at: datetime, cause: Envelope, started_by: str) -> PhaseClock:
    """Stop the phase's running clock (if any) and start a fresh one from the policy (`_next_clock`)."""
    history = await uow.clocks.phase_history(case.incident_id, phase, case.reopened_at)
    clock = await _next_clock(uow, calendar, case, phase, at, history, started_by)
    await uow.clocks.add(clock)
    uow.collect(clock, cause)
    return clock


async def _next_clock(uow: SupervisionUnitOfWork, calendar: WorkCalendar, case: SupervisedCase, phase: Phase,
                      at: datetime, history: PhaseHistory, started_by: str) -> PhaseClock:
    """Stop the phase's running clock (if any) and make a fresh one from the policy, at the case's 督办 level so far
    (DOMAIN.md §5: never lowered; a 重办 starts a new cycle afresh). The policy is the most specific for the case's
    category and, for a 12345 order, its 事项性质 (DOMAIN.md §7); the clock keeps that nature. Not stored yet."""
    if (running := history.running) is not None:
        running.stop(at, "restarted" if started_by == "reopened" else started_by)
        await uow.clocks.save(running)
    policy = await uow.policies.for_phase(case.category, case.urgency, phase, case.nature)
    clock = PhaseClock.start(case.facts, phase, policy, at, calendar, cycle=history.last_cycle + 1,
                             started_by=started_by, level="none" if started_by == "reopened" else history.level)
    clock.tick(uow.clock.now())  # an event that arrives late may already be past a threshold
    return clock


async def stop_phase(uow: SupervisionUnitOfWork, incident_id: uuid.UUID, phase: str | None, at: datetime,
                     reason: str) -> None:
    """Stop the incident's running clock of that phase (of every phase when None)."""
    for clock in await uow.clocks.running(incident_id):
        if phase is None or clock.phase == phase:
            clock.stop(at, reason)
            await uow.clocks.save(clock)


async def known_case(uow: SupervisionUnitOfWork, incident_id: uuid.UUID, detail: str | None = None
                     ) -> SupervisedCase:
    if (case := await uow.cases.get(incident_id)) is None:
        raise UnknownCase(incident_id, detail)
    return case


async def on_received(event: IncidentReceived, envelope: Envelope, uow: SupervisionUnitOfWork) -> None:
    """The case as intake received it; a 12345 order with its deadline (DOMAIN.md §5) and 事项性质 (§7), which
    its clocks' policies are chosen by (a run of received cases: `on_received_many`)."""
    await uow.cases.receive([event])


async def on_received_many(received: list[tuple[IncidentReceived, Envelope]], uow: SupervisionUnitOfWork) -> None:
    await uow.cases.receive([event for event, _ in received])


async def on_assigned(event: IncidentAssigned | IncidentReassigned, envelope: Envelope, uow: SupervisionUnitOfWork,
                      calendar: WorkCalendar) -> None:
    """派遣 starts the sign clock. 改派 (DOMAIN.md §4–§5) takes the case from its owner at any open state: every
    running clock of the case stops ("reassigned"), the case is unsigned and the new owner gets a fresh sign
    clock; the 督办 level stays with the case. When the new owner's signature came first (the consumer reads
    two topics), the new owner's handle clock starts from that signature instead. (A run of 派遣:
    `on_assigned_many`.)"""
    await refresh_calendar(uow, calendar)
    reassigned = isinstance(event, IncidentReassigned)
    [case] = await uow.cases.assign_many([_assignment(event)])
    if not reassigned:
        if case.signed:
            return  # the signature overtook the assignment: the sign phase is already over
        await start_phase(uow, calendar, case, "sign", event.at, envelope, "assigned")
        return
    await stop_phase(uow, event.incident_id, None, event.at, "reassigned")
    signed_at = case.signed_at
    if case.signed_unit_id == event.owner.unit_id and signed_at is not None and signed_at >= event.at:
        await uow.cases.mark_signed(event.incident_id, True)
        case.signed = True
        await start_phase(uow, calendar, case, "handle", signed_at, envelope, "signed")
        return
    await uow.cases.mark_signed(event.incident_id, False)
    case.signed = False
    await start_phase(uow, calendar, case, "sign", event.at, envelope, "reassigned")


async def on_assigned_many(assigned: list[tuple[IncidentAssigned, Envelope]], uow: SupervisionUnitOfWork,
                           calendar: WorkCalendar) -> None:
    """`on_assigned` for a run of 派遣 (each case once): the facts and the cases written in one statement, the sign
    phases' histories read in one, their clocks stored in one. (改派 goes one by one.)"""
    await refresh_calendar(uow, calendar)
    cases = await uow.cases.assign_many([_assignment(event) for event, _ in assigned])
    # A case whose signature overtook its assignment has no sign phase left.
    starting = [(case, event, envelope) for case, (event, envelope) in zip(cases, assigned, strict=True)
                if not case.signed]
    histories = await uow.clocks.phase_histories([(case.incident_id, "sign", case.reopened_at)
                                                  for case, _, _ in starting])
    clocks = [await _next_clock(uow, calendar, case, "sign", event.at, history, "assigned")
              for (case, event, _), history in zip(starting, histories, strict=True)]
    await uow.clocks.add_many(clocks)
    for clock, (_, _, envelope) in zip(clocks, starting, strict=True):
        uow.collect(clock, envelope)


def _assignment(event: IncidentAssigned | IncidentReassigned) -> CaseAssignment:
    areas = {"grid_code": event.grid_code, "community_code": event.community_code,
             "street_code": event.street_code, "district_code": event.district_code}
    return CaseAssignment(event.incident_id, event.category, event.urgency, event.place_code(), event.owner, areas,
                          event.at, isinstance(event, IncidentReassigned),
                          tuple(names_seen(event.owner, event.co_owners, areas)))


async def on_signed(event: IncidentSigned, envelope: Envelope, uow: SupervisionUnitOfWork,
                    calendar: WorkCalendar) -> None:
    await refresh_calendar(uow, calendar)
    case = await known_case(uow, event.incident_id,
                            f"signed before supervision saw incident {event.incident_id}; retry later")
    current = case.signature_is_current(event.unit_id, event.at)
    if current is False:
        return  # a former owner's signature, reported after the 改派 that took the case from it
    if current is None:
        # A later owner's: its 改派 has not reached supervision yet; kept for it to start the handle clock.
        await uow.cases.record_signature(event.incident_id, event.unit_id, event.at)
        return
    if case.signed:
        return  # a second signature of the same phase (a re-published event) must not restart the clock
    await uow.cases.record_signature(event.incident_id, event.unit_id, event.at)
    await uow.cases.mark_signed(event.incident_id, True)
    await stop_phase(uow, event.incident_id, "sign", event.at, "signed")
    await start_phase(uow, calendar, case, "handle", event.at, envelope, "signed")


async def on_result_submitted(event: IncidentResultSubmitted, envelope: Envelope, uow: SupervisionUnitOfWork,
                              calendar: WorkCalendar) -> None:
    await refresh_calendar(uow, calendar)
    case = await known_case(uow, event.incident_id)
    await stop_phase(uow, event.incident_id, "handle", event.at, "result_submitted")
    await start_phase(uow, calendar, case, "verify", event.at, envelope, "result_submitted")


async def on_verified(event: IncidentVerified, envelope: Envelope, uow: SupervisionUnitOfWork,
                      calendar: WorkCalendar) -> None:
    await refresh_calendar(uow, calendar)
    await uow.cases.record_verification(event.incident_id, event.at, event.passed)
    if event.passed:
        return  # IncidentClosed follows and stops everything
    case = await known_case(uow, event.incident_id)
    await stop_phase(uow, event.incident_id, "verify", event.at, "verify_failed")
    await start_phase(uow, calendar, case, "handle", event.at, envelope, "rework")  # 返工: a fresh handle clock


async def on_finished(event: IncidentClosed | IncidentMerged | IncidentRejected, envelope: Envelope,
                      uow: SupervisionUnitOfWork) -> None:
    reason = {IncidentClosed: "closed", IncidentMerged: "merged", IncidentRejected: "rejected"}[type(event)]
    if isinstance(event, IncidentClosed):
        await uow.cases.record_closure(event.incident_id, event.at)
    await stop_phase(uow, event.incident_id, None, event.at, reason)


async def on_returned(event: IncidentReturned, envelope: Envelope, uow: SupervisionUnitOfWork) -> None:
    """退单: the owner's clocks stop; the reassignment starts a fresh sign clock."""
    await uow.cases.mark_signed(event.incident_id, False)
    await uow.cases.record_return(event.incident_id, event.at)
    await stop_phase(uow, event.incident_id, None, event.at, "returned")


async def on_referred(event: IncidentReferred, envelope: Envelope, uow: SupervisionUnitOfWork) -> None:
    """上报: the owner's clocks stop until the level above is given the case (its reassignment starts the sign
    clock); not a 退单, so no return is recorded for 回退率 (DOMAIN §4)."""
    await uow.cases.mark_signed(event.incident_id, False)
    await stop_phase(uow, event.incident_id, None, event.at, "referred")


async def on_reopened(event: IncidentReopened, envelope: Envelope, uow: SupervisionUnitOfWork,
                      calendar: WorkCalendar) -> None:
    """重办: same owner, fresh sign (then handle) clocks: a new cycle, its 督办 level afresh and its limits the
    policy's (the order's first 12345 deadline no longer binds)."""
    await refresh_calendar(uow, calendar)
    case = await known_case(uow, event.incident_id)
    await uow.cases.mark_signed(event.incident_id, False)
    await uow.cases.record_reopen(event.incident_id, event.at)
    case.reopened_at = event.at
    await stop_phase(uow, event.incident_id, None, event.at, "reopened")
    await start_phase(uow, calendar, case, "sign", event.at, envelope, "reopened")


async def on_restored(event: IncidentRestored, envelope: Envelope, uow: SupervisionUnitOfWork,
                      calendar: WorkCalendar) -> None:
    """12345 refused our 退单: the order is back with the unit that had it, which signs afresh (a fresh sign
    clock; the 督办 level and the 12345 deadline stay with the case). With no unit, its dispatch starts it."""
    await refresh_calendar(uow, calendar)
    if event.unit_id is None:
        return
    case = await known_case(uow, event.incident_id)
    await uow.cases.mark_signed(event.incident_id, False)
    case.signed = False
    await start_phase(uow, calendar, case, "sign", event.at, envelope, "restored")


async def on_urged(event: IncidentUrged, envelope: Envelope, uow: SupervisionUnitOfWork) -> None:
    """催办 counts against the unit that owns the case when it comes (催办次数 in the statistics)."""
    await uow.cases.record_urge(event.incident_id, event.at)


async def on_visited(event: IncidentVisited, envelope: Envelope, uow: SupervisionUnitOfWork) -> None:
    """回访 answers feed 响应率, 解决率 and 满意率 of the unit whose result closed the case."""
    await uow.cases.record_visit(event.incident_id, event.at, event.contacted, event.responded, event.solved,
                                 event.satisfied)


async def on_suspended(event: IncidentSuspended, envelope: Envelope, uow: SupervisionUnitOfWork) -> None:
    for clock in await uow.clocks.running(event.incident_id):
        clock.pause(event.at)
        await uow.clocks.save(clock)


async def on_resumed(event: IncidentResumed, envelope: Envelope, uow: SupervisionUnitOfWork,
                     calendar: WorkCalendar) -> None:
    await refresh_calendar(uow, calendar)
    for clock in await uow.clocks.running(event.incident_id):
        clock.resume(event.at, calendar)
        clock.tick(uow.clock.now())
        await uow.clocks.save(clock)
        uow.collect(clock, envelope)


async def on_extension_decided(event: ExtensionDecided, envelope: Envelope, uow: SupervisionUnitOfWork,
                               calendar: WorkCalendar) -> None:
    """延期 (DOMAIN.md §5): approved days are added to the handle due. A 12345 order gets more time only from
    12345 (its extension_decision, actor "12345"): then its deadline moves with the due, so later handle clocks
    (返工, 改派) are bound by the new one. A local approval on such a case moves nothing."""
    await refresh_calendar(uow, calendar)
    if not event.approved:
        return
    case = await uow.cases.get(event.incident_id)
    if case is not None and case.answers_to_12345:
        if event.actor != HOTLINE_ACTOR:
            return  # not 12345's word: its order's time is its own
        if case.deadline is not None and case.reopened_at is None and event.amount > 0:
            await uow.cases.set_deadline(event.incident_id, calendar.add(case.deadline, event.amount, event.unit))
    clock = await uow.clocks.running_in_phase(event.incident_id, "handle")
    if clock is None:
        return  # nothing to extend (the phase ended meanwhile)
    policy = await uow.policies.for_phase(clock.category, clock.urgency, "handle", clock.nature)  # its ladder
    if clock.extend(event.amount, event.unit, uow.clock.now(), calendar, policy):
        clock.tick(uow.clock.now())
        await uow.clocks.save(clock)
        uow.collect(clock, envelope)


# ---- Commands ---------------------------------------------------------------------------------------------


async def advance_clock(cmd: c.AdvanceClock, clock: Clock, clock_store: ClockStore) -> datetime:
    """Move the virtual clock; the store tells the ticker and the other processes (they follow it)."""
    # The mode before the role: on a real clock there is nothing to advance, for anyone.
    if not isinstance(clock, VirtualClock):
        raise ClockNotVirtual()
    if cmd.actor.role not in CLOCK_ADVANCERS:
        raise NotPermitted(cmd.actor.role, CLOCK_ADVANCERS)
    anchor = clock.advanced(cmd.seconds)
    await clock_store.save(anchor)
    clock.set_anchor(anchor)
    return clock.now()


async def escalate_clock(cmd: c.EscalateClock, uow: SupervisionUnitOfWork) -> PhaseClock:
    """督办 by hand on the incident's running clock that the caller sees: it raises the level, never lowers it."""
    async with uow:
        running = await uow.clocks.running(cmd.incident_id)
        if not running:
            raise NoRunningClock(cmd.incident_id)
        clocks = [clock for clock in running if cmd.actor.sees(clock.grid_code)]
        if not clocks:
            raise OutsideArea()
        clock = clocks[0]
        if not clock.escalate_by_hand(cmd.level, f"{cmd.actor.sub}: {cmd.note}", uow.clock.now()):
            raise LevelNotRaised(clock.level)
        await uow.clocks.save(clock)
        uow.collect(clock)
        await uow.commit()
    return clock


async def put_policies(cmd: c.PutPolicies, uow: SupervisionUnitOfWork) -> int:
    """Every policy checked first, then all stored in one transaction: one refused, none stored."""
    for index, policy in enumerate(cmd.policies):
        try:
            policy.check()
        except InvalidPolicy as exc:
            raise exc.at(index) from None
    async with uow:
        for policy in cmd.policies:
            await uow.policies.put(policy)
        await uow.commit()
    return len(cmd.policies)


async def override_calendar_day(cmd: c.OverrideCalendarDay, uow: SupervisionUnitOfWork,
                                calendar: WorkCalendar) -> int:
    async def change(days: CalendarDays) -> None:
        await days.set(cmd.day, cmd.workday, cmd.note)

    return await change_calendar(uow, calendar, cmd.day, change)


async def import_calendar_year(cmd: c.ImportCalendarYear, uow: SupervisionUnitOfWork,
                               calendar: WorkCalendar) -> int:
    """The year's overrides replaced by its schedule; the year is no longer provisional."""
    schedule = year_schedule(cmd.year, dict(cmd.holidays), set(cmd.workdays))

    async def change(days: CalendarDays) -> None:
        await days.replace_year(cmd.year, schedule, dict(cmd.holidays), cmd.source)

    return await change_calendar(uow, calendar, date(cmd.year, 1, 1), change)


async def freeze_month(cmd: c.FreezeMonth, uow: SupervisionUnitOfWork) -> None:
    async with uow:
        await uow.frozen_months.store(cmd.month, cmd.group_by, cmd.frozen_at, cmd.units)
        await uow.commit()


async def fire_due_clocks(cmd: c.FireDueClocks, uow: SupervisionUnitOfWork) -> list[datetime]:
    """Fire the thresholds of up to `batch` due clocks and write their alerts, one transaction. The firing
    runs in SQL (`fire_due_clocks`, PhaseClock.tick's rules) so a catch-up of 100,000s of clocks is quick.
    Returns when each claimed clock was due, so the caller can tell the lag once it is committed."""
    async with uow:
        due_times = await uow.clocks.fire_due(uow.clock.now(), cmd.batch, cmd.floor)
        await uow.commit()
    return due_times


COMMAND_HANDLERS: dict[type[Command[Any]], Callable[..., Awaitable[Any]]] = {
    c.AdvanceClock: advance_clock,
    c.EscalateClock: escalate_clock,
    c.PutPolicies: put_policies,
    c.OverrideCalendarDay: override_calendar_day,
    c.ImportCalendarYear: import_calendar_year,
    c.FireDueClocks: fire_due_clocks,
    c.FreezeMonth: freeze_month,
}

EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentReceived.type: on_received,
    IncidentAssigned.type: on_assigned,
    IncidentReassigned.type: on_assigned,
    IncidentSigned.type: on_signed,
    IncidentResultSubmitted.type: on_result_submitted,
    IncidentVerified.type: on_verified,
    IncidentClosed.type: on_finished,
    IncidentMerged.type: on_finished,
    IncidentRejected.type: on_finished,
    IncidentReturned.type: on_returned,
    IncidentReferred.type: on_referred,
    IncidentReopened.type: on_reopened,
    IncidentRestored.type: on_restored,
    IncidentUrged.type: on_urged,
    IncidentSuspended.type: on_suspended,
    IncidentResumed.type: on_resumed,
    ExtensionDecided.type: on_extension_decided,
    IncidentVisited.type: on_visited,
}

# A run of one type in one consumer batch: one statement for the run (the hot path).
BATCH_EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentReceived.type: on_received_many,
    IncidentAssigned.type: on_assigned_many,
}
