"""Notifications' use cases: learn owners, turn alerts into deliveries, deliver them once."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from services.notifications.domain.contacts import (
    Person,
    Recipient,
    contact_keys_for,
    escalation_recipients,
    owner_unit_key,
    unit_desk,
)
from services.notifications.domain.delivery import (
    Attempt,
    Outgoing,
    backoff_seconds,
    bundle_items,
    bundle_key,
    hold_seconds,
    judge,
    quiet_until,
    rate_limited_until,
)
from services.notifications.domain.templates import (
    assignment_summary,
    assignment_values,
    escalation_summary,
    escalation_values,
    fit_sms,
    light_summary,
    light_values,
    render,
)
from shared.events.envelope import Envelope
from shared.events.intake import (
    ExtensionRequested,
    IncidentClosed,
    IncidentEvent,
    IncidentReceived,
    IncidentRejected,
    IncidentResultSubmitted,
    IncidentSigned,
)
from shared.events.notifications import DeliveryFailed, DeliverySucceeded
from shared.events.routing import IncidentAssigned, IncidentReassigned
from shared.events.supervision import EscalationRaised, LightChanged
from shared.messaging.consumer import EventHandler

log = structlog.get_logger("notifications")
MAX_BUNDLE = 50  # SMS folded into one message at most; more wait for the next window


async def on_assigned(event: IncidentAssigned | IncidentReassigned, envelope: Envelope, uow: Any) -> None:
    """Owners are told of their new case without a subscription (DESIGN §6): the grid worker, or the
    owning unit's desk from the contacts directory. Urgent and emergency cases go at once; normal ones
    may wait one bundling window (five new cases in a minute are one SMS)."""
    await uow.notifications.set_owner(event.incident_id, event.owner, event.place_code(), event.category,
                                      event.urgency)
    owner = event.owner
    recipient = await _handler(uow, event.incident_id, owner.unit_id, event.place_code())
    if recipient is None:
        log.info("assignment_without_handler_contact", incident_id=str(event.incident_id))
        return
    message = await _message(uow, "sms.assigned", "email.assigned_subject",
                             assignment_values(event.incident_id, event.category, event.urgency, owner.unit_name),
                             assignment_summary(event.incident_id))
    await _tell(uow, envelope, event.incident_id, recipient, message, event.urgency != "normal", uow.clock.now())


async def _handler(uow: Any, incident_id: Any, unit_id: str | None, grid_code: str | None) -> Recipient | None:
    """Who handles the case day to day: its grid worker, else the owning unit's desk (liaison, else head)."""
    owner = await uow.notifications.owner(incident_id)
    if owner is not None and owner["worker_phone"]:
        return Recipient(f"worker:{owner['worker_id']}", Person(owner["worker_name"] or "", owner["worker_phone"]))
    unit_key = _owner_key(owner, unit_id, grid_code)
    return unit_desk(unit_key, await uow.notifications.contacts([unit_key])) if unit_key else None


@dataclass(frozen=True)
class Message:
    """One notice in its forms: the text (SMS, cut to the segment limit; email body, whole) and a subject."""

    text: str
    subject: str
    summary: str  # its line in a bundled SMS


async def _message(uow: Any, text_template: str, subject_template: str, values: dict[str, str],
                   summary: str) -> Message:
    stored = await uow.notifications.templates([text_template, subject_template])
    return Message(render(text_template, stored.get(text_template), values),
                   render(subject_template, stored.get(subject_template), values), summary)


async def on_light_changed(event: LightChanged, envelope: Envelope, uow: Any) -> None:
    """Every light change goes on the supervisors' live stream; a yellow or red one by SMS to the case's
    handler: the grid worker, or the unit's desk (liaison, else head) from the contacts directory when a
    unit owns it. A light turning green again (an extension) is good news the handler already has."""
    now = uow.clock.now()
    await uow.notifications.add_alert(event_id=envelope.id, event_type=envelope.type,
                                      incident_id=event.incident_id, grid_code=event.grid_code,
                                      payload=envelope.data, at=now)
    if event.light == "green":
        return
    message = await _message(uow, f"sms.light_{event.light}", "email.light_subject",
                             light_values(event.incident_id, event.category, event.phase, event.light,
                                          event.due_at),
                             light_summary(event.incident_id, event.phase, event.light))
    urgent = event.light == "red" or event.urgency == "emergency"
    handler = await _handler(uow, event.incident_id, event.unit_id, event.grid_code)
    if handler is None:
        log.info("light_change_without_handler_contact", incident_id=str(event.incident_id))
        return
    await _tell(uow, envelope, event.incident_id, handler, message, urgent, now)


def _owner_key(owner: dict[str, Any] | None, unit_id: str | None, grid_code: str | None) -> str | None:
    if owner is not None:
        return owner_unit_key(owner["unit_kind"], owner["unit_id"], owner["grid_code"] or grid_code)
    return owner_unit_key(None, unit_id, grid_code)


async def _tell(uow: Any, envelope: Envelope, incident_id: Any, recipient: Recipient, message: Message,
                urgent: bool, now: Any) -> None:
    """A directory contact hears by SMS when they have a phone (by email if the SMS cannot be delivered and
    they have one), else by email."""
    person = recipient.person
    if person.phone:
        await _sms(uow, envelope, incident_id, recipient.key, person.phone, message, urgent, now,
                   fallback_email=person.email)
    elif person.email:
        await _email(uow, envelope, incident_id, recipient.key, person.email, message, urgent, now)


async def _sms(uow: Any, envelope: Envelope, incident_id: Any, recipient: str, phone: str, message: Message,
               urgent: bool, now: datetime, quiet_release: datetime | None = None,
               fallback_email: str | None = None) -> None:
    if quiet_release is None and not urgent and uow.sms_quiet_hours:
        quiet_release = quiet_until(now, *uow.sms_quiet_hours)  # the stack's night, unless the caller set one
    body = fit_sms(message.text, uow.sms_max_segments)
    await uow.notifications.add_delivery(
        event_id=envelope.id, event_type=envelope.type, incident_id=incident_id, channel="sms",
        recipient=recipient, address=phone, body=body, urgent=urgent,
        at=now, hold_seconds=hold_seconds(now, urgent, quiet_release, uow.sms_bundle_seconds),
        summary=message.summary, fallback_email=fallback_email,
        full_text=message.text if body != message.text else None)


async def _email(uow: Any, envelope: Envelope, incident_id: Any, recipient: str, email: str, message: Message,
                 urgent: bool, now: Any) -> None:
    await uow.notifications.add_delivery(
        event_id=envelope.id, event_type=envelope.type, incident_id=incident_id, channel="email",
        recipient=recipient, address=email, body=message.text, subject=message.subject, urgent=urgent, at=now)


async def on_escalation(event: EscalationRaised, envelope: Envelope, uow: Any) -> None:
    """督办 goes on the live stream; to the owning unit's people and those above it by the level (contacts
    directory); and by SMS, email or webhook to every subscriber of its area and level."""
    now = uow.clock.now()
    await uow.notifications.add_alert(event_id=envelope.id, event_type=envelope.type,
                                      incident_id=event.incident_id, grid_code=event.grid_code,
                                      payload=envelope.data, at=now)
    message = await _message(uow, "sms.escalation", "email.escalation_subject",
                             escalation_values(event.incident_id, event.category, event.phase, event.level,
                                               event.due_at, event.note),
                             escalation_summary(event.incident_id, event.phase, event.level))
    urgent = event.level in ("red_card", "leader") or event.urgency == "emergency"
    unit_key = _owner_key(await uow.notifications.owner(event.incident_id), event.unit_id, event.grid_code)
    contacts = await uow.notifications.contacts(contact_keys_for(unit_key, event.grid_code))
    for contact in escalation_recipients(event.level, unit_key, event.grid_code, contacts):
        await _tell(uow, envelope, event.incident_id, contact, message, urgent, now)
    for subscriber in await uow.notifications.subscribers_for(envelope.type, event.grid_code):
        if subscriber["levels"] and event.level not in subscriber["levels"]:
            continue
        recipient = f"subscription:{subscriber['id']}"
        if "sms" in subscriber["channels"] and subscriber["phone"]:
            quiet = subscriber["quiet_hours"]
            # Quiet hours hold an SMS until morning, except emergencies and red-light 督办 (DESIGN.md §6).
            # Their own quiet hours replace the stack's night (`now`: outside them, nothing to wait for).
            release = None if urgent or not quiet else quiet_until(now, quiet["from"], quiet["to"]) or now
            # A subscriber who takes email anyway gets it anyway; one who does not, gets it when SMS fails.
            fallback = subscriber["email"] if "email" not in subscriber["channels"] else None
            await _sms(uow, envelope, event.incident_id, recipient, subscriber["phone"], message, urgent, now,
                       release, fallback)
        if "email" in subscriber["channels"] and subscriber["email"]:
            await _email(uow, envelope, event.incident_id, recipient, subscriber["email"], message, urgent, now)
        if "webhook" in subscriber["channels"] and subscriber["webhook_url"]:
            await uow.notifications.add_delivery(
                event_id=envelope.id, event_type=envelope.type, incident_id=event.incident_id, channel="webhook",
                recipient=recipient, address=subscriber["webhook_url"],
                body=subscriber_webhook_body(envelope, subscriber["id"]), urgent=urgent, at=now)


def subscriber_webhook_body(envelope: Envelope, sub_id: str) -> str:
    """What a subscriber's receiver gets: the event as it was on the bus, plus which subscription matched."""
    return json.dumps({"subscription": sub_id, "event_id": str(envelope.id), "type": envelope.type,
                       "subject": envelope.subject, "time": envelope.time.isoformat(), "data": envelope.data},
                      ensure_ascii=False, default=str)


# Which lifecycle events 12345 hears about, and by which callback name (DOMAIN.md §7). 退单 to 12345
# (`returned`) is the centre ruling the order is not ours at all (不予立案, intake's `rejected`); an
# owner's 退单 inside the platform (intake's `returned`) is reassigned here and 12345 is not told.
HOTLINE_CALLBACKS = {
    IncidentReceived.type: "accepted",
    IncidentSigned.type: "signed",
    IncidentRejected.type: "returned",
    ExtensionRequested.type: "extension_requested",
    IncidentResultSubmitted.type: "result",
    IncidentClosed.type: "closed",
}


async def on_case_event(event: IncidentEvent, envelope: Envelope, uow: Any) -> None:
    """A 12345 order's case moved: queue its callback; the deliverer sends them in order."""
    repo = uow.notifications
    if isinstance(event, IncidentReceived):
        if event.hotline_order_no is None:
            return
        await repo.remember_hotline_case(event.incident_id, event.hotline_order_no)
    case = await repo.hotline_case(event.incident_id)
    if case is None:
        return  # not a 12345 order
    callback = HOTLINE_CALLBACKS[envelope.type]
    if callback == "signed":
        if case["signed_sent"]:
            return  # 签收 is reported once, not again after a reassignment or 重办
        await repo.mark_signed_sent(event.incident_id)
    detail = {k: v for k, v in envelope.data.items() if k not in ("incident_id", "at", "actor")}
    body = json.dumps({"order_no": case["order_no"], "callback": callback, "incident_id": str(event.incident_id),
                       "at": event.at.isoformat(), "detail": detail}, ensure_ascii=False)
    await repo.add_delivery(event_id=envelope.id, event_type=envelope.type, incident_id=event.incident_id,
                            channel="webhook", recipient=f"12345:{case['order_no']}",
                            address=uow.hotline_callback_url, body=body, urgent=True, at=uow.clock.now())


async def deliver_due(uow: Any, channels: dict[str, Any], batch: int, max_attempts: int,
                      backoff_base: float, concurrency: int = 1) -> int:
    """Claim due deliveries (SKIP LOCKED), send each with its idempotency key, record the outcome.

    The rows stay locked while sending, so no other deliverer sends them too; a crash after the
    provider accepted but before the commit leaves them pending, and the retry carries the same key.
    Non-urgent SMS to one phone go together as one bundled message, at most one per bundling window.
    Up to `concurrency` sends are under way at once; one receiver's go one after the other, in order.
    """
    async with uow:
        due = await uow.notifications.claim_due(batch, uow.clock.now())
        sends = await _sends(uow, due, uow.clock.now())
        outgoing = [await _outgoing(uow, rows) for rows in sends]
        attempts = await _send_all(channels, sends, outgoing, concurrency)
        for rows, attempt in zip(sends, attempts, strict=True):
            if attempt is None:
                continue  # its receiver answered 410 earlier in this batch; the row is dead already
            await _record(uow, rows, attempt, max_attempts, backoff_base)
        await uow.commit()
    return len(due)


async def _send_all(channels: dict[str, Any], sends: list[list[dict[str, Any]]], outgoing: list[Outgoing],
                    concurrency: int) -> list[Attempt | None]:
    """Send everything, `concurrency` at a time. A receiver's sends form a lane, sent one after the other
    in order (one person's SMS arrive as they were written), and a 410 from a receiver ends its lane."""
    attempts: list[Attempt | None] = [None] * len(sends)
    lanes: dict[tuple[str, str], list[int]] = {}
    for n, rows in enumerate(sends):
        lanes.setdefault((rows[0]["channel"], rows[0]["recipient"]), []).append(n)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def lane(indexes: list[int]) -> None:
        for n in indexes:
            async with gate:
                attempts[n] = attempt = await channels[sends[n][0]["channel"]].send(outgoing[n])
            if sends[n][0]["channel"] == "webhook" and judge(attempt, 1, 1) == "gone":
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


async def _record(uow: Any, rows: list[dict[str, Any]], attempt: Attempt, max_attempts: int,
                  backoff_base: float) -> None:
    """The outcome of one send for each row it carried (a bundle's rows share it)."""
    lead = rows[0]
    now = uow.clock.now()
    bundle_id = lead["id"] if len(rows) > 1 else None
    # One retry time for the whole bundle: it stays together, under the same idempotency key.
    retry_at = now + timedelta(seconds=backoff_seconds(lead["attempts"] + 1, backoff_base))
    for row in rows:
        attempts = row["attempts"] + 1
        outcome = judge(attempt, attempts, max_attempts)
        common = {"delivery_id": row["id"], "incident_id": row["incident_id"],
                  "cause_event_id": row["event_id"], "channel": row["channel"],
                  "recipient": row["recipient"], "attempts": attempts, "at": now}
        if outcome == "sent":
            await uow.notifications.mark(row["id"], "sent", attempts, None, now, now, bundle_id)
            uow.emit(DeliverySucceeded(**common))
        elif outcome in ("dead", "gone"):
            error = attempt.error or "unknown"
            if outcome == "gone":
                error = f"gone: {error}"
                await _receiver_gone(uow, row["recipient"], now)
            await uow.notifications.mark(row["id"], "dead", attempts, error, None, now, bundle_id)
            uow.emit(DeliveryFailed(**common, error=error))
            if row["channel"] == "sms" and row["fallback_email"]:
                await _fall_back_to_email(uow, row, now)
        else:
            await uow.notifications.mark(row["id"], "pending", attempts, attempt.error, None, retry_at,
                                         bundle_id)
    if lead["channel"] == "sms" and judge(attempt, 1, max_attempts) == "sent":
        await uow.notifications.sms_sent(lead["address"], now)


async def _fall_back_to_email(uow: Any, row: dict[str, Any], now: datetime) -> None:
    """The SMS is dead: its whole text (not cut to the SMS limit) goes by email, once (one delivery per event,
    recipient and channel, so a replay or a second dead SMS of the same event adds nothing)."""
    stored = await uow.notifications.templates(["email.fallback_subject"])
    subject = render("email.fallback_subject", stored.get("email.fallback_subject"),
                     {"summary": row["summary"] or row["body"][:30]})
    await uow.notifications.add_delivery(
        event_id=row["event_id"], event_type=row["event_type"], incident_id=row["incident_id"], channel="email",
        recipient=row["recipient"], address=row["fallback_email"], body=row["full_text"] or row["body"],
        subject=subject, urgent=row["urgent"], at=now)


def _bundles(row: dict[str, Any], window: float) -> bool:
    return row["channel"] == "sms" and not row["urgent"] and window > 0


async def _sends(uow: Any, due: list[dict[str, Any]], now: datetime) -> list[list[dict[str, Any]]]:
    """The claimed rows as sends: one row each, except non-urgent SMS to one phone, which go together
    with the others in the bundling window, once the phone's rate limit allows (else they wait for it)."""
    window = uow.sms_bundle_seconds
    sends: list[list[dict[str, Any]]] = []
    by_phone: dict[str, list[dict[str, Any]]] = {}
    for row in due:
        if not _bundles(row, window):
            sends.append([row])
        elif row["address"] in by_phone:
            by_phone[row["address"]].append(row)
        else:
            by_phone[row["address"]] = [row]
            sends.append(by_phone[row["address"]])
    claimed = [row["id"] for row in due]
    ready = []
    for rows in sends:
        lead = rows[0]
        if _bundles(lead, window):
            phone = lead["address"]
            wait = rate_limited_until(await uow.notifications.last_sms_at(phone), now, window)
            if wait is not None:
                await uow.notifications.postpone([r["id"] for r in rows], wait)
                continue
            rows.extend(await uow.notifications.claim_sms_siblings(phone, claimed, now + timedelta(seconds=window),
                                                                  MAX_BUNDLE))
            rows.sort(key=lambda r: r["seq"])  # the oldest leads: a retry carries the same key
        ready.append(rows)
    return ready


async def _outgoing(uow: Any, rows: list[dict[str, Any]]) -> Outgoing:
    lead = rows[0]
    if len(rows) == 1:
        return Outgoing(str(lead["id"]), lead["channel"], lead["recipient"], lead["address"], lead["body"],
                        lead["subject"])
    stored = await uow.notifications.templates(["sms.bundle"])
    items = bundle_items([r["summary"] or r["body"] for r in rows])
    text = fit_sms(render("sms.bundle", stored.get("sms.bundle"), {"count": str(len(rows)), "items": items}),
                   uow.sms_max_segments)
    return Outgoing(bundle_key(r["id"] for r in rows), "sms", lead["recipient"], lead["address"], text)


async def _receiver_gone(uow: Any, recipient: str, now: Any) -> None:
    """410 Gone: the receiver asked never to be called again. A subscription's webhook is switched off
    with what still waited for it; 12345 and SMS gateways answering 410 only lose this delivery."""
    kind, _, sub_id = recipient.partition(":")
    if kind != "subscription":
        return
    reason = "the webhook receiver answered 410 Gone"
    await uow.notifications.disable_subscription(sub_id, now, reason)
    await uow.notifications.drop_pending_webhooks(recipient, f"subscription disabled: {reason}")
    log.warning("subscription_disabled", subscription=sub_id, reason=reason)


EVENT_HANDLERS: dict[str, EventHandler] = {
    IncidentAssigned.type: on_assigned,
    IncidentReassigned.type: on_assigned,
    LightChanged.type: on_light_changed,
    EscalationRaised.type: on_escalation,
    **{event_type: on_case_event for event_type in HOTLINE_CALLBACKS},
}
