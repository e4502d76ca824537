"""The contacts directory on a real database: validated, area-scoped, and 督办 reaching the owning unit's
people and those above it, level by level."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.config import NotificationsSettings
from services.notifications.entrypoints.http import create_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.events.routing import IncidentAssigned, Owner
from shared.events.supervision import EscalationRaised, LightChanged
from shared.settings import DEV_JWT_SECRET
from tests.support import SERVICE_DIRS, handle, serving

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
DISTRICT_SUP = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', ['320508'])}"}
GRID = "320508019044007"
COMMUNITY = {"name": "平江社区居委会", "liaison": {"name": "联络员小王", "phone": "13900000012"},
             "leader": {"name": "社区书记", "phone": "13900000112", "email": "shuji@example.test"}}
STREET = {"name": "平江街道", "leader": {"name": "街道主任", "phone": "13900000109"},
          "supervisor": {"name": "分管副主任", "phone": "13900000209"}}
DISTRICT = {"name": "姑苏区", "leader": {"name": "副区长", "phone": "13900000106"},
            "supervisor": {"name": "区综治中心主任", "email": "zhongxin@example.test"}}


@pytest.fixture
async def notifications(fresh_database):
    dsn = await fresh_database("contacts")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    async with serving(create_app(NotificationsSettings(database_url=dsn))) as client:
        yield client


async def apply(client, event) -> None:
    await handle(client.app.state.container.bus, event)


async def community_owned_case(client) -> uuid.UUID:
    incident = uuid.uuid4()
    owner = Owner(unit_id="community-320508019044", unit_name="平江社区居委会", unit_kind="community")
    await apply(client, IncidentAssigned(incident_id=incident, at=datetime.now(UTC), category="safety.fire",
                                         urgency="urgent", grid_code=GRID, owner=owner, reason="rule"))
    return incident


def escalation(incident: uuid.UUID, level: str) -> EscalationRaised:
    now = datetime.now(UTC)
    return EscalationRaised(incident_id=incident, at=now, phase="handle", due_at=now - timedelta(hours=1),
                            due_version=1, category="safety.fire", urgency="urgent", grid_code=GRID,
                            unit_id="community-320508019044", level=level, previous_level="none")


async def recipients(client, incident: uuid.UUID, event_type: str = "supervision.escalation.raised") -> dict:
    rows = (await client.get("/v1/deliveries", params={"incident_id": str(incident)}, headers=ADMIN)).json()
    return {(d["recipient"], d["channel"]): d["address"] for d in rows if d["event_type"] == event_type}


async def test_contacts_are_validated_and_scoped(notifications):
    ok = await notifications.put("/v1/contacts/320508019044", json=COMMUNITY, headers=DISTRICT_SUP)
    assert ok.status_code == 200
    assert (await notifications.put("/v1/contacts/dept-municipal-320508", json=STREET,
                                    headers=ADMIN)).status_code == 200
    for code, body in (("320508019044", {**COMMUNITY, "leader": {"name": "x", "phone": "12345"}}),
                       ("320508019044", {**COMMUNITY, "leader": {"name": "没有电话也没有邮箱"}}),
                       ("320508019044", {"name": "空"}),
                       ("320508019044", {**COMMUNITY, "deputy": {"name": "x", "phone": "13900000000"}}),
                       ("3205080190", COMMUNITY),            # 10 digits: no level has that
                       ("32050801904a", COMMUNITY),
                       ("320508019044", {**COMMUNITY, "leader": {"name": "x", "email": "not-mail"}})):
        response = await notifications.put(f"/v1/contacts/{code}", json=body, headers=ADMIN)
        assert response.status_code == 422, (code, body)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await notifications.put("/v1/contacts/310101", json=DISTRICT, headers=DISTRICT_SUP)).status_code == 403
    assert (await notifications.put("/v1/contacts/dept-x-320508", json=STREET,
                                    headers=DISTRICT_SUP)).status_code == 403
    found = (await notifications.get("/v1/contacts/320508019044", headers=DISTRICT_SUP)).json()
    assert found["liaison"]["phone"] == "13900000012" and found["supervisor"] is None
    listed = (await notifications.get("/v1/contacts", params={"prefix": "3205"}, headers=ADMIN)).json()
    assert [c["unit_code"] for c in listed] == ["320508019044"]
    assert (await notifications.delete("/v1/contacts/320508019044", headers=ADMIN)).status_code == 204
    assert (await notifications.get("/v1/contacts/320508019044", headers=ADMIN)).status_code == 404


async def test_escalation_climbs_the_chain_of_the_owning_unit(notifications):
    for code, body in (("320508019044", COMMUNITY), ("320508019", STREET), ("320508", DISTRICT)):
        assert (await notifications.put(f"/v1/contacts/{code}", json=body, headers=ADMIN)).status_code == 200
    yellow, red, leader = [await community_owned_case(notifications) for _ in range(3)]
    await apply(notifications, escalation(yellow, "yellow_card"))
    await apply(notifications, escalation(red, "red_card"))
    await apply(notifications, escalation(leader, "leader"))
    assert await recipients(notifications, yellow) == {("contact:320508019044:leader", "sms"): "13900000112"}
    # the community has no supervisor of its own: the street's (the unit above) hears of the red card
    assert await recipients(notifications, red) == {("contact:320508019044:leader", "sms"): "13900000112",
                                                    ("contact:320508019:supervisor", "sms"): "13900000209"}
    assert await recipients(notifications, leader) == {("contact:320508019044:leader", "sms"): "13900000112",
                                                       ("contact:320508019:supervisor", "sms"): "13900000209",
                                                       ("contact:320508:leader", "sms"): "13900000106"}


async def test_a_unit_owned_case_sends_its_light_sms_to_the_units_liaison(notifications):
    await notifications.put("/v1/contacts/320508019044", json=COMMUNITY, headers=ADMIN)
    incident = await community_owned_case(notifications)
    now = datetime.now(UTC)
    await apply(notifications, LightChanged(incident_id=incident, at=now, phase="sign", due_at=now, due_version=1,
                                            category="safety.fire", urgency="urgent", grid_code=GRID,
                                            unit_id="community-320508019044", light="yellow",
                                            previous_light="green"))
    assert await recipients(notifications, incident, "supervision.light.changed") == {
        ("contact:320508019044:liaison", "sms"): "13900000012"}


async def test_the_city_is_a_contact_and_hears_of_leader_supervision(notifications):
    """DOMAIN.md §5 领导督办 reaches the `leader` of district or city: the city's contact is keyed by the first
    4 digits of the codes (PUT /v1/contacts/3205), for city-wide callers only; yellow-card and higher 督办
    never wait (they fire at or after the red light)."""
    city = {"name": "苏州市", "leader": {"name": "分管副市长", "phone": "13900000105"}}
    assert (await notifications.put("/v1/contacts/3205", json=city, headers=DISTRICT_SUP)).status_code == 403
    assert (await notifications.put("/v1/contacts/3205", json=city, headers=ADMIN)).status_code == 200
    assert (await notifications.put("/v1/contacts/320", json=city, headers=ADMIN)).status_code == 422
    assert (await notifications.get("/v1/contacts/3205", headers=ADMIN)).json()["leader"]["phone"] == "13900000105"
    for code, body in (("320508019044", COMMUNITY), ("320508", DISTRICT)):
        await notifications.put(f"/v1/contacts/{code}", json=body, headers=ADMIN)
    yellow, leader = [await community_owned_case(notifications) for _ in range(2)]
    await apply(notifications, escalation(yellow, "yellow_card"))
    await apply(notifications, escalation(leader, "leader"))
    assert await recipients(notifications, leader) == {("contact:320508019044:leader", "sms"): "13900000112",
                                                       ("contact:320508:supervisor", "email"): "zhongxin@example.test",
                                                       ("contact:320508:leader", "sms"): "13900000106",
                                                       ("contact:3205:leader", "sms"): "13900000105"}
    rows = (await notifications.get("/v1/deliveries", params={"incident_id": str(yellow)}, headers=ADMIN)).json()
    [card] = [d for d in rows if d["event_type"] == "supervision.escalation.raised"]
    assert card["recipient"] == "contact:320508019044:leader" and card["next_attempt_at"] == card["created_at"]


async def test_an_areas_page_of_contacts_is_never_cut_short_by_other_areas(notifications):
    """The area filter runs before the limit: another district's contacts sorting first do not use up the page."""
    for code in ("310101", "310104", "320508"):
        assert (await notifications.put(f"/v1/contacts/{code}", json=DISTRICT, headers=ADMIN)).status_code == 200
    page = (await notifications.get("/v1/contacts", params={"limit": 1}, headers=DISTRICT_SUP)).json()
    assert [c["unit_code"] for c in page] == ["320508"]
    everything = (await notifications.get("/v1/contacts", params={"limit": 2}, headers=ADMIN)).json()
    assert [c["unit_code"] for c in everything] == ["310101", "310104"]
