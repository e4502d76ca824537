"""Supervision's HTTP API in-process on a real database: policies, calendar, boards, manual 督办."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.supervision.config import SupervisionSettings
from services.supervision.entrypoints.http import create_app
from shared.auth import issue_token
from shared.calendar import ZONE, WorkCalendar
from shared.db.migrate import migrate
from shared.events import intake as ev
from shared.events.routing import IncidentAssigned, Owner
from shared.settings import DEV_JWT_SECRET
from tests.support import SERVICE_DIRS, handle, serving

ADMIN = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'admin', 'admin', [''])}"}
SUPERVISOR = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', ['320508'])}"}
WORKER = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'w1', 'gridworker', ['320508'])}"}
FAR = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup2', 'supervisor', ['310101'])}"}
T0 = datetime.now(UTC)  # the app runs on the real clock: a case started now is green


@pytest.fixture
async def supervision(fresh_database):
    dsn = await fresh_database("supapi")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    app = create_app(SupervisionSettings(database_url=dsn))
    async with serving(app) as client:
        yield client


async def start_case(client, grid="320508019044001", urgency="urgent", category="city.ads",
                     unit="grid-1") -> uuid.UUID:
    container = client.app.state.container
    case = uuid.uuid4()
    for event in (ev.IncidentReceived(incident_id=case, at=T0, source="gridworker", category=category,
                                      urgency=urgency, title="x", reported_at=T0),
                  IncidentAssigned(incident_id=case, at=T0, category=category, urgency=urgency, grid_code=grid,
                                   owner=Owner(unit_id=unit, unit_name="一网格", unit_kind="grid"),
                                   reason="located")):
        await handle(container.bus, event)
    return case


async def test_policies_are_validated_and_stored(supervision):
    good = {"category": "city.ads", "urgency": "urgent", "phase": "sign", "limit_amount": 1, "limit_unit": "hours",
            "ladder": {"red_card": {"amount": 30, "unit": "hours"}, "leader": {"amount": 60, "unit": "hours"}}}
    assert (await supervision.put("/v1/policies", json=[good], headers=ADMIN)).status_code == 200
    stored = [p for p in (await supervision.get("/v1/policies", headers=ADMIN)).json() if p["category"] == "city.ads"]
    assert stored[0]["limit_amount"] == 1 and stored[0]["ladder"]["leader"] == [60.0, "hours"]
    for bad in ({**good, "yellow_ratio": 1.2}, {**good, "limit_amount": -1}, {**good, "category": "no.such"},
                {**good, "ladder": {"red_card": {"amount": 5, "unit": "hours"},
                                    "leader": {"amount": 2, "unit": "hours"}}},
                {**good, "limit_unit": "working_days", "limit_amount": 1.5}):
        response = await supervision.put("/v1/policies", json=[bad], headers=ADMIN)
        assert response.status_code == 422, bad
    assert (await supervision.put("/v1/policies", json=[good], headers=SUPERVISOR)).status_code == 403
    # All or none: the second cannot work, so the first (a new limit) is not stored either.
    climbs_down = {**good, "phase": "handle", "ladder": {"red_card": {"amount": 5, "unit": "hours"},
                                                         "leader": {"amount": 2, "unit": "hours"}}}
    refused = await supervision.put("/v1/policies", json=[{**good, "limit_amount": 3}, climbs_down], headers=ADMIN)
    reason = "the ladder climbs: red_card after due, leader after red_card"
    assert refused.status_code == 422 and refused.json() == {
        "type": "about:blank", "title": "Unprocessable Content", "status": 422, "detail": f"policy 1: {reason}",
        "errors": [{"field": "body.1", "message": reason, "type": "policy"}]}
    stored = [p for p in (await supervision.get("/v1/policies", headers=ADMIN)).json() if p["category"] == "city.ads"]
    assert [(p["phase"], p["limit_amount"]) for p in stored] == [("sign", 1)]


async def test_calendar_lists_a_year_and_takes_overrides(supervision):
    year = (await supervision.get("/v1/calendar/2026")).json()
    days = {d["date"]: d for d in year["days"]}
    assert year["provisional"] is False and days["2026-02-14"]["workday"] is True
    assert days["2026-10-01"]["holiday"] == "National Day"
    assert (await supervision.get("/v1/calendar/2027")).json()["provisional"] is True
    put = await supervision.put("/v1/calendar/2027-01-01", json={"workday": False, "note": "元旦"}, headers=ADMIN)
    assert put.status_code == 200
    after = {d["date"]: d for d in (await supervision.get("/v1/calendar/2027")).json()["days"]}
    assert after["2027-01-01"] == {"date": "2027-01-01", "workday": False, "provisional": False, "holiday": "元旦"}
    assert (await supervision.put("/v1/calendar/2027-13-01", json={"workday": True}, headers=ADMIN)).status_code == 422


async def test_board_filters_by_light_and_area_and_manual_escalation_only_raises(supervision):
    case = await start_case(supervision)
    await start_case(supervision, grid="310101001001001")
    board = (await supervision.get("/v1/clocks", params={"light": "green"}, headers=SUPERVISOR)).json()
    assert [c["incident_id"] for c in board] == [str(case)]
    assert (await supervision.get("/v1/clocks", params={"light": "red"}, headers=ADMIN)).json() == []
    raised = await supervision.post(f"/v1/clocks/{case}/escalate", json={"level": "red_card", "note": "限期整改"},
                                    headers=SUPERVISOR)
    assert raised.status_code == 200 and raised.json()["level"] == "red_card"
    lower = await supervision.post(f"/v1/clocks/{case}/escalate", json={"level": "reminder"}, headers=SUPERVISOR)
    assert lower.status_code == 409 and lower.json() == {
        "type": "about:blank", "title": "Conflict", "status": 409,
        "detail": "督办 is already at red_card; levels are raised, never lowered", "current_level": "red_card"}
    far = await supervision.post(f"/v1/clocks/{case}/escalate", json={"level": "leader"}, headers=FAR)
    assert far.status_code == 403 and far.json()["detail"] == "the case lies outside the caller's area"
    assert (await supervision.post(f"/v1/clocks/{case}/escalate", json={"level": "leader"},
                                   headers=ADMIN)).status_code == 403


async def test_a_real_clock_cannot_be_advanced_whoever_asks(supervision):
    response = await supervision.post("/v1/clock/advance", json={"seconds": 60}, headers=ADMIN)
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "the clock is real; advancing needs CLOCK_MODE=virtual"
    refused = await supervision.post("/v1/clock/advance", json={"seconds": 60}, headers=WORKER)
    assert refused.status_code == 403, refused.text   # the role is checked before anything else


async def test_the_virtual_clock_advances_for_admins_and_is_stored(fresh_database):
    dsn = await fresh_database("supclock")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    async with serving(create_app(SupervisionSettings(database_url=dsn, clock_mode="virtual"))) as client:
        before = datetime.fromisoformat((await client.get("/v1/clock")).json()["now"])
        refused = await client.post("/v1/clock/advance", json={"seconds": 3600}, headers=WORKER)
        assert refused.status_code == 403, refused.text
        response = await client.post("/v1/clock/advance", json={"seconds": 3600}, headers=ADMIN)
        assert response.status_code == 200 and response.json()["mode"] == "virtual"
        assert datetime.fromisoformat(response.json()["now"]) - before >= timedelta(hours=1)
        stored = await client.app.state.container.clock_store.load()  # where the ticker and followers read it
        assert stored is not None and stored.virtual - before >= timedelta(hours=1)


async def test_a_year_imported_ends_provisional_and_recounts_running_clocks(supervision):
    case = await start_case(supervision, urgency="normal")  # a sign clock: 1 working day
    container = supervision.app.state.container
    clock_before = (await supervision.get(f"/v1/clocks/{case}", headers=ADMIN)).json()
    due_before = datetime.fromisoformat(clock_before["due_at"])
    due_day = due_before.astimezone(ZONE).date()

    # The due day becomes a holiday: the sign clock is due a working day later, in the same request.
    response = await supervision.put(f"/v1/calendar/{due_day}", json={"workday": False, "note": "临时"},
                                     headers=ADMIN)
    assert response.status_code == 200 and response.json()["clocks_recounted"] == 1
    moved = (await supervision.get(f"/v1/clocks/{case}", headers=ADMIN)).json()
    calendar = container.calendar
    assert calendar.is_workday(due_day) is False
    now = container.clock.now()
    expected = calendar.add_working_seconds(now, WorkCalendar().working_seconds_between(now, due_before))
    assert abs((datetime.fromisoformat(moved["due_at"]) - expected).total_seconds()) < 5
    assert moved["due_version"] == 2

    schedule = {"source": "国办发明电〔2026〕测试", "workdays": ["2027-02-20"],
                "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-01"},
                             {"name": "春节", "from": "2027-02-06", "to": "2027-02-12"}]}
    response = await supervision.put("/v1/calendar/2027/schedule", json=schedule, headers=ADMIN)
    assert response.status_code == 200, response.text
    year = (await supervision.get("/v1/calendar/2027")).json()
    assert year["provisional"] is False and year["basis"] == "imported"
    days = {d["date"]: d for d in year["days"]}
    assert days["2027-02-08"]["workday"] is False and days["2027-02-08"]["holiday"] == "春节"
    assert days["2027-02-20"]["workday"] is True and days["2027-02-20"]["provisional"] is False
    assert days["2027-03-01"]["workday"] is True

    for bad in ({**schedule, "workdays": ["2027-02-08"]},                                  # both lists
                {**schedule, "holidays": [{"name": "元旦", "from": "2026-12-31", "to": "2027-01-01"}]},
                {**schedule, "holidays": [{"name": "春节", "from": "2027-02-12", "to": "2027-02-06"}]},
                {**schedule, "extra": 1}):
        response = await supervision.put("/v1/calendar/2027/schedule", json=bad, headers=ADMIN)
        assert response.status_code == 422, (bad, response.text)
    assert (await supervision.put("/v1/calendar/2027/schedule", json=schedule, headers=SUPERVISOR)).status_code == 403
    still = {d["date"]: d for d in (await supervision.get("/v1/calendar/2027")).json()["days"]}
    assert still["2027-02-08"]["workday"] is False  # the refused imports changed nothing


async def test_the_board_filters_by_督办_level(supervision):
    """DOMAIN.md §5 (督办 board: level leader is 挂牌督办, listed until closed): GET /v1/clocks?level= lists the
    running clocks at that level, inside the caller's area; an unknown level is a 422 problem."""
    raised, plain = await start_case(supervision), await start_case(supervision)
    assert (await supervision.post(f"/v1/clocks/{raised}/escalate", json={"level": "red_card"},
                                   headers=SUPERVISOR)).status_code == 200
    board = (await supervision.get("/v1/clocks", params={"level": "red_card"}, headers=SUPERVISOR)).json()
    assert [(c["incident_id"], c["level"]) for c in board] == [(str(raised), "red_card")]
    none = (await supervision.get("/v1/clocks", params={"level": "none"}, headers=SUPERVISOR)).json()
    assert [c["incident_id"] for c in none] == [str(plain)]
    assert (await supervision.get("/v1/clocks", params={"level": "red_card"}, headers=FAR)).json() == []
    bad = await supervision.get("/v1/clocks", params={"level": "purple"}, headers=SUPERVISOR)
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


async def test_a_provisional_year_lists_the_laws_holidays_by_name(supervision):
    """DOMAIN.md §5: a year the national data does not cover is provisional, its days off the law's (with the
    weekdays owed for those on a weekend), named; an imported notice replaces them."""
    year = (await supervision.get("/v1/calendar/2027")).json()
    assert (year["provisional"], year["basis"]) == (True, "law")
    days = {d["date"]: d for d in year["days"]}
    assert days["2027-02-05"] == {"date": "2027-02-05", "workday": False, "provisional": True, "holiday": "春节"}
    assert days["2027-10-04"]["holiday"] == "国庆节（补假）" and days["2027-10-04"]["workday"] is False
    assert days["2027-02-11"]["workday"] is True and days["2027-02-11"]["holiday"] is None
    assert (await supervision.get("/v1/calendar/2026")).json()["basis"] == "national"


async def test_the_boards_filter_by_category_phase_unit_and_several_lights_or_levels(supervision):
    """Issue 16's boards: GET /v1/clocks takes a category (a code, or its group), a phase, a unit, and any of
    several lights or 督办 levels (the parameter repeated); each clock says the working time left to its due."""
    ads, noise = await start_case(supervision), await start_case(supervision, category="env.noise", unit="grid-2")
    dispute = await start_case(supervision, category="dispute.neighbour", unit="grid-2")
    await start_case(supervision, grid="310101001001001", category="env.noise")  # another district's

    async def board(**params) -> list[str]:
        response = await supervision.get("/v1/clocks", params=params, headers=SUPERVISOR)
        assert response.status_code == 200, response.text
        return sorted(c["incident_id"] for c in response.json())

    assert await board(category="env.noise") == [str(noise)]
    assert await board(category="dispute") == [str(dispute)]  # the group: every dispute.*
    assert await board(category="dispute.family") == []
    assert await board(unit="grid-2") == sorted([str(noise), str(dispute)])
    assert await board(phase="sign") == sorted(str(c) for c in (ads, noise, dispute))
    assert await board(phase="handle") == []
    assert await board(light=["green", "red"]) == sorted(str(c) for c in (ads, noise, dispute))
    assert await board(light=["yellow", "red"]) == []
    for case, level in ((ads, "reminder"), (noise, "leader")):
        raised = await supervision.post(f"/v1/clocks/{case}/escalate", json={"level": level}, headers=SUPERVISOR)
        assert raised.status_code == 200, raised.text
    assert await board(level=["reminder", "yellow_card", "red_card", "leader"]) == sorted([str(ads), str(noise)])
    assert await board(level=["leader"], category="env") == [str(noise)]
    for bad in ({"phase": "close"}, {"category": "DROP TABLE"}, {"light": ["green", "blue"]}):
        response = await supervision.get("/v1/clocks", params=bad, headers=SUPERVISOR)
        assert response.status_code == 422, bad

    [clock] = (await supervision.get("/v1/clocks", params={"category": "dispute"}, headers=SUPERVISOR)).json()
    calendar = supervision.app.state.container.calendar
    now = supervision.app.state.container.clock.now()
    due = datetime.fromisoformat(clock["due_at"])
    expected = calendar.working_seconds_between(now, due)
    # An urgent sign limit is natural hours (2 h): its working time left depends on the hour it is read at.
    assert clock["counts_in"] == "natural_time" and clock["limit"] == {"amount": 2.0, "unit": "hours"}
    assert abs(clock["remaining_working_seconds"] - expected) < 5
    assert clock["working_day_seconds"] == 7 * 3600 and clock["counting"] is True
    single = (await supervision.get(f"/v1/clocks/{dispute}", headers=SUPERVISOR)).json()
    assert {"remaining_working_seconds", "counts_in", "counting"} <= set(single)
