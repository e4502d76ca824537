"""Fallback channel on a real database: an SMS that dies goes once by email to a recipient who has one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.domain.delivery import Attempt, DeliveryPolicy, Outgoing
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events.routing import IncidentAssigned, Owner
from shared.events.supervision import EscalationRaised
from tests.integration.notifications_bus import bus, deliver_due, units_of_work
from tests.support import SERVICE_DIRS, FixedClock, handle

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
GRID = "320508019044007"
CONTACTS = {
    "320508019044": ("社区", {"leader": {"name": "社区书记", "phone": "13900000112", "email": "shuji@example.test"}}),
    "320508019": ("街道", {"supervisor": {"name": "分管副主任", "phone": "13900000209"}}),  # no email
}


class Channel:
    def __init__(self, status: int) -> None:
        self.status = status
        self.sent: list[Outgoing] = []

    async def send(self, delivery: Outgoing) -> Attempt:
        self.sent.append(delivery)
        return Attempt(self.status, None if self.status < 300 else f"HTTP {self.status}: gateway down")


@pytest.fixture
async def world(fresh_database):
    dsn = await fresh_database("fallback")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    pool = await create_pool(dsn, 1, 4)
    for code, (name, people) in CONTACTS.items():
        await pool.execute("INSERT INTO contact (unit_code, name, leader, supervisor) VALUES ($1, $2, $3, $4)",
                           code, name, people.get("leader"), people.get("supervisor"))
    clock = FixedClock(NOW)
    yield pool, clock, units_of_work(pool, clock)
    await pool.close()


async def apply(uow, event) -> None:
    await handle(bus(uow, DeliveryPolicy()), event)


async def red_card(uow, note: str = "") -> uuid.UUID:
    incident = uuid.uuid4()
    owner = Owner(unit_id="community-320508019044", unit_name="社区", unit_kind="community")
    await apply(uow, IncidentAssigned(incident_id=incident, at=NOW, category="safety.fire", urgency="urgent",
                                      grid_code=GRID, owner=owner, reason="rule"))
    # the new-case notice to the owner has its own tests (test_deliveries.py): these are about what follows
    async with uow() as u:
        await u.conn.execute("DELETE FROM delivery WHERE event_type = 'routing.incident.assigned'")
        await u.commit()
    await apply(uow, EscalationRaised(incident_id=incident, at=NOW, phase="handle", due_at=NOW, due_version=1,
                                      category="safety.fire", urgency="urgent", grid_code=GRID,
                                      unit_id="community-320508019044", level="red_card", previous_level="yellow_card",
                                      manual=bool(note), note=note))
    return incident


async def test_a_dead_sms_goes_once_by_email_to_whoever_has_one(world):
    pool, clock, uow = world
    await red_card(uow)
    sms, email = Channel(503), Channel(250)
    for _ in range(4):                                   # the gateway fails every try: dead after 3
        await deliver_due(uow, 10, 3, 0.0, sms=sms, email=email)
        clock.advance(seconds=1)
    rows = await pool.fetch("SELECT recipient, channel, status, attempts, subject FROM delivery ORDER BY seq")
    by = {(r["recipient"], r["channel"]): r for r in rows}
    assert (by[("contact:320508019044:leader", "sms")]["status"], by[("contact:320508019044:leader", "sms")]
            ["attempts"]) == ("dead", 3)
    assert by[("contact:320508019:supervisor", "sms")]["status"] == "dead"
    fallback = by[("contact:320508019044:leader", "email")]
    assert fallback["status"] == "sent" and "短信未能送达" in fallback["subject"]
    assert ("contact:320508019:supervisor", "email") not in by      # no email: nothing to fall back to
    [mail] = email.sent
    assert mail.address == "shuji@example.test" and "红牌督办" in mail.body
    assert len(rows) == 3


async def test_an_sms_that_arrives_needs_no_email(world):
    pool, clock, uow = world
    await red_card(uow)
    await deliver_due(uow, 10, 3, 0.0, sms=Channel(201), email=Channel(250))
    assert await pool.fetchval("SELECT count(*) FROM delivery WHERE channel = 'email'") == 0


async def test_a_replayed_dead_sms_does_not_send_a_second_email(world):
    pool, clock, uow = world
    await red_card(uow)
    await deliver_due(uow, 10, 3, 0.0, sms=Channel(400), email=Channel(250))  # 400: dead at once
    await pool.execute("UPDATE delivery SET status = 'pending' WHERE channel = 'sms'")  # as if replayed
    await deliver_due(uow, 10, 3, 0.0, sms=Channel(400), email=Channel(250))
    assert await pool.fetchval("SELECT count(*) FROM delivery WHERE channel = 'email'") == 1


async def test_the_fallback_email_carries_the_whole_text_the_sms_had_to_cut(world):
    pool, clock, uow = world
    note = "请街道牵头，会同消防、物业于本周内彻底清理楼道堆放物，" * 8 + "并报送整改照片。"
    await red_card(uow, note)
    sms, email = Channel(400), Channel(250)  # 400: the SMS is dead at once
    await deliver_due(uow, 10, 3, 0.0, sms=sms, email=email)
    await deliver_due(uow, 10, 3, 0.0, sms=sms, email=email)
    leader_sms = next(d for d in sms.sent if d.address == "13900000112")
    assert leader_sms.body.endswith("…") and "并报送整改照片" not in leader_sms.body  # cut to 3 segments
    [mail] = email.sent
    assert note in mail.body
