"""12345 callbacks on a real database: which case events 12345 hears of, and in what order."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.delivery import Attempt, Outgoing
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.events.intake import (
    IncidentReceived,
    IncidentRejected,
    IncidentResultSubmitted,
    IncidentReturned,
    IncidentSigned,
)
from shared.events.routing import IncidentReassigned, Owner
from tests.integration.notifications_bus import bus, deliver_due, units_of_work
from tests.support import SERVICE_DIRS, FixedClock, handle

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[dict] = []

    async def send(self, delivery: Outgoing) -> Attempt:
        self.bodies.append(json.loads(delivery.body))
        return Attempt(200)


@pytest.fixture
async def uow(fresh_database):
    dsn = await fresh_database("hotline_cb")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    yield units_of_work(pool, FixedClock(NOW))
    await pool.close()


async def feed(uow, *events) -> None:
    notifications = bus(uow)
    for event in events:
        if event.type not in notifications.event_handlers:
            continue  # as the consumer does: notifications has nothing to do with this event
        await handle(notifications, event, Envelope.wrap(event, source="/x", time=event.at))


def received(case: uuid.UUID, order_no: str | None) -> IncidentReceived:
    return IncidentReceived(incident_id=case, at=NOW, source="hotline", category="dispute.neighbour",
                            urgency="normal", title="邻居装修噪声", reported_at=NOW, hotline_order_no=order_no)


async def test_the_centres_ruling_not_ours_reaches_12345_as_returned_after_the_earlier_callbacks(uow):
    case = uuid.uuid4()
    t = [NOW + timedelta(minutes=i) for i in range(6)]
    owner = Owner(unit_id="street-320508019", unit_name="街道", unit_kind="street")
    await feed(uow,
               received(case, "GD-0007"),
               IncidentSigned(incident_id=case, at=t[1], unit_id="grid-1"),
               IncidentReturned(incident_id=case, at=t[2], reason="非本单位职责", unit_id="grid-1", return_count=1),
               IncidentReassigned(incident_id=case, at=t[3], category="dispute.neighbour", urgency="normal",
                                  owner=owner, reason="退单改派"),
               IncidentReturned(incident_id=case, at=t[4], reason="非本辖区", unit_id="street-320508019",
                                return_count=2),
               IncidentRejected(incident_id=case, at=t[5], reason="不属于本区事权，退回12345"))
    hotline = Recorder()
    while await deliver_due(uow, 1, 3, 0.0, webhook=hotline):
        pass  # one at a time: the order is the deliverer's, not the test's
    assert [b["callback"] for b in hotline.bodies] == ["accepted", "signed", "returned"]
    returned = hotline.bodies[-1]
    assert returned["order_no"] == "GD-0007"
    assert returned["detail"]["reason"] == "不属于本区事权，退回12345"


async def test_a_case_that_is_not_a_12345_order_gets_no_callback(uow):
    case = uuid.uuid4()
    await feed(uow, received(case, None), IncidentRejected(incident_id=case, at=NOW, reason="恶意举报"),
               IncidentResultSubmitted(incident_id=case, at=NOW, result="x"))
    hotline = Recorder()
    assert await deliver_due(uow, 10, 3, 0.0, webhook=hotline) == 0
