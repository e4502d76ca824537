"""Policies by 事项性质 over a real database (DOMAIN.md §5 limits per category × urgency × phase, defaults; §7 事项性质,
a proposal): find_policy's specificity order, a nature-specific clock's extension on its own ladder, and the
policies API taking English or Chinese natures."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from services.supervision.adapters.repository import PolicyRepository
from services.supervision.bootstrap import pg_message_bus
from services.supervision.config import SupervisionSettings
from services.supervision.domain.commands import PutPolicies
from services.supervision.domain.errors import NoPolicy
from services.supervision.domain.model import Policy
from services.supervision.entrypoints.http import create_app
from shared.auth import issue_token
from shared.calendar import ZONE, WorkCalendar
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events import intake as ev
from shared.events.envelope import Envelope
from shared.events.routing import IncidentAssigned, Owner
from shared.messaging.consumer import EventProcessor, Incoming
from shared.settings import DEV_JWT_SECRET
from tests.support import SERVICE_DIRS, FixedClock, serving

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=ZONE)  # Monday
CATEGORY = "city.garbage"
ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}


@pytest.fixture
async def database(fresh_database):
    dsn = await fresh_database("supnature")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    return dsn


async def test_find_policy_takes_the_most_specific_one(database):
    """DOMAIN.md §5/§7: exact category and nature, then exact category with '*', then '*' with exact nature,
    then the '*'/'*' default (the migration's seed); removing each in turn falls back to the next."""
    specific = [Policy(CATEGORY, "normal", "handle", 2, "working_days", nature="complaint"),
                Policy(CATEGORY, "normal", "handle", 3, "working_days"),
                Policy("*", "normal", "handle", 4, "working_days", nature="complaint")]
    pool = await create_pool(database, 1, 1)  # its connections know jsonb (the ladder)
    try:
        conn = await pool.acquire()
        policies = PolicyRepository(conn)  # lookups each in a repository of their own, as each unit of work has
        for policy in specific:
            await policies.put(policy)
        for expected in specific:
            found = await PolicyRepository(conn).for_phase(CATEGORY, "normal", "handle", "complaint")
            assert (found.category, found.nature, found.limit_amount) == (
                expected.category, expected.nature, expected.limit_amount)
            await conn.execute("DELETE FROM policy WHERE category = $1 AND urgency = 'normal' AND phase = 'handle'"
                               " AND nature = $2", expected.category, expected.nature)
        seeded = await PolicyRepository(conn).for_phase(CATEGORY, "normal", "handle", "complaint")
        assert (seeded.category, seeded.nature, seeded.limit_amount) == ("*", "*", 5)

        for policy in specific:
            await policies.put(policy)
        # Not a 12345 order: any-nature only.
        no_nature = await PolicyRepository(conn).for_phase(CATEGORY, "normal", "handle")
        assert (no_nature.category, no_nature.nature) == (CATEGORY, "*")
        other_nature = await PolicyRepository(conn).for_phase("city.ads", "normal", "handle", "consultation")
        assert (other_nature.category, other_nature.nature) == ("*", "*")
        # Keyed with the nature: putting the complaint one again replaces it, the others stay.
        await policies.put(Policy("*", "normal", "handle", 6, "working_days", nature="complaint"))
        assert (await PolicyRepository(conn).for_phase("city.ads", "normal", "handle", "complaint")).limit_amount == 6
        assert await conn.fetchval("SELECT count(*) FROM policy WHERE urgency = 'normal' AND phase = 'handle'") == 4
        await conn.execute("DELETE FROM policy WHERE urgency = 'normal' AND phase = 'handle' AND nature = '*'")
        with pytest.raises(NoPolicy):
            await PolicyRepository(conn).for_phase("city.ads", "normal", "handle", "consultation")
        await pool.release(conn)
    finally:
        await pool.close()


async def feed(processor, event, offset=[0]) -> str:  # noqa: B006 - a running offset for the fake records
    offset[0] += 1
    env = Envelope.wrap(event, source="/" + event.type.split(".")[0], time=event.at)
    return await processor.process(Incoming("t", 0, offset[0], env.subject, env.model_dump_json()))


async def test_an_extension_on_a_complaint_clock_uses_the_complaint_ladder(database):
    """DOMAIN.md §5 (延期: approved days added to the handle due; the 督办 ladder counted from the new due) with
    §7's 事项性质: a 投诉 signed Mon 11-23 on its 3 wd is due Thu 11-26; 12345's 2 wd move it to Mon 11-30, its
    red card 2 wd and its leader 3 wd after by the complaint policy's ladder (the default's are 1 and 5)."""
    pool = await create_pool(database, 1, 4)
    try:
        bus = pg_message_bus(pool, FixedClock(T0), WorkCalendar())
        complaint = Policy("*", "normal", "handle", 3, "working_days", nature="complaint",
                           ladder={"red_card": (2, "working_days"), "leader": (3, "working_days")})
        assert await bus.handle(PutPolicies((complaint,))) == 1
        processor = EventProcessor("supervision", bus.event_handlers, bus.uow, pool, max_attempts=1)
        case = uuid.uuid4()
        for event in (ev.IncidentReceived(incident_id=case, at=T0, source="hotline", category=CATEGORY,
                                          urgency="normal", title="垃圾", reported_at=T0, hotline_order_no="GD-1",
                                          nature="complaint"),
                      IncidentAssigned(incident_id=case, at=T0, category=CATEGORY, urgency="normal",
                                       grid_code="320508019044001", reason="located",
                                       owner=Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid")),
                      ev.IncidentSigned(incident_id=case, at=T0, actor="w1"),
                      ev.ExtensionDecided(incident_id=case, at=T0, actor="12345", approved=True, amount=2,
                                          unit="working_days")):
            assert await feed(processor, event) == "applied"
        assert await pool.fetchval("SELECT nature FROM supervised_case WHERE incident_id = $1", case) == "complaint"
        rows = await pool.fetch("SELECT phase, nature, limit_amount, due_version, due_at, red_card_at, leader_at"
                                " FROM phase_clock WHERE incident_id = $1 ORDER BY id", case)
        assert [(r["phase"], r["nature"], r["limit_amount"]) for r in rows] == [("sign", "complaint", 1),
                                                                               ("handle", "complaint", 3)]
        handle = rows[-1]
        assert handle["due_version"] == 2
        assert (handle["due_at"], handle["red_card_at"], handle["leader_at"]) == (
            datetime(2026, 11, 30, 17, 30, tzinfo=ZONE), datetime(2026, 12, 2, 17, 30, tzinfo=ZONE),
            datetime(2026, 12, 3, 17, 30, tzinfo=ZONE))
    finally:
        await pool.close()


async def test_the_policies_api_takes_english_or_chinese_natures(database):
    """DOMAIN.md §7: 12345's Chinese 事项性质 are kept in English; an unknown one is a 422 problem; the list shows
    each policy's nature ('*' = any)."""
    app = create_app(SupervisionSettings(database_url=database))
    async with serving(app) as client:
        base = {"category": "*", "urgency": "normal", "phase": "handle", "limit_amount": 1,
                "limit_unit": "working_days"}
        put = await client.put("/v1/policies", json=[{**base, "nature": "咨询"},
                                                     {**base, "nature": "complaint", "limit_amount": 3}],
                               headers=ADMIN)
        assert put.status_code == 200 and put.json() == {"updated": 2}
        listed = [(p["category"], p["nature"], p["limit_amount"])
                  for p in (await client.get("/v1/policies", headers=ADMIN)).json()
                  if (p["urgency"], p["phase"]) == ("normal", "handle")]
        assert listed == [("*", "*", 5), ("*", "complaint", 3), ("*", "consultation", 1)]

        refused = await client.put("/v1/policies", json=[{**base, "nature": "闲聊"}], headers=ADMIN)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        [error] = refused.json()["errors"]
        assert error["field"] == "0.nature" and "unknown nature '闲聊'" in error["message"]


async def test_a_unit_of_work_looks_each_policy_up_once_and_sees_its_own_edit(database):
    """PolicyRepository's memo: within one unit of work a lookup is made once (an edit committed meanwhile
    elsewhere is for the next one); an edit made in the same unit of work is what it finds next."""
    pool = await create_pool(database, 2, 2)
    try:
        async with pool.acquire() as conn, pool.acquire() as other:
            policies = PolicyRepository(conn)
            before = await policies.for_phase(CATEGORY, "urgent", "sign")
            await other.execute("UPDATE policy SET limit_amount = limit_amount + 7 WHERE urgency = 'urgent'"
                                " AND phase = 'sign'")
            assert await policies.for_phase(CATEGORY, "urgent", "sign") == before
            assert (await PolicyRepository(conn).for_phase(CATEGORY, "urgent", "sign")).limit_amount == \
                before.limit_amount + 7
            await policies.put(Policy(CATEGORY, "urgent", "sign", 1, "hours"))
            assert (await policies.for_phase(CATEGORY, "urgent", "sign")).limit_amount == 1
    finally:
        await pool.close()
