"""Templates on a real database: seeded with the defaults, edited over HTTP with validation, and used
for the next message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.config import NotificationsSettings
from services.notifications.domain.templates import TEMPLATES, sms_segments
from services.notifications.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.events.routing import IncidentAssigned, Owner
from shared.events.supervision import EscalationRaised, LightChanged
from shared.settings import DEV_JWT_SECRET
from tests.support import SERVICE_DIRS, handle, serving

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin-1', 'admin', [''])}"}
SUPERVISOR = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', [''])}"}
GRID = "320508019044007"


@pytest.fixture
async def notifications(fresh_database):
    dsn = await fresh_database("templates")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    async with serving(create_app(NotificationsSettings(database_url=dsn, sms_max_segments=2))) as client:
        yield client


async def apply(client, event) -> None:
    await handle(client.app.state.container.bus, event)


async def case_with_worker(client) -> uuid.UUID:
    incident = uuid.uuid4()
    owner = Owner(unit_id="grid-1", unit_name="网格1", unit_kind="grid", worker_id="w1", worker_name="张伟",
                  worker_phone="13900000001")
    await apply(client, IncidentAssigned(incident_id=incident, at=datetime.now(UTC), category="city.ads",
                                         urgency="normal", grid_code=GRID, owner=owner, reason="rule"))
    # the new-case notice to the owner has its own tests (test_deliveries.py): these are about what follows
    await client.app.state.container.pool.execute(
        "DELETE FROM delivery WHERE event_type = 'routing.incident.assigned'")
    return incident


async def sms_bodies(client, incident: uuid.UUID) -> list[str]:
    rows = (await client.get("/v1/deliveries", params={"incident_id": str(incident)}, headers=ADMIN)).json()
    return [d["body"] for d in rows if d["channel"] == "sms"]


async def test_the_database_is_seeded_with_the_defaults(notifications):
    listed = (await notifications.get("/v1/templates", headers=SUPERVISOR)).json()
    assert {t["name"]: t["body"] for t in listed} == {name: spec.default for name, spec in TEMPLATES.items()}
    assert all(t["updated_by"] is None for t in listed)   # rows from the migration, not the code fallback
    pool = notifications.app.state.container.pool
    assert await pool.fetchval("SELECT count(*) FROM template") == len(TEMPLATES)


async def test_edits_are_validated(notifications):
    url = "/v1/templates/sms.light_yellow"
    for body in ({"body": "【网格督办】请{owner}处理案件{case}"}, {"body": "【网格督办】{case"},
                 {"body": "案件{case}"}, {"body": ""}, {"text": "x"}):
        response = await notifications.put(url, json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    unknown = await notifications.put(url, json={"body": "【网格督办】{owner}"}, headers=ADMIN)
    assert "{owner}" in unknown.json()["detail"]
    # the one shape of `errors` in every service (it used to be {"loc", "msg"} here)
    assert unknown.json()["errors"] == [{"field": "body", "message": unknown.json()["detail"], "type": "template"}]
    missing = await notifications.put(url, json={"text": "x"}, headers=ADMIN)
    assert {e["field"] for e in missing.json()["errors"]} == {"body", "text"}
    assert (await notifications.put("/v1/templates/sms.nope", json={"body": "【x】"}, headers=ADMIN)).status_code == 404
    assert (await notifications.get("/v1/templates/sms.nope", headers=ADMIN)).status_code == 404
    assert (await notifications.put(url, json={"body": "【网格督办】{case}"}, headers=SUPERVISOR)).status_code == 403
    assert (await notifications.get(url, headers=ADMIN)).json()["body"] == TEMPLATES["sms.light_yellow"].default


async def test_the_next_message_uses_the_edited_text_cut_to_the_segment_limit(notifications):
    edited = "【网格督办】{phase}{light}提醒：案件{case}请于{due}前处理。"
    response = await notifications.put("/v1/templates/sms.light_yellow", json={"body": edited}, headers=ADMIN)
    assert response.status_code == 200 and response.json()["updated_by"] == "admin-1"
    incident = await case_with_worker(notifications)
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    await apply(notifications, LightChanged(incident_id=incident, at=now, phase="sign", due_at=now, due_version=1,
                                            category="city.ads", urgency="normal", grid_code=GRID, unit_id="grid-1",
                                            light="yellow", previous_light="green"))
    expected = f"【网格督办】签收黄灯提醒：案件{str(incident)[:8]}请于11月24日17:30前处理。"
    assert await sms_bodies(notifications, incident) == [expected]
    # a long 批示 is cut to the configured 2 parts (134 UCS-2 characters), the same way every time
    await notifications.put("/v1/contacts/320508019044007", headers=ADMIN,
                            json={"name": "网格", "leader": {"name": "网格长", "phone": "13900000015"}})
    await apply(notifications, EscalationRaised(incident_id=incident, at=now, phase="sign", due_at=now,
                                                 due_version=1, category="city.ads", urgency="normal",
                                                 grid_code=GRID, unit_id="grid-1", level="yellow_card",
                                                 previous_level="reminder", note="请立即整改" * 40))
    escalation = [b for b in await sms_bodies(notifications, incident) if "黄牌督办" in b]
    assert len(escalation) == 1 and len(sms_segments(escalation[0])) == 2 and escalation[0].endswith("…")


async def test_a_unit_of_work_reads_each_text_once_and_sees_its_own_edit(notifications):
    """A consumer's batch reads each template once (TemplateRepository's memo); an edit in the same unit of work
    is what it reads next, and the next unit of work reads afresh what another committed."""
    from services.notifications.domain.templates import StoredTemplate

    container = notifications.app.state.container
    pool, uow = container.pool, container.bus.uow()
    async with uow:
        first = await uow.templates.texts(["sms.assigned", "no.such.template"])
        assert set(first) == {"sms.assigned"}
        async with pool.acquire() as other:  # an edit committed elsewhere meanwhile: not seen in this batch
            await other.execute("UPDATE template SET body = '别处改的' WHERE name = 'sms.assigned'")
        assert await uow.templates.texts(["sms.assigned"]) == first
        await uow.templates.put(StoredTemplate("sms.assigned", "本批改的{case_no}", "admin-1"))
        assert await uow.templates.texts(["sms.assigned"]) == {"sms.assigned": "本批改的{case_no}"}
        await uow.rollback()
    async with uow:
        assert await uow.templates.texts(["sms.assigned"]) == {"sms.assigned": "别处改的"}
