"""Intake's use cases: commands from HTTP and the CLI, events from routing. Each runs in one unit of work.

The bus (shared/messagebus.py, wired in bootstrap.py) gives each handler its unit of work and what else it
names: the work calendar, the duplicate policy, the report committer, the Open311 development key.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeGuard, cast

from services.intake.domain import commands as c
from services.intake.domain.attachments import check_references
from services.intake.domain.duplicates import Candidate, DuplicateLookup, DuplicatePolicy, nearest_master
from services.intake.domain.errors import (
    IdempotencyConflict,
    IncidentNotFound,
    InvalidRequest,
    NotPermitted,
    Open311RateLimited,
    OrderNotFound,
    SignatureReplayed,
    UnknownApiKey,
    UnknownCategory,
)
from services.intake.domain.hotline import (
    HOTLINE_URGENCY,
    MappingRule,
    check_mapping,
    higher_urgency,
    map_category,
    to_wgs84,
)
from services.intake.domain.model import HOTLINE_ACTOR, Incident, Status
from services.intake.service_layer.unit_of_work import IntakeUnitOfWork, ReportUnitOfWork
from shared.calendar import WorkCalendar
from shared.events.envelope import Envelope
from shared.events.intake import Point
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable
from shared.messagebus import Command

SYSTEM = c.Actor("intake", "system", ("",))
HOTLINE = HOTLINE_ACTOR

# What a report comes to: its case (new, or the earlier one its key holds), or the error that refused it.
Outcome = Incident | UnknownCategory | IdempotencyConflict


class ReportQueue(Protocol):
    """Where reports wait to be written together (service_layer/group_commit.py's ReportCommitter)."""

    async def submit(self, report: c.ReportIncident) -> Incident: ...


async def report_incident(cmd: c.ReportIncident, reports: ReportQueue) -> Incident:
    """Take a report in. It is written together with the others arriving meanwhile (group commit); with an
    idempotency key, a resend returns the case the first one created."""
    return await reports.submit(cmd)


async def submit_public_request(cmd: c.SubmitPublicRequest, uow: IntakeUnitOfWork, reports: ReportQueue,
                                open311_dev_key: str, open311_per_minute: int) -> Incident:
    """An Open311 report, taken once its api_key is one we issued (or the development key, outside production),
    within the key's share of requests a minute (429 with Retry-After beyond it)."""
    is_dev_key = bool(open311_dev_key) and secrets.compare_digest(cmd.api_key.encode(), open311_dev_key.encode())
    async with uow:
        client = await uow.api_keys.client(cmd.api_key)
        if client is None and not is_dev_key:
            raise UnknownApiKey()
        now = uow.clock.now()
        window_start, used = await uow.api_keys.take_request(cmd.api_key, now)
        await uow.commit()
    if used > open311_per_minute:
        wait = window_start + timedelta(minutes=1) - now
        raise Open311RateLimited(open311_per_minute, math.ceil(wait.total_seconds()))
    if cmd.report.location is None and not cmd.report.address:
        raise InvalidRequest("give lat and long, or address_string")  # the public say where, or we cannot route
    actor = c.Actor(f"open311:{client or 'dev'}", "public", ())
    return await reports.submit(dataclasses.replace(cmd.report, actor=actor))


async def issue_open311_key(cmd: c.IssueOpen311Key, uow: IntakeUnitOfWork) -> str:
    key = secrets.token_urlsafe(24)
    async with uow:
        await uow.api_keys.issue(key, cmd.client_name)
        await uow.commit()
    return key


async def report_incidents(reports: Sequence[c.ReportIncident], uow: ReportUnitOfWork,
                           duplicates: DuplicatePolicy) -> list[Outcome]:
    """Take many reports in at once (group commit): their cases, timelines, keys and outbox rows in one write.

    `uow`'s commit is that one statement. Each report gets its own outcome, in order.
    A refused report (unknown category, key reused with another body) writes nothing and fails no other. An
    error of the write itself is raised: then nothing was written, and the caller may take them one by one.
    """
    outcomes: list[Outcome | None] = [None] * len(reports)
    async with uow:
        codes = await uow.categories.codes()
        accepted = []
        for n, report in enumerate(reports):
            if report.category in codes:
                accepted.append(n)
            else:
                outcomes[n] = UnknownCategory(report.category)
        # Who holds each key: (fingerprint, case id). The first report of this batch with a key claims it; a
        # later one with the same key is a resend of it. A key an earlier request holds is found by the write.
        holders: dict[tuple[str, str], tuple[str, uuid.UUID]] = {}
        for n in accepted:
            key = reports[n].idempotency_key
            if key is not None and (key.scope, key.key) not in holders:
                holders[(key.scope, key.key)] = (key.fingerprint, reports[n].incident_id)
        fresh = [n for n in accepted if _creates_case(reports[n], holders)]
        incidents = await _new_cases(uow, duplicates, [reports[n] for n in fresh])
        uow.add_cases(incidents, [(scope, key, fingerprint, incident_id) for (scope, key), (fingerprint, incident_id)
                                  in holders.items()])
        for incident in incidents:
            uow.collect(incident)
        if incidents:
            await uow.commit()
        created = {incident.id: incident for incident in incidents if incident.id in uow.stored}
        taken = [ident for ident, (_, incident_id) in holders.items() if incident_id not in created]
        if taken:
            holders.update(await uow.incidents.idempotency_holders(taken))
        earlier_ids = {incident_id for _, incident_id in holders.values()} - created.keys()
        earlier = await uow.incidents.get_many(sorted(earlier_ids, key=str)) if earlier_ids else {}
    cases = created | earlier
    for n in accepted:
        key = reports[n].idempotency_key
        if key is None:
            outcomes[n] = cases[reports[n].incident_id]
            continue
        fingerprint, incident_id = holders[(key.scope, key.key)]
        outcomes[n] = cases[incident_id] if fingerprint == key.fingerprint else IdempotencyConflict(key.key)
    assert all(outcome is not None for outcome in outcomes)  # every report was answered above
    return cast(list[Outcome], outcomes)


def _creates_case(report: c.ReportIncident, holders: dict[tuple[str, str], tuple[str, uuid.UUID]]) -> bool:
    key = report.idempotency_key
    return key is None or holders[(key.scope, key.key)][1] == report.incident_id


async def _new_cases(uow: IntakeUnitOfWork, policy: DuplicatePolicy, cmds: list[c.ReportIncident]) -> list[Incident]:
    """The cases of these reports, each linked to the open case it duplicates: one stored before, or an
    earlier one of the same batch (as if they had arrived one after the other)."""
    nows = [uow.clock.now() for _ in cmds]
    located = [(cmd, now) for cmd, now in zip(cmds, nows, strict=True)
               if cmd.location is not None and policy.links]
    stored = iter(await uow.incidents.duplicate_candidates([
        DuplicateLookup(cmd.category, now - policy.window, cmd.location.lon, cmd.location.lat,  # type: ignore[union-attr]
                        *policy.bounding_box(cmd.location.lon, cmd.location.lat))  # type: ignore[union-attr]
        for cmd, now in located]) if located else [])
    incidents: list[Incident] = []
    for cmd, now in zip(cmds, nows, strict=True):
        master = None
        if cmd.location is not None and policy.links:
            batch = [Candidate(i.id, i.location.lon, i.location.lat) for i in incidents
                     if i.category == cmd.category and i.location is not None and i.duplicate_of is None]
            master = nearest_master(cmd.location.lon, cmd.location.lat, next(stored) + batch, policy)
        incidents.append(Incident.report(cmd, now, duplicate_of=master))
    return incidents


# How each lifecycle command is applied to the case (merge and return need more than the case).
_APPLY: dict[type[c.CaseCommand], Callable[[Incident, Any, datetime], None]] = {
    c.SignIncident: Incident.sign,
    c.ReportProgress: Incident.progress,
    c.RequestExtension: Incident.request_extension,
    c.DecideExtension: Incident.decide_extension,
    c.RequestSuspension: Incident.request_suspension,
    c.DecideSuspension: Incident.decide_suspension,
    c.SuspendIncident: Incident.suspend,
    c.ResumeIncident: Incident.resume,
    c.SubmitResult: Incident.submit_result,
    c.VerifyResult: Incident.verify,
    c.RecordVisit: Incident.record_visit,
    c.ReopenIncident: Incident.reopen,
    c.RejectIncident: Incident.reject,
    c.ReferUp: Incident.refer_up,
    c.PublishIncident: Incident.publish,
}


async def perform(cmd: c.CaseCommand, uow: IntakeUnitOfWork, calendar: WorkCalendar) -> Incident:
    """Apply one lifecycle action: load (locked), let the case decide, save state, timeline and events."""
    async with uow:
        incident = await _apply(cmd, uow, calendar)
        await uow.commit()
    return incident


async def perform_once(cmd: c.ActOnce, uow: IntakeUnitOfWork, calendar: WorkCalendar) -> c.ActionAnswer:
    """Apply an action sent with an Idempotency-Key once. The case (both, for a merge) is locked first, so a resend
    arriving while the first request is in flight waits for it and then finds its key: same fingerprint, the
    first answer again and nothing applied; another request's, 409. A refused action holds no key (its resend is
    refused again, or taken if the case has moved meanwhile)."""
    action, key = cmd.action, cmd.key
    async with uow:
        for incident_id in sorted({action.incident_id, getattr(action, "into", action.incident_id)}, key=str):
            await _load_visible(uow, incident_id, action.actor)  # lock in id order, as a merge does: no deadlock
        held = await uow.incidents.action_key(key.scope, key.key)
        if held is not None:
            fingerprint, _, answer = held
            if fingerprint != key.fingerprint:
                raise IdempotencyConflict(key.key)
            return c.ActionAnswer(action.incident_id, answer["status"], tuple(answer["allowed_actions"]),
                                  replayed=True)
        incident = await _apply(action, uow, calendar)
        answer = {"status": incident.status.value, "allowed_actions": incident.allowed_actions()}
        if not await uow.incidents.hold_action_key(key.scope, key.key, key.fingerprint, incident.id, answer):
            raise IdempotencyConflict(key.key)  # the key went to a request on another case meanwhile
        await uow.commit()
    return c.ActionAnswer(incident.id, incident.status.value, tuple(incident.allowed_actions()))


async def _apply(cmd: c.CaseCommand, uow: IntakeUnitOfWork, calendar: WorkCalendar) -> Incident:
    now = uow.clock.now()
    if isinstance(cmd, c.MergeIncident):
        incident = await _merge(cmd, uow, now)
    else:
        incident = await _load_visible(uow, cmd.incident_id, cmd.actor)
        if isinstance(cmd, c.ReturnIncident):
            incident.return_case(cmd, now, calendar)
        else:
            _APPLY[type(cmd)](incident, cmd, now)
        if referenced := getattr(cmd, "attachments", ()):  # a 办结 (or progress, 核查) with its photos
            check_references(referenced, await uow.attachments.stored_ids(incident.id))
    await uow.incidents.save(incident)
    uow.collect(incident)
    if incident.status in (Status.CLOSED, Status.MERGED):
        await _merge_linked_duplicates(uow, incident, now)
    return incident


async def _duplicate_of(uow: IntakeUnitOfWork, policy: DuplicatePolicy, category: str, location: Point | None,
                        now: datetime) -> uuid.UUID | None:
    if location is None or not policy.links:
        return None
    [candidates] = await uow.incidents.duplicate_candidates([DuplicateLookup(
        category, now - policy.window, location.lon, location.lat, *policy.bounding_box(location.lon, location.lat))])
    return nearest_master(location.lon, location.lat, candidates, policy)


async def _merge_linked_duplicates(uow: IntakeUnitOfWork, master: Incident, now: datetime) -> None:
    """Linked duplicates follow their master: when it closes (or is merged away) they are merged into it."""
    for duplicate_id in await uow.incidents.open_duplicates_of(master.id):
        duplicate = await uow.incidents.get(duplicate_id)
        if duplicate is None:
            raise IncidentNotFound(duplicate_id)  # listed a moment ago under the same lock: a bug if it happens
        duplicate.merge_into(c.MergeIncident(duplicate.id, SYSTEM, into=master.id), master, now)
        await uow.incidents.save(duplicate)
        uow.collect(duplicate)


async def _merge(cmd: c.MergeIncident, uow: IntakeUnitOfWork, now: datetime) -> Incident:
    cases = {}
    for incident_id in sorted({cmd.incident_id, cmd.into}, key=str):  # lock in id order: no deadlock
        cases[incident_id] = await _load_visible(uow, incident_id, cmd.actor)
    incident = cases[cmd.incident_id]
    incident.merge_into(cmd, cases[cmd.into], now)
    return incident


async def _load_visible(uow: IntakeUnitOfWork, incident_id: uuid.UUID, actor: c.Actor) -> Incident:
    """The case an action is taken on, locked. An action on a case outside the caller's area is refused (403,
    DESIGN §5: wrong area); only reading one answers as if it did not exist (404)."""
    incident = await uow.incidents.get(incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    if not incident.visible_to(actor):
        raise NotPermitted("the case lies outside the caller's area")
    return incident


async def record_assignment(event: IncidentAssigned | IncidentReassigned, envelope: Envelope,
                            uow: IntakeUnitOfWork) -> None:
    """Routing's decision, applied inside the consumer's unit of work (with its inbox row); a run of them:
    `record_assignments`."""
    await _apply_assignment(await uow.incidents.get(event.incident_id), event, uow)


async def record_assignments(assigned: list[tuple[IncidentAssigned | IncidentReassigned, Envelope]],
                             uow: IntakeUnitOfWork) -> None:
    """`record_assignment` for a run of decisions: their cases read and locked in one statement, the changed ones
    saved in another."""
    incidents = await uow.incidents.lock_many([event.incident_id for event, _ in assigned])
    changed: list[Incident] = []
    for event, _ in assigned:
        incident = incidents.get(event.incident_id)
        if _assigned(incident, event):
            changed.append(incident)
    await uow.incidents.save_many(changed)


async def _apply_assignment(incident: Incident | None, event: IncidentAssigned | IncidentReassigned,
                            uow: IntakeUnitOfWork) -> None:
    if _assigned(incident, event):
        await uow.incidents.save(incident)


def _assigned(incident: Incident | None, event: IncidentAssigned | IncidentReassigned) -> TypeGuard[Incident]:
    """Whether routing's decision changed the case (raises when the case is unknown)."""
    if incident is None:
        # Routing only assigns what intake published, so the record exists; a missing one is a bug
        # or a foreign event: raise so it is retried and then parked, never silently dropped.
        raise IncidentNotFound(event.incident_id)
    return incident.record_assignment(event.owner, event.co_owners, event.place_code(), event.reason, event.at,
                                      reassigned=isinstance(event, IncidentReassigned))


async def record_unroutable(event: IncidentUnroutable, envelope: Envelope, uow: IntakeUnitOfWork) -> None:
    incident = await uow.incidents.get(event.incident_id)
    if incident is None:
        raise IncidentNotFound(event.incident_id)
    incident.record_unroutable(event.reason, event.at, event.place_code(), event.queue)
    await uow.incidents.save(incident)


async def accept_hotline_order(cmd: c.AcceptHotlineOrder, uow: IntakeUnitOfWork,
                               duplicates: DuplicatePolicy) -> tuple[Incident, bool]:
    """Create the case of a 12345 order, or return the existing one for a resend (idempotent on order_no)."""
    async with uow:
        existing = await uow.incidents.by_order_no(cmd.order_no)
        if existing is not None:
            return existing, False
        mapped = map_category(cmd.category, await uow.mapping_rules.all(), f"{cmd.title} {cmd.content}")
        urgency = higher_urgency(HOTLINE_URGENCY[cmd.urgency], await uow.categories.default_urgency(mapped.category))
        location = None
        if cmd.lon is not None and cmd.lat is not None:
            lon, lat = to_wgs84(cmd.lon, cmd.lat, cmd.coord_sys)
            location = Point(lon=lon, lat=lat)
        report = c.ReportIncident(
            source="hotline", category=mapped.category, urgency=urgency,  # type: ignore[arg-type]
            title=cmd.title, description=cmd.content, location=location, address=cmd.address,
            reporter_name=cmd.citizen_name, reporter_phone=cmd.citizen_phone, reported_at=cmd.received_at,
            attachments=cmd.attachments, actor=HOTLINE)
        hotline = {"order_no": cmd.order_no, "category": cmd.category, "mapped_by": mapped.how,
                   "urgency": cmd.urgency, "nature": cmd.nature, "channel": cmd.channel,
                   "confidential": cmd.confidential, "related_order_no": cmd.related_order_no,
                   "coord_sys": cmd.coord_sys, "deadline": cmd.deadline.isoformat() if cmd.deadline else None}
        now = uow.clock.now()
        duplicate_of = await _duplicate_of(uow, duplicates, mapped.category, location, now)
        incident = Incident.report(report, now, hotline_order_no=cmd.order_no, deadline=cmd.deadline,
                                   hotline=hotline, duplicate_of=duplicate_of)
        await uow.incidents.insert_cases([incident])
        uow.collect(incident)
        await uow.commit()
    return incident, True


async def apply_hotline_event(cmd: c.ApplyHotlineEvent, uow: IntakeUnitOfWork) -> tuple[Incident, bool]:
    """Apply one of 12345's own events about its order once; a resent event_id changes nothing."""
    async with uow:
        incident = await uow.incidents.by_order_no(cmd.order_no)
        if incident is None:
            raise OrderNotFound(cmd.order_no)
        payload = {k: v for k, v in vars(cmd).items() if v is not None}
        if not await uow.hotline_events.record(cmd.event_id, cmd.order_no, cmd.kind, payload):
            return incident, False
        now = uow.clock.now()
        match cmd.kind:
            case "urge":
                incident.urge(HOTLINE, cmd.note, now)
            case "redo":
                incident.reopen(c.ReopenIncident(incident.id, HOTLINE, reason=cmd.note or "12345 重办"), now)
            case "visit_result":
                incident.record_visit(c.RecordVisit(incident.id, HOTLINE, contacted=cmd.contacted,
                                                    responded=cmd.responded, solved=cmd.solved,
                                                    satisfied=cmd.satisfied), now)
            case "extension_decision":
                incident.decide_extension(c.DecideExtension(incident.id, HOTLINE, approved=bool(cmd.approved),
                                                            amount=cmd.amount), now)
            case "return_decision":
                incident.rule_on_return(bool(cmd.approved), cmd.note, now)
        await uow.incidents.save(incident)
        uow.collect(incident)
        await uow.commit()
    return incident, True


async def resume_due_suspensions(cmd: c.ResumeDueSuspensions, uow: IntakeUnitOfWork) -> int:
    """挂起 ends by itself at its `until` (DOMAIN §4–§5): each due case resumes to the state it was paused in,
    on its timeline, and `resumed` tells supervision to restart its clocks. Cases other resumers hold are
    skipped (SKIP LOCKED), so any number of them may run."""
    async with uow:
        now = uow.clock.now()
        resumed = 0
        for incident in await uow.incidents.due_to_resume(now, cmd.batch):
            if incident.resume_when_due(now):
                await uow.incidents.save(incident)
                uow.collect(incident)
                resumed += 1
        await uow.commit()
    return resumed


async def replace_hotline_mapping(cmd: c.ReplaceHotlineMapping, uow: IntakeUnitOfWork) -> list[MappingRule]:
    """Load a city's 12345 category mapping in place of the current one: all of it, or (InvalidMapping) none."""
    rules = list(cmd.rules)
    async with uow:
        check_mapping(rules, await uow.categories.codes())
        await uow.mapping_rules.replace(rules)
        await uow.commit()
    return sorted(rules, key=lambda r: (r.kind, r.value))


async def remember_hotline_signature(cmd: c.RememberHotlineSignature, uow: IntakeUnitOfWork) -> None:
    """Refuse a signed 12345 request seen before (a replay); remember a new one."""
    async with uow:
        if not await uow.signatures.remember(cmd.signature):
            raise SignatureReplayed()
        await uow.commit()


COMMAND_HANDLERS: dict[type[Command[Any]], Callable[..., Awaitable[Any]]] = {
    c.ReportIncident: report_incident,
    c.SubmitPublicRequest: submit_public_request,
    c.IssueOpen311Key: issue_open311_key,
    **{kind: perform for kind in (*_APPLY, c.ReturnIncident, c.MergeIncident)},
    c.ActOnce: perform_once,
    c.AcceptHotlineOrder: accept_hotline_order,
    c.ApplyHotlineEvent: apply_hotline_event,
    c.ReplaceHotlineMapping: replace_hotline_mapping,
    c.ResumeDueSuspensions: resume_due_suspensions,
    c.RememberHotlineSignature: remember_hotline_signature,
}

EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentAssigned.type: record_assignment,
    IncidentReassigned.type: record_assignment,
    IncidentUnroutable.type: record_unroutable,
}

# A run of one type in one consumer batch: its cases read in one statement (the hot path).
BATCH_EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentAssigned.type: record_assignments,
    IncidentReassigned.type: record_assignments,
}
