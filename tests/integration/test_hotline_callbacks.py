"""12345 callbacks on a real database: which case events 12345 hears of, and in what order."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.delivery import Attempt, Outgoing
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.envelope import Envelope
from shared.events.intake import (
    IncidentClosed,
    IncidentMerged,
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


async def drain(uow) -> list[dict]:
    hotline = Recorder()
    while await deliver_due(uow, 1, 3, 0.0, webhook=hotline):
        pass  # one at a time: the order is the deliverer's, not the test's
    return hotline.bodies


def story(bodies: list[dict], order_no: str) -> list[tuple[str, str | None]]:
    return [(b["callback"], b["detail"].get("master_incident_id")) for b in bodies if b["order_no"] == order_no]


async def test_merged_and_duplicate_orders_get_their_masters_result_and_closing_in_order(uow):
    """DOMAIN.md §4/§7, DESIGN §6: a linked duplicate order hears the master's result when it is submitted;
    an order merged after the master closed catches up (result, then closed); an order merged into a case
    merged itself follows the chain; each callback once per order, after the order's own `accepted`."""
    master, duplicate, late, middle, chained = (uuid.uuid4() for _ in range(5))
    await feed(uow,
               received(master, "GD-M"),
               received(duplicate, "GD-D").model_copy(update={"duplicate_of": master}),
               received(late, "GD-L"),
               received(chained, "GD-C"),
               IncidentMerged(incident_id=chained, at=NOW, into=middle),
               IncidentResultSubmitted(incident_id=master, at=NOW + timedelta(hours=1), result="已清理"))
    first = await drain(uow)
    assert story(first, "GD-D") == [("accepted", None), ("result", str(master))]
    await feed(uow,
               IncidentClosed(incident_id=master, at=NOW + timedelta(hours=2)),
               IncidentMerged(incident_id=duplicate, at=NOW + timedelta(hours=2), into=master),
               IncidentMerged(incident_id=late, at=NOW + timedelta(hours=3), into=master),
               IncidentMerged(incident_id=middle, at=NOW + timedelta(hours=3), into=master))
    bodies = first + await drain(uow)
    everything = [("accepted", None), ("result", str(master)), ("closed", str(master))]
    assert story(bodies, "GD-M") == [("accepted", None), ("result", None), ("closed", None)]
    assert story(bodies, "GD-D") == story(bodies, "GD-L") == story(bodies, "GD-C") == everything
    [result] = [b for b in bodies if b["order_no"] == "GD-L" and b["callback"] == "result"]
    assert (result["incident_id"], result["detail"]["result"]) == (str(late), "已清理")


async def test_a_merge_and_its_masters_closing_at_the_same_time_never_lose_the_closing(uow):
    """The master's closing and an order's merge come on different partitions, so two consumers may apply
    them at once: the case's outcome row and the one-link-at-a-time lock make one wait for the other, so the
    order hears `closed` whichever commits first (and once)."""
    cases = [(uuid.uuid4(), uuid.uuid4(), f"GD-R{n}") for n in range(8)]
    for master, order, order_no in cases:
        await feed(uow, received(order, order_no),
                   IncidentResultSubmitted(incident_id=master, at=NOW, result="已处置"))
    notifications = bus(uow)
    for master, order, _ in cases:
        await asyncio.gather(handle(notifications, IncidentClosed(incident_id=master, at=NOW)),
                             handle(notifications, IncidentMerged(incident_id=order, at=NOW, into=master)))
    bodies = await drain(uow)
    for master, _, order_no in cases:
        assert story(bodies, order_no) == [("accepted", None), ("result", str(master)), ("closed", str(master))]


async def test_the_stores_links_say_what_the_fakes_say(uow):
    """`root_of_case` and `hotline_followers` walk the links in SQL (recursive queries); the unit tests' fakes
    walk them in Python: both agree, a cycle (a case merged into one merged into it) included."""
    from services.notifications.domain.cases import HotlineCase
    from tests.unit.notifications.fakes import FakeCaseLinks, FakeHotlineCases

    a, b, c, d, e, x, y = (uuid.uuid4() for _ in range(7))
    links = [(b, a), (c, b), (d, b), (e, d), (x, y), (y, x)]
    orders = [HotlineCase(c, "GD-c"), HotlineCase(e, "GD-e"), HotlineCase(a, "GD-a"), HotlineCase(x, "GD-x")]
    fake_cases = FakeHotlineCases()
    fake = FakeCaseLinks(fake_cases)
    async with uow() as unit:
        for order in orders:
            await unit.hotline_cases.add(order)
            await fake_cases.add(order)
        for follower, master in links:
            await unit.case_links.link(follower, master)
            await fake.link(follower, master)
        await unit.commit()
    async with uow() as unit:
        for case in (a, b, c, d, e, x, y, uuid.uuid4()):
            assert await unit.case_links.root_of(case) == await fake.root_of(case)
            assert await unit.case_links.hotline_followers(case) == await fake.hotline_followers(case)
    async with uow() as unit:
        assert await unit.case_links.root_of(e) == a
        assert [o.order_no for o in await unit.case_links.hotline_followers(a)] == sorted(
            ["GD-c", "GD-e"], key=lambda n: str({"GD-c": c, "GD-e": e}[n]))
