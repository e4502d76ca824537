"""The deliverer on a real database: one send per delivery, retries, and 12345 callbacks in order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.adapters.sms import HttpSmsGateway
from services.notifications.domain.delivery import Attempt, Outgoing
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from tests.integration.notifications_bus import add as add_deliveries
from tests.integration.notifications_bus import deliver_due, delivery, units_of_work
from tests.support import SERVICE_DIRS, FixedClock

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


class Provider:
    """A channel that answers with the statuses it is given, then 200; it records every call."""

    def __init__(self, *statuses: int | None) -> None:
        self.statuses = list(statuses)
        self.calls: list[tuple[str, str]] = []

    async def send(self, delivery: Outgoing) -> Attempt:
        self.calls.append((delivery.id, delivery.body))
        status = self.statuses.pop(0) if self.statuses else 200
        return Attempt(status, None if status and status < 300 else f"HTTP {status}")


@pytest.fixture
async def notifications(fresh_database):
    dsn = await fresh_database("notif")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    clock = FixedClock(NOW)
    yield pool, units_of_work(pool, clock), clock
    await pool.close()


async def add(uow_factory, incident_id, channel, body) -> None:
    await add_deliveries(uow_factory, delivery(channel=channel, recipient="r", address="a", body=body, urgent=False,
                                               at=NOW, incident_id=incident_id))


async def test_callbacks_of_one_order_wait_for_the_earlier_one(notifications):
    pool, uow, clock = notifications
    case = uuid.uuid4()
    for body in ("accepted", "signed", "result"):
        await add(uow, case, "webhook", body)
    webhook = Provider(503)  # 12345 is down for the first try
    assert await deliver_due(uow, 10, 5, 0.0, webhook=webhook) == 1
    assert [body for _, body in webhook.calls] == ["accepted"]  # the later ones were not even tried
    clock.advance(seconds=1)  # past the backoff (base 0 s)
    for _ in range(3):
        await deliver_due(uow, 10, 5, 0.0, webhook=webhook)
    assert [body for _, body in webhook.calls] == ["accepted", "accepted", "signed", "result"]
    statuses = [r["status"] for r in await pool.fetch("SELECT status FROM delivery ORDER BY seq")]
    assert statuses == ["sent", "sent", "sent"]


async def test_a_4xx_is_dead_at_once_and_5xx_retries_until_the_cap(notifications):
    pool, uow, clock = notifications
    await add(uow, uuid.uuid4(), "sms", "gone")
    await add(uow, uuid.uuid4(), "sms", "flaky")
    sms = Provider(410, 500, 500)
    for _ in range(4):
        await deliver_due(uow, 10, 3, 0.0, sms=sms)
        clock.advance(seconds=1)
    rows = {r["body"]: r for r in await pool.fetch("SELECT body, status, attempts, last_error FROM delivery")}
    assert (rows["gone"]["status"], rows["gone"]["attempts"]) == ("dead", 1)
    assert (rows["flaky"]["status"], rows["flaky"]["attempts"]) == ("sent", 3)
    events = [r["t"] for r in await pool.fetch("SELECT payload::jsonb->>'type' AS t FROM outbox ORDER BY id")]
    assert sorted(events) == ["notifications.delivery.failed", "notifications.delivery.succeeded"]


async def test_a_new_delivery_wakes_an_idle_deliverer_without_waiting_for_its_poll(fresh_database):
    import asyncio

    from services.notifications.bootstrap import NotificationsContainer, message_bus
    from services.notifications.config import NotificationsSettings
    from services.notifications.domain.delivery import DeliveryPolicy
    from services.notifications.entrypoints.deliverer import run_deliverer
    from shared.clock import RealClock
    from tests.unit.notifications.fakes import channels

    dsn = await fresh_database("wake")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    clock = RealClock()
    sms = Provider()
    given, policy = channels(sms=sms), DeliveryPolicy()
    container = NotificationsContainer(name="notifications", settings=NotificationsSettings(database_url=dsn),
                                       pool=pool, clock=clock, channels=given, policy=policy,
                                       bus=message_bus(units_of_work(pool, clock), channels=given, policy=policy))
    stop = asyncio.Event()
    worker = asyncio.create_task(run_deliverer(container, stop, idle_seconds=600))  # it polls every 10 minutes
    try:
        await asyncio.sleep(0.5)                     # idle now, waiting for its poll or a hint
        await add_deliveries(container.uow, delivery(channel="sms", recipient="r", address="13900000001",
                                                     body="woken", urgent=True, at=clock.now()))
        for _ in range(100):
            if sms.calls:
                break
            await asyncio.sleep(0.1)
        assert [body for _, body in sms.calls] == ["woken"]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
        await pool.close()


async def test_a_hanging_gateway_times_out_the_attempt_and_the_sms_goes_once_when_it_answers(notifications):
    """The provider accepts the connection and never answers: the attempt times out (the error is kept),
    the delivery stays pending with a retry time, and goes once the provider answers again."""
    answered: list[bytes] = []
    hanging = True

    async def provider(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in request.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        body = await reader.readexactly(length)
        if hanging:
            await asyncio.sleep(30)  # never answers within the client's timeout
            return
        answered.append(body)
        writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\ncontent-type: application/json\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(provider, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool, uow, clock = notifications
    gateway = HttpSmsGateway(f"http://127.0.0.1:{port}/sms", timeout_seconds=0.3)
    try:
        await add(uow, uuid.uuid4(), "sms", "黄灯")
        assert await deliver_due(uow, 10, 5, 0.0, sms=gateway) == 1
        row = await pool.fetchrow("SELECT status, attempts, last_error FROM delivery")
        assert (row["status"], row["attempts"]) == ("pending", 1) and "Timeout" in row["last_error"]
        hanging = False
        clock.advance(seconds=1)
        assert await deliver_due(uow, 10, 5, 0.0, sms=gateway) == 1
        assert (await pool.fetchrow("SELECT status, attempts FROM delivery"))["status"] == "sent"
        assert len(answered) == 1 and "黄灯".encode() in answered[0]
    finally:
        await gateway.close()
        server.close()


class SlowProvider:
    """Answers after a pause, keeping count of the sends under way at once and of each receiver's order."""

    def __init__(self, status_of: dict[str, int] | None = None) -> None:
        self.status_of = status_of or {}
        self.in_flight = self.most_in_flight = 0
        self.per_receiver: dict[str, int] = {}
        self.most_per_receiver = 0
        self.calls: list[tuple[str, str]] = []

    async def send(self, delivery: Outgoing) -> Attempt:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.per_receiver[delivery.recipient] = self.per_receiver.get(delivery.recipient, 0) + 1
        self.most_per_receiver = max(self.most_per_receiver, self.per_receiver[delivery.recipient])
        self.calls.append((delivery.recipient, delivery.body))
        await asyncio.sleep(0.02)
        self.per_receiver[delivery.recipient] -= 1
        self.in_flight -= 1
        status = self.status_of.get(delivery.recipient, 200)
        return Attempt(status, None if status < 300 else f"HTTP {status}")


async def add_for(uow_factory, recipient, channel, body) -> None:
    await add_deliveries(uow_factory, delivery(channel=channel, recipient=recipient, address=f"addr-{recipient}",
                                               body=body, urgent=True, at=NOW, incident_id=uuid.uuid4()))


async def test_sends_to_different_people_overlap_and_one_persons_keep_their_order(notifications):
    pool, uow, _ = notifications
    for n in range(3):
        for person in ("p1", "p2", "p3", "p4", "p5"):
            await add_for(uow, person, "sms", f"{person}-{n}")
    sms = SlowProvider()
    assert await deliver_due(uow, 100, 3, 0.0, concurrency=4, sms=sms) == 15
    assert sms.most_in_flight == 4  # the cap, reached
    assert sms.most_per_receiver == 1  # never two at once to one person
    for person in ("p1", "p2", "p3", "p4", "p5"):
        assert [body for who, body in sms.calls if who == person] == [f"{person}-{n}" for n in range(3)]
    assert await pool.fetchval("SELECT count(*) FROM delivery WHERE status = 'sent'") == 15


async def test_a_410_ends_that_receivers_lane_but_not_the_others(notifications):
    pool, uow, _ = notifications
    await pool.execute("INSERT INTO subscription (id, name, webhook_url, role, area, event_types, channels)"
                       " VALUES ('s1', 'board', 'http://gone.example', 'supervisor', '{}', '{}', '{webhook}')")
    for n in range(3):
        await add_for(uow, "subscription:s1", "webhook", f"gone-{n}")
        await add_for(uow, "12345:A1", "webhook", f"hotline-{n}")
    webhook = SlowProvider({"subscription:s1": 410})
    await deliver_due(uow, 100, 3, 0.0, concurrency=8, webhook=webhook)
    assert [body for who, body in webhook.calls if who == "subscription:s1"] == ["gone-0"]
    assert sorted(body for who, body in webhook.calls if who == "12345:A1") == ["hotline-0", "hotline-1",
                                                                                 "hotline-2"]
    statuses = {r["body"]: r["status"] for r in await pool.fetch("SELECT body, status FROM delivery")}
    assert [statuses[f"gone-{n}"] for n in range(3)] == ["dead", "dead", "dead"]
    assert [statuses[f"hotline-{n}"] for n in range(3)] == ["sent", "sent", "sent"]


async def test_a_channel_that_breaks_stops_the_other_sends_and_records_nothing(notifications):
    pool, uow, _ = notifications
    for person in ("p1", "p2", "p3"):
        await add_for(uow, person, "sms", person)

    class Breaking(SlowProvider):
        finished: list[str] = []

        async def send(self, delivery: Outgoing) -> Attempt:
            if delivery.recipient == "p2":
                raise RuntimeError("the adapter has a bug")
            await asyncio.sleep(0.5)
            self.finished.append(delivery.recipient)
            return Attempt(200)

    sms = Breaking()
    with pytest.raises(RuntimeError):
        await deliver_due(uow, 100, 3, 0.0, concurrency=4, sms=sms)
    await asyncio.sleep(0.6)
    assert sms.finished == []  # the others were cancelled, not left sending after the rollback
    assert await pool.fetchval("SELECT count(*) FROM delivery WHERE status = 'pending' AND attempts = 0") == 3
