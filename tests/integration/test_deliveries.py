"""The deliverer on a real database: one send per delivery, retries, and 12345 callbacks in order."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.adapters.sms import HttpSmsGateway
from services.notifications.domain.delivery import Attempt, Outgoing
from services.notifications.service_layer.handlers import deliver_due
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from shared.clock import FixedClock
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from tests.support import SERVICE_DIRS

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
    yield pool, lambda: NotificationsUnitOfWork(pool, clock, "http://12345.example/cb"), clock
    await pool.close()


async def add(uow_factory, incident_id, channel, body) -> None:
    async with uow_factory() as uow:
        await uow.notifications.add_delivery(event_id=uuid.uuid4(), event_type="t", incident_id=incident_id,
                                             channel=channel, recipient="r", address="a", body=body,
                                             urgent=False, at=NOW)
        await uow.commit()


async def test_callbacks_of_one_order_wait_for_the_earlier_one(notifications):
    pool, uow, clock = notifications
    case = uuid.uuid4()
    for body in ("accepted", "signed", "result"):
        await add(uow, case, "webhook", body)
    webhook = Provider(503)  # 12345 is down for the first try
    channels = {"webhook": webhook, "sms": Provider()}
    assert await deliver_due(uow(), channels, 10, 5, 0.0) == 1
    assert [body for _, body in webhook.calls] == ["accepted"]  # the later ones were not even tried
    clock.advance(seconds=1)  # past the backoff (base 0 s)
    for _ in range(3):
        await deliver_due(uow(), channels, 10, 5, 0.0)
    assert [body for _, body in webhook.calls] == ["accepted", "accepted", "signed", "result"]
    statuses = [r["status"] for r in await pool.fetch("SELECT status FROM delivery ORDER BY seq")]
    assert statuses == ["sent", "sent", "sent"]


async def test_a_4xx_is_dead_at_once_and_5xx_retries_until_the_cap(notifications):
    pool, uow, clock = notifications
    await add(uow, uuid.uuid4(), "sms", "gone")
    await add(uow, uuid.uuid4(), "sms", "flaky")
    sms = Provider(410, 500, 500)
    for _ in range(4):
        await deliver_due(uow(), {"sms": sms}, 10, 3, 0.0)
        clock.advance(seconds=1)
    rows = {r["body"]: r for r in await pool.fetch("SELECT body, status, attempts, last_error FROM delivery")}
    assert (rows["gone"]["status"], rows["gone"]["attempts"]) == ("dead", 1)
    assert (rows["flaky"]["status"], rows["flaky"]["attempts"]) == ("sent", 3)
    events = [r["t"] for r in await pool.fetch("SELECT payload::jsonb->>'type' AS t FROM outbox ORDER BY id")]
    assert sorted(events) == ["notifications.delivery.failed", "notifications.delivery.succeeded"]


async def test_a_new_delivery_wakes_an_idle_deliverer_without_waiting_for_its_poll(fresh_database):
    import asyncio

    from services.notifications.config import NotificationsSettings
    from services.notifications.entrypoints.deliverer import run_deliverer
    from shared.clock import RealClock
    from shared.runtime import ServiceContainer

    dsn = await fresh_database("wake")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    clock = RealClock()
    sms = Provider()
    container = ServiceContainer(name="notifications", settings=NotificationsSettings(database_url=dsn), pool=pool,
                                 clock=clock, uow=lambda: NotificationsUnitOfWork(pool, clock),
                                 extras={"channels": {"sms": sms}})
    stop = asyncio.Event()
    worker = asyncio.create_task(run_deliverer(container, stop, idle_seconds=600))  # it polls every 10 minutes
    try:
        await asyncio.sleep(0.5)                     # idle now, waiting for its poll or a hint
        async with NotificationsUnitOfWork(pool, clock) as uow:
            await uow.notifications.add_delivery(event_id=uuid.uuid4(), event_type="t", incident_id=None,
                                                 channel="sms", recipient="r", address="13900000001",
                                                 body="woken", urgent=True, at=clock.now())
            await uow.commit()
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
        assert await deliver_due(uow(), {"sms": gateway}, 10, 5, 0.0) == 1
        row = await pool.fetchrow("SELECT status, attempts, last_error FROM delivery")
        assert (row["status"], row["attempts"]) == ("pending", 1) and "Timeout" in row["last_error"]
        hanging = False
        clock.advance(seconds=1)
        assert await deliver_due(uow(), {"sms": gateway}, 10, 5, 0.0) == 1
        assert (await pool.fetchrow("SELECT status, attempts FROM delivery"))["status"] == "sent"
        assert len(answered) == 1 and "黄灯".encode() in answered[0]
    finally:
        await gateway.close()
        server.close()
