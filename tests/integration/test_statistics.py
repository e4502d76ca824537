"""Monthly statistics from supervision's facts on a real database: every rate of DOMAIN.md §6 for a small,
hand-counted month; live until the freeze, then stored; the HTTP API's validation and shape."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pytest

from services.supervision.bootstrap import pg_message_bus
from services.supervision.config import SupervisionSettings
from services.supervision.domain.commands import FireDueClocks
from services.supervision.domain.statistics import freeze_at, month_bounds, score_units
from services.supervision.entrypoints.export import XLSX_MEDIA_TYPE
from services.supervision.entrypoints.http import create_app
from services.supervision.service_layer.statistics import month_report, quarter_report
from shared.auth import issue_token
from shared.calendar import ZONE, WorkCalendar
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events import intake as ev
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from shared.settings import DEV_JWT_SECRET
from tests.support import SERVICE_DIRS, FixedClock, handle, serving

NOVEMBER = date(2026, 11, 1)
MON = datetime(2026, 11, 2, 9, 0, tzinfo=ZONE)  # Monday; a normal sign is due Tue 11-03 17:30
GRID, COMMUNITY, STREET, DISTRICT = "320508001001001", "320508001001", "320508001", "320508"
GRID_UNIT = Owner(unit_id=f"grid-{GRID}", unit_name="一网格", unit_kind="grid", worker_id="w1")
COMMUNITY_UNIT = Owner(unit_id=f"community-{COMMUNITY}", unit_name="一社区", unit_kind="community")
DEPARTMENT = Owner(unit_id="dept-water-320508", unit_name="区水务局", unit_kind="department")
AREAS = {"grid_code": GRID, "community_code": COMMUNITY, "street_code": STREET, "district_code": DISTRICT}


@pytest.fixture
async def facts(fresh_database):
    dsn = await fresh_database("stats")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    pool = await create_pool(dsn, 1, 4)
    clock = FixedClock(MON)
    calendar = WorkCalendar()
    yield pool, clock, calendar
    await pool.close()


async def feed(pool, clock, calendar, event) -> None:
    await handle(pg_message_bus(pool, clock, calendar), event)


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=ZONE)


def received(case: uuid.UUID, when: datetime) -> ev.IncidentReceived:
    return ev.IncidentReceived(incident_id=case, at=when, source="gridworker", category="city.garbage",
                               urgency="normal", title="垃圾", reported_at=when)


def assigned(case: uuid.UUID, owner: Owner, when: datetime, again: bool = False):
    kind = IncidentReassigned if again else IncidentAssigned
    return kind(incident_id=case, at=when, category="city.garbage", urgency="normal", owner=owner,
                reason="test", **AREAS)


async def hand_counted_month(pool, clock, calendar) -> None:
    """Four cases of November 2026; the expected figures are counted by hand in the tests below."""
    one, two, three, four = (uuid.uuid4() for _ in range(4))
    events = [
        # 1: signed in time, result in time, passed, closed, visited: everything good.
        received(one, MON), assigned(one, GRID_UNIT, MON),
        ev.IncidentSigned(incident_id=one, at=MON + timedelta(hours=1), actor="w1"),
        ev.IncidentResultSubmitted(incident_id=one, at=at(3), actor="w1", result="已清理"),
        ev.IncidentVerified(incident_id=one, at=at(4), actor="sup", passed=True),
        ev.IncidentClosed(incident_id=one, at=at(4)),
        ev.IncidentVisited(incident_id=one, at=at(5), actor="v", contacted="yes", responded=True, solved="yes",
                           satisfied="satisfied"),
        # 2: signed late, result in time but failed 核查 (返工), closed, visited unhappy, then 重办.
        received(two, MON), assigned(two, GRID_UNIT, MON),
        ev.IncidentSigned(incident_id=two, at=at(4), actor="w1"),
        ev.IncidentResultSubmitted(incident_id=two, at=at(5), actor="w1", result="已处理"),
        ev.IncidentVerified(incident_id=two, at=at(6), actor="sup", passed=False),
        ev.IncidentUrged(incident_id=two, at=at(6, 11), actor="12345", note="市民再次来电"),
        ev.IncidentUrged(incident_id=two, at=at(6, 15), actor="12345", note="第二次催办"),
        ev.IncidentResultSubmitted(incident_id=two, at=at(9), actor="w1", result="已返工"),
        ev.IncidentVerified(incident_id=two, at=at(10), actor="sup", passed=True),
        ev.IncidentClosed(incident_id=two, at=at(10)),
        ev.IncidentVisited(incident_id=two, at=at(11), actor="v", contacted="yes", solved="no",
                           satisfied="unsatisfied"),
        ev.IncidentReopened(incident_id=two, at=at(12), actor="sup", reason="回访不满意"),
        # 3: returned before its sign due (not counted against the grid's 签收), taken by the community.
        received(three, MON), assigned(three, GRID_UNIT, MON),
        ev.IncidentReturned(incident_id=three, at=MON + timedelta(hours=3), reason="非本单位职责", return_count=1),
        assigned(three, COMMUNITY_UNIT, MON + timedelta(hours=4), again=True),
        ev.IncidentSigned(incident_id=three, at=at(3, 9), actor="c1"),
        # 4: a department never signs; a visit nobody answered counts nowhere.
        received(four, MON), assigned(four, DEPARTMENT, MON),
        ev.IncidentUrged(incident_id=four, at=at(9), actor="12345"),
    ]
    for event in sorted(events, key=lambda e: e.at):  # each arrives when it happens (stable for ties)
        clock._now = event.at
        await feed(pool, clock, calendar, event)


async def month_of(pool, clock, calendar, month: date, group_by: str):
    """The month's report as the API gives it now (the first read after the freeze stores it, through the bus)."""
    return await month_report(pool, pg_message_bus(pool, clock, calendar), calendar, clock.now(), month, group_by)


async def quarter_of(pool, clock, calendar, quarter: date, group_by: str):
    return await quarter_report(pool, pg_message_bus(pool, clock, calendar), calendar, clock.now(), quarter,
                                group_by)


def rates(report, key):
    [row] = [u for u in report.units if u.key == key]
    return {m: (r.numerator, r.denominator) for m, r in row.rates.items()}, row


async def test_every_rate_of_a_hand_counted_month(facts):
    pool, clock, calendar = facts
    await hand_counted_month(pool, clock, calendar)
    clock._now = at(30, 12)
    while await pg_message_bus(pool, clock, calendar).handle(FireDueClocks(100)):
        pass  # the late phases climb the ladder: 督办 points

    grid = await month_of(pool, clock, calendar, NOVEMBER, "grid")
    assert not grid.frozen and grid.as_of == clock.now()
    figures, row = rates(grid, GRID)
    assert figures == {
        # signs due in November: case 1 (in time), case 2 (late), case 2's 重办 sign (never signed);
        # case 3 was returned before its due and does not count.
        "timely_sign_rate": (1, 3),
        # first handle phases: case 1 in time and passed; case 2 in time but failed 核查 (a 返工 is late).
        "on_time_completion_rate": (1, 2),
        "closure_rate": (2, 2),
        "response_rate": (1, 1),  # case 2's visit did not ask about 响应
        "solved_rate": (1, 2),
        "satisfaction_rate": (1, 2),
        "return_rate": (1, 3),  # three assignments, case 3 returned
        "urge_rate": (1, 3),  # case 2 urged (twice: one urged assignment)
        "reopen_rate": (1, 2),  # closed 1 and 2, 2 reopened
        "rework_rate": (1, 3),  # three verifications, one failed
    }
    assert row.cases == 3 and row.name == "一网格"
    assert row.escalation_points == 2.0  # case 2's 重办 sign reached 领导督办; case 1 and 3 never escalated

    community = await month_of(pool, clock, calendar, NOVEMBER, "community")
    figures, row = rates(community, COMMUNITY)
    assert figures["timely_sign_rate"] == (2, 4)  # + the community's own in-time sign of case 3
    assert figures["return_rate"] == (1, 4)
    assert row.cases == 3 and row.name == "一社区"

    department = await month_of(pool, clock, calendar, NOVEMBER, "department")
    figures, row = rates(department, DEPARTMENT.unit_id)
    assert figures["timely_sign_rate"] == (0, 1) and row.escalation_points == 2.0
    assert figures["urge_rate"] == (1, 1)  # 催办 counts against the unit that had the case
    assert figures.get("on_time_completion_rate") is None  # never signed: no handle phase
    # departments are not territorial: the street's figures leave them out
    street = await month_of(pool, clock, calendar, NOVEMBER, "street")
    assert rates(street, STREET)[0]["timely_sign_rate"] == (2, 4)


async def test_a_month_is_live_until_its_freeze_then_stored_and_unmoved_by_later_events(facts):
    pool, clock, calendar = facts
    await hand_counted_month(pool, clock, calendar)
    freeze = freeze_at(NOVEMBER, calendar)
    assert freeze == datetime(2026, 12, 7, 17, 30, tzinfo=ZONE)  # close of the 5th working day of December

    clock._now = freeze + timedelta(hours=1)
    frozen = await month_of(pool, clock, calendar, NOVEMBER, "grid")
    assert frozen.frozen and frozen.as_of == freeze
    before = rates(frozen, GRID)[0]
    assert before["reopen_rate"] == (1, 2)

    # A late 重办 of case 1 after the freeze: the stored month does not move.
    [case_one] = [r["incident_id"] for r in await pool.fetch(
        "SELECT incident_id FROM closure_fact WHERE reopened_at IS NULL ORDER BY closed_at LIMIT 1")]
    await feed(pool, clock, calendar, ev.IncidentReopened(incident_id=case_one, at=clock.now(), actor="sup",
                                                         reason="复查"))
    again = await month_of(pool, clock, calendar, NOVEMBER, "grid")
    assert rates(again, GRID)[0] == before
    assert await pool.fetchval("SELECT count(*) FROM frozen_stats") == 1


async def test_the_stats_and_rankings_api_validates_and_reports(fresh_database):
    dsn = await fresh_database("statsapi")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    token = issue_token(DEV_JWT_SECRET, "sup", "supervisor", [DISTRICT])
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    this_month = now.astimezone(ZONE).strftime("%Y-%m")
    start, end = month_bounds(now.astimezone(ZONE).date().replace(day=1))
    async with serving(create_app(SupervisionSettings(database_url=dsn))) as client:
        container = client.app.state.container
        for owner, n in ((GRID_UNIT, 12), (COMMUNITY_UNIT, 3)):
            for _ in range(n):
                case = uuid.uuid4()
                for event in (received(case, now), assigned(case, owner, now)):
                    await handle(container.bus, event)

        response = await client.get(f"/v1/stats?month={this_month}&group_by=community", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["frozen"] is False and body["group_by"] == "community"
        [row] = body["rows"]
        assert row["key"] == COMMUNITY and row["cases"] == 15
        assert row["metrics"]["return_rate"] == {"numerator": 0, "denominator": 15, "rate": 0.0}
        assert row["metrics"]["solved_rate"] == {"numerator": 0, "denominator": 0, "rate": None}
        assert set(body["definitions"]) == set(row["metrics"])

        ranking = (await client.get(f"/v1/rankings?month={this_month}&level=grid", headers=headers)).json()
        [grid_row] = ranking["units"]
        assert grid_row["rank"] == 1 and ranking["red_list"] == [GRID] and ranking["black_list"] == []
        few = (await client.get(f"/v1/rankings?month={this_month}&level=community", headers=headers)).json()
        assert few["units"][0]["cases"] == 15 and few["units"][0]["rank"] == 1

        # Issue 15: figures inside the caller's area; departments for the city (or the unit itself).
        def bearer(role: str, area: list[str], unit: str | None = None) -> dict[str, str]:
            return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'x', role, area, unit)}"}

        elsewhere = bearer("supervisor", ["310101"])
        assert (await client.get(f"/v1/stats?month={this_month}&group_by=community", headers=elsewhere)
                ).json()["rows"] == []
        other_ranking = (await client.get(f"/v1/rankings?month={this_month}&level=grid", headers=elsewhere)).json()
        assert other_ranking["units"] == [] and other_ranking["red_list"] == []
        worker = bearer("gridworker", [GRID], unit=GRID_UNIT.unit_id)
        assert (await client.get(f"/v1/rankings?month={this_month}&level=grid", headers=worker)).status_code == 403
        units = f"/v1/stats?month={this_month}&group_by=unit"
        assert (await client.get(units, headers=headers)).json()["rows"] == []  # a district's: no unit rows
        [own] = (await client.get(units, headers=worker)).json()["rows"]
        assert own["key"] == GRID_UNIT.unit_id
        assert len((await client.get(units, headers=bearer("supervisor", [""]))).json()["rows"]) == 2

        next_month = (end + timedelta(days=1)).astimezone(ZONE).strftime("%Y-%m")
        for query in ("month=2026-13", "month=26-11", f"month={next_month}", "month=",
                      f"month={this_month}&group_by=x"):
            response = await client.get(f"/v1/stats?{query}", headers=headers)
            assert response.status_code == 422, (query, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        for month in ("2026-13", next_month):  # the form is right; the month is not one, or has not begun
            body = (await client.get(f"/v1/stats?month={month}", headers=headers)).json()
            assert body["errors"] == [{"field": "query.month", "message": body["detail"], "type": "month"}]
        assert (await client.get(f"/v1/stats?month={this_month}")).status_code == 401
        assert start < now < end


GRID_TWO_CODE = "320508001001002"
GRID_TWO = Owner(unit_id="grid-two", unit_name="二网格", unit_kind="grid", worker_id="w2")
DISTRICT_UNIT = Owner(unit_id="district-centre", unit_name="区社会治理中心", unit_kind="district")
OTHER_DISTRICT = {"grid_code": "320509001001001", "community_code": "320509001001", "street_code": "320509001",
                  "district_code": "320509"}


async def test_a_quarter_sums_its_months_names_its_units_and_leaves_the_unmeasured_unscored(facts):
    """DOMAIN.md §6 (seed 002 ranked quarterly; the 红黑榜 names the units it lists; a zero denominator gives
    null): Q4's figures are October's and November's numerators and denominators summed; the districts are named
    from the district unit seen as a co-owner (the other, never an owner or co-owner, stays unnamed); a grid
    whose only figure is a sign phase it returned before its due has no measured rate: listed, unscored."""
    pool, clock, calendar = facts
    on_time, late, returned, elsewhere = (uuid.uuid4() for _ in range(4))
    october = datetime(2026, 10, 19, 9, 0, tzinfo=ZONE)  # Monday: a normal sign is due Tue 10-20 17:30
    events = [
        received(on_time, october),
        IncidentAssigned(incident_id=on_time, at=october, category="city.garbage", urgency="normal",
                         owner=GRID_UNIT, co_owners=[DISTRICT_UNIT], reason="test", **AREAS),
        ev.IncidentSigned(incident_id=on_time, at=october + timedelta(hours=1), actor="w1"),
        received(late, MON), assigned(late, GRID_UNIT, MON),
        ev.IncidentSigned(incident_id=late, at=at(4), actor="w1"),
        # assigned Friday 10-30, returned Monday 11-02 before its sign due: the grid's November has only it.
        received(returned, datetime(2026, 10, 30, 16, 0, tzinfo=ZONE)),
        IncidentAssigned(incident_id=returned, at=datetime(2026, 10, 30, 16, 0, tzinfo=ZONE),
                         category="city.garbage", urgency="normal", owner=GRID_TWO, reason="test",
                         **{**AREAS, "grid_code": GRID_TWO_CODE}),
        ev.IncidentReturned(incident_id=returned, at=MON, reason="非本单位职责", return_count=1),
        received(elsewhere, MON),
        IncidentAssigned(incident_id=elsewhere, at=MON, category="city.garbage", urgency="normal",
                         owner=Owner(unit_id="grid-far", unit_name="远网格", unit_kind="grid"), reason="test",
                         **OTHER_DISTRICT),
    ]
    for event in sorted(events, key=lambda e: e.at):
        clock._now = event.at
        await feed(pool, clock, calendar, event)
    clock._now = at(30, 12)

    quarter = await quarter_of(pool, clock, calendar, date(2026, 10, 1), "grid")
    assert (quarter.label, quarter.months, quarter.frozen) == ("2026-Q4", [date(2026, 10, 1), NOVEMBER], False)
    assert quarter.freeze_at == freeze_at(date(2026, 12, 1), calendar)
    months = [await month_of(pool, clock, calendar, m, "grid") for m in quarter.months]
    assert [rates(m, GRID)[0]["timely_sign_rate"] for m in months] == [(1, 1), (0, 1)]
    figures, row = rates(quarter, GRID)
    assert figures["timely_sign_rate"] == (1, 2) and figures["return_rate"] == (0, 2)
    assert row.cases == sum(rates(m, GRID)[1].cases for m in months) and row.name == "一网格"

    ranked = {r.figures.key: r for r in score_units(months[1].units)}
    assert ranked[GRID].score is not None
    assert (ranked[GRID_TWO_CODE].figures.cases, ranked[GRID_TWO_CODE].score, ranked[GRID_TWO_CODE].rank) == (
        1, None, None)
    assert ranked[GRID_TWO_CODE].figures.name == "二网格"

    districts = {u.key: u.name for u in (await quarter_of(pool, clock, calendar, date(2026, 10, 1),
                                                              "district")).units}
    assert districts == {DISTRICT: "区社会治理中心", "320509": None}


async def test_the_rankings_api_takes_a_quarter_instead_of_a_month(fresh_database):
    """DOMAIN.md §6 (quarterly rankings beside monthly): `quarter=YYYY-Qn` or `month=`, exactly one; the
    answer names the quarter and its months begun; 解决率's treatment of 部分解决 is in the definitions."""
    dsn = await fresh_database("statsq")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    headers = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', [DISTRICT])}"}
    now = datetime.now(UTC)
    local = now.astimezone(ZONE)
    this_quarter = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    async with serving(create_app(SupervisionSettings(database_url=dsn))) as client:
        container = client.app.state.container
        for _ in range(12):
            case = uuid.uuid4()
            for event in (received(case, now), assigned(case, GRID_UNIT, now)):
                await handle(container.bus, event)

        body = (await client.get(f"/v1/rankings?quarter={this_quarter}&level=grid", headers=headers)).json()
        assert (body["quarter"], body["month"], body["frozen"]) == (this_quarter, None, False)
        assert f"{local:%Y-%m}" in body["months"] and len(body["months"]) == (local.month - 1) % 3 + 1
        [unit] = body["units"]
        assert (unit["key"], unit["name"], unit["rank"], unit["cases"]) == (GRID, "一网格", 1, 12)
        assert body["red_list"] == [GRID]
        monthly = (await client.get(f"/v1/rankings?month={local:%Y-%m}&level=grid", headers=headers)).json()
        assert monthly["quarter"] is None and monthly["units"][0]["score"] == unit["score"]

        stats = (await client.get(f"/v1/stats?quarter={this_quarter}&group_by=grid", headers=headers)).json()
        assert stats["rows"][0]["metrics"]["return_rate"] == {"numerator": 0, "denominator": 12, "rate": 0.0}
        assert "partly" in stats["definitions"]["solved_rate"]["numerator"]

        next_year = local.year + 1
        for query in ("quarter=2026-Q5", f"quarter={this_quarter}&month={local:%Y-%m}", "level=grid",
                      f"quarter={next_year}-Q1"):
            response = await client.get(f"/v1/rankings?{query}", headers=headers)
            assert response.status_code == 422, (query, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        body = (await client.get(f"/v1/rankings?quarter={next_year}-Q1", headers=headers)).json()
        assert body["errors"] == [{"field": "query.quarter", "message": body["detail"], "type": "quarter"}]


async def test_the_rankings_and_the_statistics_download_as_xlsx_and_csv(fresh_database):
    """Issue 16: `format=xlsx|csv` (or an Accept header) answers the same figures as a file: the XLSX opens with
    openpyxl, Chinese headers, the unit's row with its counts as numbers and its rates as percentages; the CSV
    has a BOM; the caller's area still bounds what is in it, and a refusal is still a problem."""
    dsn = await fresh_database("statsfile")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    headers = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', [DISTRICT])}"}
    elsewhere = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'sup', 'supervisor', ['310101'])}"}
    now = datetime.now(UTC)
    this_month = now.astimezone(ZONE).strftime("%Y-%m")
    async with serving(create_app(SupervisionSettings(database_url=dsn))) as client:
        container = client.app.state.container
        for _ in range(11):
            case = uuid.uuid4()
            for event in (received(case, now), assigned(case, GRID_UNIT, now)):
                await handle(container.bus, event)

        response = await client.get("/v1/rankings", params={"month": this_month, "level": "grid", "format": "xlsx"},
                                    headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == XLSX_MEDIA_TYPE
        assert f'filename="rankings-{this_month}-grid.xlsx"' in response.headers["content-disposition"]
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
        header, row = list(sheet.iter_rows(values_only=True))
        assert header[:6] == ("名次", "榜单", "单位代码", "单位名称", "得分", "案件数")
        assert row[:4] == (1, "红榜", GRID, "一网格") and row[5] == 11
        returns = header.index("回退率")
        assert row[returns:returns + 3] == (0, 0, 11)
        assert sheet.cell(row=2, column=returns + 1).number_format == "0.00%"

        accepted = await client.get("/v1/stats", params={"month": this_month, "group_by": "grid"},
                                    headers={**headers, "Accept": "text/csv"})
        assert accepted.status_code == 200 and accepted.headers["content-type"].startswith("text/csv")
        lines = accepted.content.decode("utf-8-sig").splitlines()
        assert lines[0].startswith("单位代码,单位名称,案件数") and lines[1].startswith(f"{GRID},一网格,11,")

        other = await client.get("/v1/stats", params={"month": this_month, "group_by": "grid", "format": "csv"},
                                 headers=elsewhere)
        assert other.content.decode("utf-8-sig").splitlines()[1:] == []  # another district's: the headers only
        refused = await client.get("/v1/rankings", params={"month": "2026-13", "format": "xlsx"}, headers=headers)
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        bad = await client.get("/v1/rankings", params={"month": this_month, "format": "pdf"}, headers=headers)
        assert bad.status_code == 422
