"""Notifications' use cases: learn owners, turn events into deliveries, deliver them once, and keep the
directory, subscriptions and templates. Handlers orchestrate (load, ask the model, save, emit); the rules
live in domain/."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter

from services.notifications.domain.alerts import Alert
from services.notifications.domain.cases import (
    HOTLINE_CALLBACKS,
    OUTCOME_CALLBACKS,
    CaseOwner,
    HotlineCase,
    Outcome,
    assignment_parties,
    owning_unit_key,
    party_unit_keys,
    told_of_assignment,
)
from services.notifications.domain.commands import (
    DeleteContact,
    DeleteSubscription,
    DeliverDue,
    EditTemplate,
    PutContact,
    PutSubscription,
    RotateSubscriptionSecret,
)
from services.notifications.domain.contacts import (
    Recipient,
    UnitContact,
    contact_keys_for,
    escalation_recipients,
    unit_desk,
)
from services.notifications.domain.delivery import (
    MAX_BUNDLE,
    Attempt,
    Cause,
    Delivery,
    DeliveryPolicy,
    Outgoing,
    Send,
    sends_of,
    tell,
)
from services.notifications.domain.errors import (
    OutsideArea,
    UnknownContact,
    UnknownSubscription,
    UnknownTemplate,
    WebhookUrlRefused,
)
from services.notifications.domain.notices import (
    Message,
    Notice,
    assignment_notices,
    centre_notice,
    escalation_notice,
    light_notice,
    restored_notice,
    suspension_decided_notice,
    urge_notice,
)
from services.notifications.domain.subscriptions import (
    GONE_REASON,
    Subscription,
    new_secret,
    subscription_of,
    webhook_body,
)
from services.notifications.domain.templates import TEMPLATES, StoredTemplate, validate
from services.notifications.service_layer.channels import Channels
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared import tracing
from shared.actor import covers
from shared.events.envelope import Envelope
from shared.events.intake import (
    ExtensionRequested,
    IncidentEvent,
    IncidentMerged,
    IncidentReceived,
    IncidentRestored,
    IncidentUrged,
    SuspensionDecided,
    SuspensionRequested,
)
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable
from shared.events.supervision import EscalationRaised, LightChanged
from shared.messagebus import Command

log = structlog.get_logger("notifications")
# Each delivery's try, counted when committed: sent, retry (pending again), dead (gave up), gone (410).
DELIVERIES = Counter("notifications_deliveries_total", "Deliveries tried, by channel and outcome "
                     "(sent, retry, dead, gone)", ["channel", "outcome"])


# ---- events from the other services -------------------------------------------------------------------------

async def on_assigned(event: IncidentAssigned | IncidentReassigned, envelope: Envelope, uow: NotificationsUnitOfWork,
                      policy: DeliveryPolicy) -> None:
    """Owners are told of their new case without a subscription (DESIGN §6): the grid worker, or the
    owning unit's desk from the contacts directory. So are its co-owners (协办, DOMAIN §4), and on 改派 the
    owner it was taken from; each person once. A case with co-owners goes on the supervisors' live stream
    (a run of assignments: `on_assigned_many`)."""
    await on_assigned_many([(event, envelope)], uow, policy)


async def on_assigned_many(assigned: list[tuple[IncidentAssigned | IncidentReassigned, Envelope]],
                           uow: NotificationsUnitOfWork, policy: DeliveryPolicy) -> None:
    """`on_assigned` for a run of assignments (each case once): the owners replaced in one statement, the parties'
    desks read in one, the owners' deliveries written in one (two, around an emergency's centre alert: every
    delivery in the order one by one gives them)."""
    now = uow.clock.now()
    replaced = await uow.owners.replace_many([CaseOwner.assigned(event) for event, _ in assigned])
    parties = [assignment_parties(event, replaced.get(event.incident_id)) for event, _ in assigned]
    directory = await uow.contacts.for_units(list(dict.fromkeys(key for of_case in parties
                                                                for key in party_unit_keys(of_case))))
    deliveries: list[Delivery] = []
    for (event, envelope), of_case in zip(assigned, parties, strict=True):
        if event.urgency == "emergency" and isinstance(event, IncidentAssigned):
            # The centre's subscribers are told at once: the earlier cases' deliveries go first, as one by one.
            await uow.deliveries.add_many(deliveries)
            deliveries = []
            await _alert_centre(uow, policy, envelope, "centre.emergency_reported", event.incident_id,
                                event.place_code(), event.category, event.urgency, event.owner.unit_name)
        elif event.co_owners:
            await uow.alerts.add(_alert(envelope, event.incident_id, event.place_code(), now))
        told = told_of_assignment(of_case, directory)
        if not any(part == "owner" for _, part in told):
            log.info("assignment_without_handler_contact", incident_id=str(event.incident_id))
        notices = assignment_notices(event)
        cause = _cause(envelope, event.incident_id)
        for recipient, part in told:
            notice = notices[part]
            message = await _message(uow, notice)
            if (delivery := tell(recipient, cause, message, urgent=notice.urgent, now=now, policy=policy)) is not None:
                deliveries.append(delivery)
    await uow.deliveries.add_many(deliveries)  # a replayed event adds nothing: one per event, recipient, channel


async def on_light_changed(event: LightChanged, envelope: Envelope, uow: NotificationsUnitOfWork,
                           policy: DeliveryPolicy) -> None:
    """Every light change goes on the supervisors' live stream; a yellow or red one by SMS to the case's
    day-to-day contact: the grid worker, or the unit's desk (liaison, else head) when a unit owns it."""
    now = uow.clock.now()
    await uow.alerts.add(_alert(envelope, event.incident_id, event.grid_code, now))
    notice = light_notice(event)
    if notice is None:
        return
    message = await _message(uow, notice)
    owner = await uow.owners.get(event.incident_id)
    recipient = await _day_to_day_contact(uow, owner, event.unit_id, event.grid_code)
    if recipient is None:
        log.info("light_change_without_handler_contact", incident_id=str(event.incident_id))
        return
    await _add(uow, tell(recipient, _cause(envelope, event.incident_id), message, urgent=notice.urgent, now=now,
                         policy=policy))


async def on_escalation(event: EscalationRaised, envelope: Envelope, uow: NotificationsUnitOfWork,
                        policy: DeliveryPolicy) -> None:
    """督办 goes on the live stream; to the owning unit's people and those above it by the level (contacts
    directory); and by SMS, email or webhook to every subscriber of its area and level."""
    now = uow.clock.now()
    await uow.alerts.add(_alert(envelope, event.incident_id, event.grid_code, now))
    notice = escalation_notice(event)
    message = await _message(uow, notice)
    cause = _cause(envelope, event.incident_id)
    unit_key = owning_unit_key(await uow.owners.get(event.incident_id), event.unit_id, event.grid_code)
    contacts = await uow.contacts.for_units(contact_keys_for(unit_key, event.grid_code))
    for contact in escalation_recipients(event.level, unit_key, event.grid_code, contacts):
        await _add(uow, tell(contact, cause, message, urgent=notice.urgent, now=now, policy=policy))
    for subscription in await uow.subscriptions.for_event(envelope.type, event.grid_code):
        if subscription.wants_level(event.level):
            for delivery in subscription.deliveries(cause, message, urgent=notice.urgent, now=now, policy=policy,
                                                    webhook_body=webhook_body(subscription.id, envelope)):
                await _add(uow, delivery)


async def on_case_event(event: IncidentEvent, envelope: Envelope, uow: NotificationsUnitOfWork,
                        hotline_callback_url: str) -> None:
    """A 12345 order's case moved: queue its callback; the deliverer sends them in order. A case's result and
    closing also go to every order that follows it (merged into it, or a duplicate linked to it: DOMAIN §4,
    §7), and are kept for orders that follow it later."""
    if isinstance(event, IncidentReceived):
        if event.hotline_order_no is None and event.duplicate_of is None:
            return  # not a 12345 order, and nothing it could pass on
        if event.hotline_order_no is not None:
            await uow.hotline_cases.add(HotlineCase(event.incident_id, event.hotline_order_no))
    callback = HOTLINE_CALLBACKS[envelope.type]
    case = await uow.hotline_cases.get(event.incident_id)
    if case is not None and case.report(callback):
        await uow.hotline_cases.save(case)
        body = case.callback_body(callback, event.at, envelope.data)
        await _add(uow, Delivery.webhook(_cause(envelope, event.incident_id), case.recipient, hotline_callback_url,
                                         body, urgent=True, now=uow.clock.now()))
    if callback in OUTCOME_CALLBACKS:
        outcome = Outcome(event.incident_id, callback, envelope.id, envelope.type, event.at, envelope.data)
        outcomes = await uow.outcomes.get(event.incident_id)  # held: a follower linked now waits, then sees it
        outcomes.record(outcome)
        await uow.outcomes.save(outcomes)
        for order in await uow.case_links.hotline_followers(event.incident_id):
            await _tell_12345_of(uow, order, outcome, hotline_callback_url)
    if isinstance(event, IncidentReceived) and event.duplicate_of is not None:
        await _follow(uow, event.incident_id, event.duplicate_of, hotline_callback_url)


async def on_merged(event: IncidentMerged, envelope: Envelope, uow: NotificationsUnitOfWork,
                    hotline_callback_url: str) -> None:
    """合并: the merged case follows the case it went into; its 12345 order (and the orders that followed the
    merged case) get that case's `result` and `closed` (DOMAIN §7), those it had already at once."""
    await _follow(uow, event.incident_id, event.into, hotline_callback_url)


async def _follow(uow: NotificationsUnitOfWork, follower: uuid.UUID, master: uuid.UUID,
                  hotline_callback_url: str) -> None:
    """`follower` takes `master`'s outcome from now on; the 12345 orders it brings catch up on what the end of
    the master's chain has reached already (result, then closed), each callback once per order."""
    await uow.case_links.hold()
    await uow.case_links.link(follower, master)
    outcomes = await uow.outcomes.get(await uow.case_links.root_of(master))
    missed = outcomes.in_order()
    if not missed:
        return
    own = await uow.hotline_cases.get(follower)
    orders = [*([own] if own is not None else []), *await uow.case_links.hotline_followers(follower)]
    for order in orders:
        for outcome in missed:
            await _tell_12345_of(uow, order, outcome, hotline_callback_url)


async def _tell_12345_of(uow: NotificationsUnitOfWork, order: HotlineCase, outcome: Outcome,
                         hotline_callback_url: str) -> None:
    """A master's outcome as the order's own callback: under the order's case (after its earlier callbacks)
    and the master's event (one per event and order, however often it is queued)."""
    cause = Cause(outcome.event_id, outcome.event_type, order.incident_id)
    await _add(uow, Delivery.webhook(cause, order.recipient, hotline_callback_url, order.outcome_body(outcome),
                                     urgent=True, now=uow.clock.now()))


async def on_urged(event: IncidentUrged, envelope: Envelope, uow: NotificationsUnitOfWork,
                   policy: DeliveryPolicy) -> None:
    """催办 (DOMAIN §7: 12345 presses for progress on an order) raises an alert: on the supervisors' live
    stream, by SMS to the case's day-to-day handler (grid worker, else the owning unit's desk), and to the
    subscribers of this event type in the case's area. The event carries no place: the case's is the one
    routing gave its owner."""
    now = uow.clock.now()
    owner = await uow.owners.get(event.incident_id)
    grid_code = owner.grid_code if owner is not None else None
    await uow.alerts.add(_alert(envelope, event.incident_id, grid_code, now))
    notice = urge_notice(event, owner)
    message = await _message(uow, notice)
    cause = _cause(envelope, event.incident_id)
    recipient = await _day_to_day_contact(uow, owner, None, grid_code)
    if recipient is None:
        log.info("urge_without_handler_contact", incident_id=str(event.incident_id))
    else:
        await _add(uow, tell(recipient, cause, message, urgent=notice.urgent, now=now, policy=policy))
    await _tell_subscribers(uow, policy, envelope, event.incident_id, (envelope.type, "centre.urged"), grid_code,
                            notice, message)


async def on_unroutable(event: IncidentUnroutable, envelope: Envelope, uow: NotificationsUnitOfWork,
                        policy: DeliveryPolicy) -> None:
    """A case waits in the command centre's queue (DOMAIN §4): 待派遣, or 二次退单 for the final dispatch (终审).
    An emergency no rule could place is also an emergency report."""
    alert = "centre.second_return" if event.queue == "final_dispatch" else "centre.unroutable"
    also = ("centre.emergency_reported",) if event.urgency == "emergency" and event.queue == "unplaced" else ()
    await _alert_centre(uow, policy, envelope, alert, event.incident_id, event.place_code(), event.category,
                        event.urgency, event.reason, also=also)


async def on_request(event: ExtensionRequested | SuspensionRequested, envelope: Envelope,
                     uow: NotificationsUnitOfWork, policy: DeliveryPolicy) -> None:
    """延期 and 挂起 requests wait for the centre's decision (DOMAIN §5). The event carries no place: the case's
    is the one routing gave its owner."""
    owner = await uow.owners.get(event.incident_id)
    alert = ("centre.extension_requested" if isinstance(event, ExtensionRequested)
             else "centre.suspension_requested")
    await _alert_centre(uow, policy, envelope, alert, event.incident_id, owner.grid_code if owner else None,
                        owner.category if owner else None, owner.urgency if owner else None, event.reason)


async def on_extension_requested(event: ExtensionRequested, envelope: Envelope, uow: NotificationsUnitOfWork,
                                 policy: DeliveryPolicy, hotline_callback_url: str) -> None:
    """A 延期 request: the centre's alert, and for a 12345 order its `extension_requested` callback (12345
    decides it)."""
    await on_case_event(event, envelope, uow, hotline_callback_url)
    await on_request(event, envelope, uow, policy)


async def on_suspension_decided(event: SuspensionDecided, envelope: Envelope, uow: NotificationsUnitOfWork,
                                policy: DeliveryPolicy) -> None:
    """The unit that asked for 挂起 hears the centre's answer (its day-to-day contact: the grid worker, else the
    unit's desk)."""
    owner = await uow.owners.get(event.incident_id)
    recipient = await _day_to_day_contact(uow, owner, None, owner.grid_code if owner else None)
    if recipient is None:
        log.info("suspension_decision_without_contact", incident_id=str(event.incident_id))
        return
    notice = suspension_decided_notice(event, owner)
    await _add(uow, tell(recipient, _cause(envelope, event.incident_id), await _message(uow, notice),
                         urgent=notice.urgent, now=uow.clock.now(), policy=policy))


async def on_restored(event: IncidentRestored, envelope: Envelope, uow: NotificationsUnitOfWork,
                      policy: DeliveryPolicy) -> None:
    """12345 refused our 退单: the unit that had the order is told it is back (a case with no unit waits in the
    centre's queue: routing's `unroutable` tells the centre)."""
    owner = await uow.owners.get(event.incident_id)
    if event.unit_id is None or owner is None:
        return
    recipient = await _day_to_day_contact(uow, owner, event.unit_id, owner.grid_code)
    if recipient is None:
        log.info("restored_without_contact", incident_id=str(event.incident_id))
        return
    notice = restored_notice(event, owner)
    await _add(uow, tell(recipient, _cause(envelope, event.incident_id), await _message(uow, notice),
                         urgent=notice.urgent, now=uow.clock.now(), policy=policy))


async def _alert_centre(uow: NotificationsUnitOfWork, policy: DeliveryPolicy, envelope: Envelope, alert: str,
                        incident_id: uuid.UUID, place: str | None, category: str | None, urgency: str | None,
                        detail: str = "", also: tuple[str, ...] = ()) -> None:
    """A centre alert: on the supervisors' live stream under its name (to those whose area covers the place),
    and to the subscribers of it (or of `also`) in that area."""
    await uow.alerts.add(Alert(envelope.id, alert, incident_id, place, envelope.data, uow.clock.now()))
    notice = centre_notice(alert, incident_id, category, urgency, detail)
    await _tell_subscribers(uow, policy, envelope, incident_id, (alert, *also), place, notice,
                            await _message(uow, notice), alert=alert)


async def _tell_subscribers(uow: NotificationsUnitOfWork, policy: DeliveryPolicy, envelope: Envelope,
                            incident_id: uuid.UUID, types: tuple[str, ...], place: str | None, notice: Notice,
                            message: Message, alert: str | None = None) -> None:
    """Every subscriber in the place's area of any of `types`, once each, on each of its channels."""
    now = uow.clock.now()
    cause = _cause(envelope, incident_id)
    told: set[str] = set()
    for event_type in types:
        for subscription in await uow.subscriptions.for_event(event_type, place):
            if subscription.id in told:
                continue
            told.add(subscription.id)
            for delivery in subscription.deliveries(cause, message, urgent=notice.urgent, now=now, policy=policy,
                                                    webhook_body=webhook_body(subscription.id, envelope, alert)):
                await _add(uow, delivery)


async def _day_to_day_contact(uow: NotificationsUnitOfWork, owner: CaseOwner | None, unit_id: str | None,
                              grid_code: str | None) -> Recipient | None:
    """Who handles the case day to day: its grid worker, else the owning unit's desk (liaison, else head)."""
    if owner is not None and (worker := owner.worker()) is not None:
        return worker
    unit_key = owning_unit_key(owner, unit_id, grid_code)
    return unit_desk(unit_key, await uow.contacts.for_units([unit_key])) if unit_key else None


async def _message(uow: NotificationsUnitOfWork, notice: Notice) -> Message:
    return notice.message(await uow.templates.texts(notice.templates))


async def _stored_text(uow: NotificationsUnitOfWork, template: str) -> str | None:
    """A template's edited text, if it has one (rendering falls back to the default)."""
    return (await uow.templates.texts([template])).get(template)


def _cause(envelope: Envelope, incident_id: uuid.UUID) -> Cause:
    return Cause(envelope.id, envelope.type, incident_id)


def _alert(envelope: Envelope, incident_id: uuid.UUID, grid_code: str | None, now: datetime) -> Alert:
    return Alert(envelope.id, envelope.type, incident_id, grid_code, envelope.data, now)


async def _add(uow: NotificationsUnitOfWork, delivery: Delivery | None) -> None:
    if delivery is not None:
        await uow.deliveries.add(delivery)  # a replayed event adds nothing: one per event, recipient, channel


# ---- the deliverer ------------------------------------------------------------------------------------------

async def deliver_due(cmd: DeliverDue, uow: NotificationsUnitOfWork, channels: Channels,
                      policy: DeliveryPolicy) -> int:
    """Claim due deliveries (SKIP LOCKED), send each with its idempotency key, record the outcome.

    The rows stay locked while sending, so no other deliverer sends them too; a crash after the
    provider accepted but before the commit leaves them pending, and the retry carries the same key.
    Non-urgent SMS to one phone go together as one bundled message, at most one per bundling window; which SMS
    go in it is committed before it is sent (`_form_sends`), so that its retry is the same message.
    Up to `concurrency` sends are under way at once; one receiver's go one after the other, in order.
    """
    if policy.bundling:
        await _form_sends(uow, cmd.batch, policy)
    async with uow:
        due = await uow.deliveries.claim_due(cmd.batch, uow.clock.now(), policy.bundling)
        sends = await _ready(uow, due, uow.clock.now(), policy)
        outgoing = await _outgoing(uow, sends, policy)
        attempts = await _send_all(channels, sends, outgoing, cmd.concurrency)
        outcomes: list[tuple[str, str]] = []
        tried: list[Delivery] = []
        phones_reached: list[str] = []
        for send, attempt in zip(sends, attempts, strict=True):
            if attempt is None:
                continue  # its receiver answered 410 earlier in this batch; the row is dead already
            outcomes += await _record(uow, send, attempt, policy)
            tried += send.deliveries
            if send.reached_phone(attempt):
                phones_reached.append(send.lead.address)
        # The batch's outcomes in one statement, its phones' last SMS in another (not two per send).
        await uow.deliveries.save(tried)
        await uow.sms_recipients.sms_sent(phones_reached, uow.clock.now())
        await uow.commit()
    for channel, outcome in outcomes:  # counted once they are committed
        DELIVERIES.labels(channel, outcome).inc()
    return len(due)


async def _form_sends(uow: NotificationsUnitOfWork, limit: int, policy: DeliveryPolicy) -> None:
    """Non-urgent SMS due become sends, one per phone, taking in the other SMS to it in the bundling window
    (unless the phone's rate limit holds them: postponed). Committed in a transaction of its own, before anything
    is sent: should the provider take a send and we never hear or record it (a crash, a timeout), its retry must
    carry exactly the same SMS under the same key. Chosen afresh, it would carry the ones the phone has already
    under a new key, and the provider would send them again."""
    async with uow:
        now = uow.clock.now()
        due = await uow.deliveries.claim_sms_to_bundle(limit, now)
        if not due:
            return
        claimed = [delivery.id for delivery in due]
        for send in sends_of(due, policy):
            if await _rate_limited(uow, send, now, policy):
                continue
            send.join(await uow.deliveries.claim_sms_siblings(send.lead.address, claimed, policy.bundle_until(now),
                                                              MAX_BUNDLE))
            await uow.deliveries.form_send(send.deliveries, send.lead.id)
        await uow.commit()


async def _ready(uow: NotificationsUnitOfWork, due: list[Delivery], now: datetime, policy: DeliveryPolicy
                 ) -> list[Send]:
    """The claimed deliveries as sends; a formed send (claimed by its lead) goes with all its members, unless its
    phone's rate limit holds it (postponed, still formed)."""
    ready = []
    for delivery in due:
        send = Send([delivery])
        if delivery.send_id is not None:
            send.join(await uow.deliveries.claim_send_members(delivery))
            if await _rate_limited(uow, send, now, policy):
                continue
        ready.append(send)
    return ready


async def _rate_limited(uow: NotificationsUnitOfWork, send: Send, now: datetime, policy: DeliveryPolicy) -> bool:
    """A phone gets one non-urgent SMS per bundling window: a send to it too soon is postponed."""
    wait = policy.rate_limited_until(await uow.sms_recipients.last_sms_at(send.lead.address), now)
    if wait is not None:
        await uow.deliveries.postpone(send.deliveries, wait)
    return wait is not None


async def _outgoing(uow: NotificationsUnitOfWork, sends: list[Send], policy: DeliveryPolicy) -> list[Outgoing]:
    """What each send gives its provider (a bundle's text from the `sms.bundle` template); a subscriber's webhook
    carries that subscriber's signing secret (none when it has none: the channel refuses to send it unsigned)."""
    bundle_template = None
    if any(send.is_bundle for send in sends):
        bundle_template = await _stored_text(uow, "sms.bundle")
    outgoing = [send.outgoing(policy, bundle_template) for send in sends]
    subscribers = {sub_id for out in outgoing if out.channel == "webhook"
                   and (sub_id := subscription_of(out.recipient)) is not None}
    if not subscribers:
        return outgoing
    secrets = await uow.subscriptions.secrets(sorted(subscribers))
    return [dataclasses.replace(out, secret=secrets.get(sub_id))
            if out.channel == "webhook" and (sub_id := subscription_of(out.recipient)) is not None else out
            for out in outgoing]


async def _send_all(channels: Channels, sends: list[Send], outgoing: list[Outgoing], concurrency: int
                    ) -> list[Attempt | None]:
    """Send everything, `concurrency` at a time. A receiver's sends form a lane, sent one after the other
    in order (one person's SMS arrive as they were written), and a 410 from a receiver ends its lane."""
    attempts: list[Attempt | None] = [None] * len(sends)
    lanes: dict[tuple[str, str], list[int]] = {}
    for n, send in enumerate(sends):
        lanes.setdefault(send.lane, []).append(n)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def lane(indexes: list[int]) -> None:
        for n in indexes:
            async with gate:
                attempts[n] = attempt = await _send_one(channels, sends[n], outgoing[n])
            if sends[n].ends_lane(attempt):
                return

    tasks = [asyncio.create_task(lane(indexes)) for indexes in lanes.values()]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # Nothing may still be sending once the transaction rolls back and the rows are free again.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return attempts


async def _send_one(channels: Channels, send: Send, outgoing: Outgoing) -> Attempt:
    """One send to its provider; while tracing is on, in the trace of the event that made its delivery (the
    provider gets it as a `traceparent` header)."""
    channel = channels[send.lead.channel]
    if not tracing.ENABLED:
        return await channel.send(outgoing)
    with tracing.delivery_span(send.lead.channel, [d.traceparent for d in send.deliveries],
                               {"grid.delivery_id": outgoing.id, "grid.recipient": send.lead.recipient,
                                "grid.incident_id": str(send.lead.incident_id or ""),
                                "grid.deliveries": len(send.deliveries)}) as span:
        attempt = await channel.send(outgoing)
        if span is not None:
            span.set_attribute("grid.attempt.succeeded", attempt.succeeded)
            if attempt.status_code is not None:
                span.set_attribute("http.response.status_code", attempt.status_code)
        return attempt


async def _record(uow: NotificationsUnitOfWork, send: Send, attempt: Attempt, policy: DeliveryPolicy
                  ) -> list[tuple[str, str]]:
    """The outcome of one send for each delivery it carried (a bundle's share it), stored by the caller with the
    batch's; a dead SMS falls back to email; a 410 switches a subscription off. Returns (channel, outcome) per
    delivery."""
    now = uow.clock.now()
    outcomes: list[tuple[str, str]] = []
    for delivery, outcome in send.record(attempt, now, policy):
        outcomes.append((delivery.channel, outcome))
        if outcome == "gone":
            await _receiver_gone(uow, delivery.recipient, now)
        uow.collect(delivery)
        if delivery.falls_back_to_email:
            subject = await _stored_text(uow, "email.fallback_subject")
            await uow.deliveries.add(delivery.email_instead(now, subject))
    return outcomes


async def _receiver_gone(uow: NotificationsUnitOfWork, recipient: str, now: datetime) -> None:
    """410 Gone: the receiver asked never to be called again. A subscription's recipient is switched off
    with the webhooks that still waited for it; 12345 and the directory's people only lose this delivery."""
    sub_id = subscription_of(recipient)
    if sub_id is None:
        return
    subscription = await uow.subscriptions.get(sub_id)
    if subscription is not None and subscription.disable(now, GONE_REASON):
        await uow.subscriptions.save_disabled(subscription)
    await uow.deliveries.drop_pending_webhooks(recipient, f"subscription disabled: {GONE_REASON}")
    log.warning("subscription_disabled", subscription=sub_id, reason=GONE_REASON)


# ---- the directory, subscriptions and templates -------------------------------------------------------------

async def put_subscription(cmd: PutSubscription, uow: NotificationsUnitOfWork, channels: Channels) -> str | None:
    """Create or replace a subscription. A webhook URL must be one webhooks may go to (asked again at each send).
    A new subscription gets its own signing secret, returned this once (None when it had one already)."""
    subscription = Subscription(id=cmd.sub_id, name=cmd.name, role=cmd.role, area=cmd.area,
                                event_types=cmd.event_types, channels=cmd.channels, levels=cmd.levels,
                                phone=cmd.phone, email=cmd.email, webhook_url=cmd.webhook_url,
                                quiet_hours=cmd.quiet_hours)
    if not subscription.lies_within(cmd.caller_area):
        raise OutsideArea("a subscription's area must lie inside the caller's")
    if cmd.webhook_url and (refusal := await channels.webhook_urls.refusal(cmd.webhook_url)):
        raise WebhookUrlRefused(refusal)
    async with uow:
        existing = await uow.subscriptions.get(cmd.sub_id)
        if existing is not None and not existing.lies_within(cmd.caller_area):
            # Another area's subscription: as if absent, and its id is not the caller's to take over.
            raise OutsideArea(f"subscription {cmd.sub_id} belongs to another area; choose another id")
        await uow.subscriptions.put(subscription)
        secret = None
        if existing is None or not existing.has_secret:
            secret = new_secret()
            await uow.subscriptions.set_secret(cmd.sub_id, secret, uow.clock.now())
        await uow.commit()
    return secret


async def rotate_subscription_secret(cmd: RotateSubscriptionSecret, uow: NotificationsUnitOfWork) -> str:
    """A new signing secret replaces the old one at once (webhooks still waiting are signed with the new one)."""
    async with uow:
        existing = await uow.subscriptions.get(cmd.sub_id)
        if existing is None:
            raise UnknownSubscription(cmd.sub_id)
        if not existing.lies_within(cmd.caller_area):
            raise OutsideArea(f"subscription {cmd.sub_id} belongs to another area")  # a write elsewhere: 403
        secret = new_secret()
        await uow.subscriptions.set_secret(cmd.sub_id, secret, uow.clock.now())
        await uow.commit()
    return secret


async def delete_subscription(cmd: DeleteSubscription, uow: NotificationsUnitOfWork) -> None:
    async with uow:
        existing = await uow.subscriptions.get(cmd.sub_id)
        if existing is None:
            raise UnknownSubscription(cmd.sub_id)
        if not existing.lies_within(cmd.caller_area):
            raise OutsideArea(f"subscription {cmd.sub_id} belongs to another area")  # a write elsewhere: 403
        await uow.subscriptions.remove(cmd.sub_id)
        await uow.commit()


async def put_contact(cmd: PutContact, uow: NotificationsUnitOfWork) -> None:
    contact = UnitContact(cmd.unit_code, cmd.name, cmd.liaison, cmd.leader, cmd.supervisor)
    if not contact.lies_within(cmd.caller_area):
        raise OutsideArea("the unit lies outside the caller's area")
    async with uow:
        await uow.contacts.put(contact)
        await uow.commit()


async def delete_contact(cmd: DeleteContact, uow: NotificationsUnitOfWork) -> None:
    if not covers(cmd.caller_area, cmd.unit_code):
        raise OutsideArea("the unit lies outside the caller's area")  # a write elsewhere: 403
    async with uow:
        if not await uow.contacts.remove(cmd.unit_code):
            raise UnknownContact(cmd.unit_code)
        await uow.commit()


async def edit_template(cmd: EditTemplate, uow: NotificationsUnitOfWork) -> StoredTemplate:
    if cmd.name not in TEMPLATES:
        raise UnknownTemplate(cmd.name, list(TEMPLATES))
    validate(cmd.name, cmd.body)
    async with uow:
        stored = await uow.templates.put(StoredTemplate(cmd.name, cmd.body, cmd.by))
        await uow.commit()
    return stored


COMMAND_HANDLERS: dict[type[Command[Any]], Callable[..., Awaitable[Any]]] = {
    PutSubscription: put_subscription,
    RotateSubscriptionSecret: rotate_subscription_secret,
    DeleteSubscription: delete_subscription,
    PutContact: put_contact,
    DeleteContact: delete_contact,
    EditTemplate: edit_template,
    DeliverDue: deliver_due,
}

EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentAssigned.type: on_assigned,
    IncidentReassigned.type: on_assigned,
    LightChanged.type: on_light_changed,
    EscalationRaised.type: on_escalation,
    **{event_type: on_case_event for event_type in HOTLINE_CALLBACKS},
    IncidentMerged.type: on_merged,
    IncidentUrged.type: on_urged,
    IncidentUnroutable.type: on_unroutable,
    ExtensionRequested.type: on_extension_requested,  # its 12345 callback (on_case_event) and the centre's alert
    SuspensionRequested.type: on_request,
    SuspensionDecided.type: on_suspension_decided,
    IncidentRestored.type: on_restored,
}

# A run of one type in one consumer batch: one statement per step for the run (the hot path).
BATCH_EVENT_HANDLERS: dict[str, Callable[..., Awaitable[None]]] = {
    IncidentAssigned.type: on_assigned_many,
    IncidentReassigned.type: on_assigned_many,
}
