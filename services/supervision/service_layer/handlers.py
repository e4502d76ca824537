"""Supervision's use cases: start and stop phase clocks on lifecycle events; fire due thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.supervision.adapters.repository import clock_facts
from services.supervision.domain.model import Phase, PhaseClock
from shared.events.envelope import Envelope
from shared.events.intake import (
    ExtensionDecided,
    IncidentClosed,
    IncidentMerged,
    IncidentReceived,
    IncidentRejected,
    IncidentReopened,
    IncidentResultSubmitted,
    IncidentResumed,
    IncidentReturned,
    IncidentSigned,
    IncidentSuspended,
    IncidentVerified,
    IncidentVisited,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned
from shared.messaging.consumer import EventHandler


async def start_phase(uow: Any, case: dict[str, Any], phase: Phase, at: datetime, cause: Envelope,
                      started_by: str) -> PhaseClock:
    """Stop the phase's running clock (if any) and start a fresh one from the policy."""
    repo = uow.supervision
    if (running := await repo.running_clock(case["incident_id"], phase)) is not None:
        running.stop(at, "restarted" if started_by == "reopened" else started_by)
        await repo.save_clock(running)
    policy = await repo.policy(case["category"], case["urgency"], phase)
    clock = PhaseClock.start(clock_facts(case), phase, policy, at, uow.calendar,
                             cycle=await repo.next_cycle(case["incident_id"], phase), started_by=started_by)
    clock.tick(uow.clock.now())  # an event that arrives late may already be past a threshold
    await repo.add_clock(clock)
    uow.collect(clock, cause)
    return clock


async def stop_phase(uow: Any, incident_id: Any, phase: str | None, at: datetime, reason: str) -> None:
    repo = uow.supervision
    clocks = await repo.running_clocks(incident_id)
    for clock in clocks:
        if phase is None or clock.phase == phase:
            clock.stop(at, reason)
            await repo.save_clock(clock)


async def on_received(event: IncidentReceived, envelope: Envelope, uow: Any) -> None:
    await uow.supervision.upsert_case(event.incident_id, event.category, event.urgency, event.grid_code,
                                      None, event.deadline)


async def on_assigned(event: IncidentAssigned | IncidentReassigned, envelope: Envelope, uow: Any) -> None:
    repo = uow.supervision
    case = await repo.upsert_case(event.incident_id, event.category, event.urgency, event.place_code(),
                                  event.owner.unit_id)
    reassigned = isinstance(event, IncidentReassigned)
    areas = {"grid_code": event.grid_code, "community_code": event.community_code,
             "street_code": event.street_code, "district_code": event.district_code}
    case["assignment_id"] = await repo.record_assignment(event.incident_id, event.owner, areas, event.at,
                                                         reassigned)
    if case["signed"] and not reassigned:
        return  # the signature overtook the assignment: the sign phase is already over
    await start_phase(uow, case, "sign", event.at, envelope, "reassigned" if reassigned else "assigned")


async def on_signed(event: IncidentSigned, envelope: Envelope, uow: Any) -> None:
    case = await uow.supervision.case(event.incident_id)
    if case is None:
        raise LookupError(f"signed before supervision saw incident {event.incident_id}; retry later")
    if case["signed"]:
        return  # a second signature of the same phase (a re-published event) must not restart the clock
    await uow.supervision.mark_signed(event.incident_id, True)
    await stop_phase(uow, event.incident_id, "sign", event.at, "signed")
    await start_phase(uow, case, "handle", event.at, envelope, "signed")


async def on_result_submitted(event: IncidentResultSubmitted, envelope: Envelope, uow: Any) -> None:
    case = await uow.supervision.case(event.incident_id)
    if case is None:
        raise LookupError(f"unknown incident {event.incident_id}")
    await stop_phase(uow, event.incident_id, "handle", event.at, "result_submitted")
    await start_phase(uow, case, "verify", event.at, envelope, "result_submitted")


async def on_verified(event: IncidentVerified, envelope: Envelope, uow: Any) -> None:
    await uow.supervision.record_verification(event.incident_id, event.at, event.passed)
    if event.passed:
        return  # IncidentClosed follows and stops everything
    case = await uow.supervision.case(event.incident_id)
    if case is None:
        raise LookupError(f"unknown incident {event.incident_id}")
    await stop_phase(uow, event.incident_id, "verify", event.at, "verify_failed")
    await start_phase(uow, case, "handle", event.at, envelope, "rework")  # 返工: a fresh handle clock


async def on_finished(event: IncidentClosed | IncidentMerged | IncidentRejected, envelope: Envelope,
                      uow: Any) -> None:
    reason = {IncidentClosed: "closed", IncidentMerged: "merged", IncidentRejected: "rejected"}[type(event)]
    if isinstance(event, IncidentClosed):
        await uow.supervision.record_closure(event.incident_id, event.at)
    await stop_phase(uow, event.incident_id, None, event.at, reason)


async def on_returned(event: IncidentReturned, envelope: Envelope, uow: Any) -> None:
    """退单: the owner's clocks stop; the reassignment starts a fresh sign clock."""
    await uow.supervision.mark_signed(event.incident_id, False)
    await uow.supervision.record_return(event.incident_id, event.at)
    await stop_phase(uow, event.incident_id, None, event.at, "returned")


async def on_reopened(event: IncidentReopened, envelope: Envelope, uow: Any) -> None:
    """重办: same owner, fresh sign (then handle) clocks."""
    case = await uow.supervision.case(event.incident_id)
    if case is None:
        raise LookupError(f"unknown incident {event.incident_id}")
    await uow.supervision.mark_signed(event.incident_id, False)
    await uow.supervision.record_reopen(event.incident_id, event.at)
    await stop_phase(uow, event.incident_id, None, event.at, "reopened")
    await start_phase(uow, case, "sign", event.at, envelope, "reopened")


async def on_visited(event: IncidentVisited, envelope: Envelope, uow: Any) -> None:
    """回访 answers feed 响应率, 解决率 and 满意率 of the unit whose result closed the case."""
    await uow.supervision.record_visit(event.incident_id, event.at, event.contacted, event.responded,
                                       event.solved, event.satisfied)


async def on_suspended(event: IncidentSuspended, envelope: Envelope, uow: Any) -> None:
    for clock in await uow.supervision.running_clocks(event.incident_id):
        clock.pause(event.at)
        await uow.supervision.save_clock(clock)


async def on_resumed(event: IncidentResumed, envelope: Envelope, uow: Any) -> None:
    for clock in await uow.supervision.running_clocks(event.incident_id):
        clock.resume(event.at, uow.calendar)
        clock.tick(uow.clock.now())
        await uow.supervision.save_clock(clock)
        uow.collect(clock, envelope)


async def on_extension_decided(event: ExtensionDecided, envelope: Envelope, uow: Any) -> None:
    if not event.approved:
        return
    clock = await uow.supervision.running_clock(event.incident_id, "handle")
    if clock is None:
        return  # nothing to extend (the phase ended meanwhile)
    policy = await uow.supervision.policy(clock.category, clock.urgency, "handle")
    if clock.extend(event.amount, event.unit, uow.clock.now(), uow.calendar, policy):
        clock.tick(uow.clock.now())
        await uow.supervision.save_clock(clock)
        uow.collect(clock, envelope)


async def tick_due_clocks(uow: Any, batch: int) -> list[datetime]:
    """Fire the thresholds of up to `batch` due clocks and write their alerts, one transaction. The firing
    runs in SQL (`fire_due_clocks`, PhaseClock.tick's rules) so a catch-up of 100,000s of clocks is quick.
    Returns when each claimed clock was due, so the caller can tell the lag once it is committed."""
    async with uow:
        due_times: list[datetime] = await uow.supervision.fire_due(uow.clock.now(), batch)
        await uow.commit()
    return due_times


EVENT_HANDLERS: dict[str, EventHandler] = {
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
    IncidentReopened.type: on_reopened,
    IncidentSuspended.type: on_suspended,
    IncidentResumed.type: on_resumed,
    ExtensionDecided.type: on_extension_decided,
    IncidentVisited.type: on_visited,
}
