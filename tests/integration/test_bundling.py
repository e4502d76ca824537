"""Per-recipient rate limit and bundling on a real database, on a fixed clock (no sleeps)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.commands import DeliverDue
from services.notifications.domain.delivery import Attempt, DeliveryPolicy, Outgoing, bundle_key
from services.notifications.domain.templates import sms_segments
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.routing import IncidentAssigned, Owner
from shared.events.supervision import LightChanged
from tests.integration.notifications_bus import add, bus, delivery, units_of_work
from tests.support import SERVICE_DIRS, FixedClock, handle

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
PHONE = "13900000001"
GRID = "320508019044001"
POLICY = DeliveryPolicy(max_segments=4, bundle_seconds=60, max_attempts=5, backoff_base=1.0)


class Gateway:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.sent: list[Outgoing] = []

    async def send(self, delivery: Outgoing) -> Attempt:
        self.sent.append(delivery)
        status = self.statuses.pop(0) if self.statuses else 201
        return Attempt(status, None if status < 300 else f"HTTP {status}")


@pytest.fixture
async def world(fresh_database):
    dsn = await fresh_database("bundling")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    clock = FixedClock(NOW)
    yield pool, clock, units_of_work(pool, clock)
    await pool.close()


async def apply(uow, event) -> None:
    await handle(bus(uow, POLICY), event)


async def deliver_due(uow, gateway, batch: int) -> int:
    return await bus(uow, POLICY, sms=gateway).handle(DeliverDue(batch=batch))


async def light(uow, clock, incident: uuid.UUID, colour: str = "yellow", urgency: str = "normal") -> None:
    await apply(uow, LightChanged(incident_id=incident, at=clock.now(), phase="sign", due_at=clock.now(),
                                  due_version=1, category="city.ads", urgency=urgency, grid_code=GRID,
                                  unit_id="grid-1", light=colour, previous_light="green"))


async def new_case(uow, clock) -> uuid.UUID:
    incident = uuid.uuid4()
    owner = Owner(unit_id="grid-1", unit_name="网格1", unit_kind="grid", worker_id="w1", worker_name="张伟",
                  worker_phone=PHONE)
    await apply(uow, IncidentAssigned(incident_id=incident, at=clock.now(), category="city.ads", urgency="normal",
                                      grid_code=GRID, owner=owner, reason="rule"))
    # the new-case notice to the owner has its own tests (test_deliveries.py): these are about what follows
    async with uow() as u:
        await u.conn.execute("DELETE FROM delivery WHERE event_type = 'routing.incident.assigned'")
        await u.commit()
    return incident


async def lit_cases(uow, clock, count: int) -> list[uuid.UUID]:
    """`count` new cases, each given a yellow light now (non-urgent: their SMS wait to go together)."""
    cases = [await new_case(uow, clock) for _ in range(count)]
    for case in cases:
        await light(uow, clock, case)
    return cases


async def drain(uow, gateway) -> None:
    while await deliver_due(uow, gateway, 3):  # small batches: siblings are claimed too
        pass


async def test_ten_reminders_within_a_minute_become_one_message_listing_them(world):
    pool, clock, uow = world
    cases = [await new_case(uow, clock) for _ in range(10)]
    for case in cases:
        await light(uow, clock, case)
        clock.advance(seconds=5)              # ten yellow lights over 50 seconds
    gateway = Gateway()
    await drain(uow, gateway)
    assert gateway.sent == []                 # the first one is still gathering its burst
    clock.advance(seconds=10)                 # 60 s after the first
    await drain(uow, gateway)
    [message] = gateway.sent
    assert message.body.startswith("【网格督办】您有10条提醒：1.案件")
    for case in cases:
        assert f"案件{str(case)[:8]}签收黄灯" in message.body
    assert len(sms_segments(message.body)) <= 4
    rows = await pool.fetch("SELECT id, status, bundle_id FROM delivery ORDER BY seq")
    assert [r["status"] for r in rows] == ["sent"] * 10
    assert {r["bundle_id"] for r in rows} == {rows[0]["id"]} and message.id == bundle_key(r["id"] for r in rows)


async def test_a_phone_gets_one_non_urgent_sms_per_window_and_urgent_ones_at_once(world):
    pool, clock, uow = world
    first, second, third = [await new_case(uow, clock) for _ in range(3)]
    gateway = Gateway()
    await light(uow, clock, first)
    clock.advance(seconds=60)
    await drain(uow, gateway)
    assert len(gateway.sent) == 1 and "您有" not in gateway.sent[0].body   # one alone: sent as it is
    clock.advance(seconds=1)
    # a non-urgent SMS that was not held (e.g. a quiet-hours release)
    await add(uow, delivery(channel="sms", recipient="worker:w1", address=PHONE, body="【网格督办】提醒", urgent=False,
                            at=clock.now(), incident_id=second, summary="提醒"))
    await drain(uow, gateway)
    assert len(gateway.sent) == 1              # rate-limited: waits for the window after the last SMS
    held = await pool.fetchval("SELECT next_attempt_at FROM delivery WHERE incident_id = $1", second)
    assert held == NOW + timedelta(seconds=120)
    await light(uow, clock, third, colour="red")   # a red light is urgent: no hold, no rate limit
    await drain(uow, gateway)
    assert len(gateway.sent) == 2 and "红灯" in gateway.sent[1].body
    clock.advance(seconds=59)
    await drain(uow, gateway)
    assert len(gateway.sent) == 2              # the red SMS at +61 s counts: the reminder waits till +121 s
    clock.advance(seconds=1)
    await drain(uow, gateway)
    assert len(gateway.sent) == 3 and gateway.sent[2].body == "【网格督办】提醒"


async def test_a_bundle_that_fails_is_retried_together_under_the_same_key(world):
    pool, clock, uow = world
    await lit_cases(uow, clock, 3)
    clock.advance(seconds=60)
    gateway = Gateway(503)
    await drain(uow, gateway)
    retry_times = {r["next_attempt_at"] for r in await pool.fetch("SELECT next_attempt_at FROM delivery")}
    assert len(retry_times) == 1               # one retry time for the whole bundle
    clock.advance(seconds=5)
    await drain(uow, gateway)
    assert [m.id for m in gateway.sent] == [gateway.sent[0].id] * 2
    assert gateway.sent[0].body == gateway.sent[1].body and "您有3条提醒" in gateway.sent[1].body
    assert [r["status"] for r in await pool.fetch("SELECT status FROM delivery")] == ["sent"] * 3


class DedupingGateway(Gateway):
    """A provider that, like a real one, sends a key once; `crash_after_send` makes our side die after its
    answer and before our commit (the window the idempotency key exists for)."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: dict[str, str] = {}
        self.crash_after_send = False

    async def send(self, delivery: Outgoing) -> Attempt:
        self.delivered.setdefault(delivery.id, delivery.body)
        if self.crash_after_send:
            self.crash_after_send = False
            raise ConnectionResetError("the deliverer died before recording the answer")
        return Attempt(201, None)


async def test_a_crash_after_the_provider_took_a_bundle_loses_no_newcomer_and_repeats_nothing(world):
    pool, clock, uow = world
    await lit_cases(uow, clock, 2)
    clock.advance(seconds=60)
    gateway = DedupingGateway()
    gateway.crash_after_send = True
    with pytest.raises(ConnectionResetError):
        await deliver_due(uow, gateway, 10)  # the provider has it; we recorded nothing
    assert [r["status"] for r in await pool.fetch("SELECT status FROM delivery")] == ["pending"] * 2

    late = await new_case(uow, clock)  # a newcomer arrives before the retry: it waits for the next message
    await light(uow, clock, late)
    clock.advance(seconds=60)
    await drain(uow, gateway)
    assert len(gateway.delivered) == 1  # the retry: the same bundle under the same key, nothing new
    clock.advance(seconds=60)  # the phone's next window
    await drain(uow, gateway)
    assert len(gateway.delivered) == 2  # a new message: the newcomer is not swallowed as a duplicate
    assert str(late)[:8] in list(gateway.delivered.values())[-1]
    assert [r["status"] for r in await pool.fetch("SELECT status FROM delivery")] == ["sent"] * 3

    await lit_cases(uow, clock, 2)
    clock.advance(seconds=120)
    gateway.crash_after_send = True
    with pytest.raises(ConnectionResetError):
        await deliver_due(uow, gateway, 10)
    await drain(uow, gateway)  # the same bundle again: the same key, the provider sends nothing new
    assert len(gateway.delivered) == 3


class TimingOutGateway(DedupingGateway):
    """A provider that takes the message while our side sees no answer (a timeout: tried again later)."""

    async def send(self, delivery: Outgoing) -> Attempt:
        self.sent.append(delivery)
        self.delivered.setdefault(delivery.id, delivery.body)
        if self.crash_after_send:
            self.crash_after_send = False
            return Attempt(None, "timeout")
        return Attempt(201, None)


def messages_with(gateway: DedupingGateway, case: uuid.UUID) -> int:
    """How many messages the provider sent to the phone that tell of this case (once is right)."""
    return sum(f"案件{str(case)[:8]}" in body for body in gateway.delivered.values())


async def test_a_bundle_taken_before_a_crash_goes_again_as_it_was_and_a_newcomer_waits_for_the_next(world):
    pool, clock, uow = world
    first, second = await lit_cases(uow, clock, 2)
    clock.advance(seconds=60)
    gateway = DedupingGateway()
    gateway.crash_after_send = True
    with pytest.raises(ConnectionResetError):
        await deliver_due(uow, gateway, 10)  # the provider has sent both; we recorded nothing
    [taken] = gateway.delivered

    late = await new_case(uow, clock)  # a newcomer becomes due before the retry
    await light(uow, clock, late)
    clock.advance(seconds=60)
    await drain(uow, gateway)
    clock.advance(seconds=60)  # the phone's next window
    await drain(uow, gateway)

    assert [messages_with(gateway, case) for case in (first, second, late)] == [1, 1, 1]
    assert list(gateway.delivered)[0] == taken  # the retry went under the key the provider had
    assert [r["status"] for r in await pool.fetch("SELECT status FROM delivery")] == ["sent"] * 3


async def test_a_lone_sms_whose_answer_timed_out_goes_again_alone_under_its_key(world):
    pool, clock, uow = world
    [first] = await lit_cases(uow, clock, 1)
    clock.advance(seconds=60)
    gateway = TimingOutGateway()
    gateway.crash_after_send = True
    await deliver_due(uow, gateway, 10)  # taken, but we saw no answer: pending for a retry
    [taken] = gateway.delivered

    late = await new_case(uow, clock)
    await light(uow, clock, late)
    clock.advance(seconds=60)  # the retry and the newcomer are both due
    await drain(uow, gateway)
    clock.advance(seconds=60)
    await drain(uow, gateway)

    assert [messages_with(gateway, case) for case in (first, late)] == [1, 1]
    assert [m.id for m in gateway.sent[:2]] == [taken, taken]
    assert [r["status"] for r in await pool.fetch("SELECT status FROM delivery")] == ["sent"] * 2
