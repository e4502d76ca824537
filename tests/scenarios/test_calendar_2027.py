"""Time limits across the year the national data does not know yet (DOMAIN §5: working days are not Mon–Fri;
chinesecalendar 1.11 stops at 2026; such a year falls back to weekends and the law's holidays, is marked
provisional, and when the State Council's notice appears it is imported and provisional due times are counted
again). Told from the outside with every role running, on one virtual clock: the stories run in this order and
move the clock forward (the last day of 2026, then February 2027), so they keep to this module."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.scenarios.story import ADMIN, City, token

SHANGHAI = ZoneInfo("Asia/Shanghai")
WANG = {"unit": "grid-320508019044002", "worker": "gw-320508019044002", "phone": "13900000002",
        "grid": "320508019044002"}
YANG = {"unit": "grid-320508019045002", "worker": "gw-320508019045002", "phone": "13900000006",
        "grid": "320508019045002"}
IN_GRID_2 = {"lon": 120.62, "lat": 31.31}  # 梅花社区第2网格
IN_TAOWU_2 = {"lon": 120.65, "lat": 31.31}  # 桃坞社区第2网格

# The 2027 notice as these stories imagine it (国务院办公厅关于2027年部分节假日安排的通知; the real one is whatever
# the State Council publishes). What matters here: 春节 runs 2/5 (除夕) to 2/13, nine days, two of them (2/11, 2/12)
# weekdays the law alone does not give, bridged by two weekends worked (1/31, 2/20); 元旦 is the law's 1/1 and the
# weekend after it, as the provisional calendar already has it.
NOTICE_2027: dict[str, Any] = {
    "source": "国办发明电〔2026〕（故事用）",
    "holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
                 {"name": "春节", "from": "2027-02-05", "to": "2027-02-13"},
                 {"name": "清明节", "from": "2027-04-03", "to": "2027-04-05"},
                 {"name": "劳动节", "from": "2027-05-01", "to": "2027-05-05"},
                 {"name": "端午节", "from": "2027-06-09", "to": "2027-06-09"},
                 {"name": "中秋节", "from": "2027-09-15", "to": "2027-09-15"},
                 {"name": "国庆节", "from": "2027-10-01", "to": "2027-10-07"}],
    "workdays": ["2027-01-31", "2027-02-20", "2027-05-08", "2027-10-09"],
}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def local(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(SHANGHAI)


def worker(who: dict[str, str]) -> dict[str, str]:
    return token(who["worker"], "gridworker", [who["grid"]], unit=who["unit"])


async def calendar_days(city: City, year: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    body = await city.get("supervision", f"/v1/calendar/{year}")
    return body, {d["date"]: d for d in body["days"]}


async def test_a_sign_clock_started_on_new_years_eve_skips_the_provisional_new_year_holiday(city: City):
    """DOMAIN §5: a normal case's sign limit is 1 working day, counted from the next working day (次日起算), due at
    its close (17:30). 2027 is provisional (the law's days on top of the weekends): 元旦 2027-01-01 (a Friday)
    is off, then the weekend, so a case assigned on the afternoon of 2026-12-31 is due on Monday 2027-01-04
    17:30, not on the holiday; its yellow light (70 % of the budget) comes on that Monday too."""
    year, days = await calendar_days(city, 2027)
    assert year["provisional"] is True and year["basis"] == "law"
    assert days["2027-01-01"] == {"date": "2027-01-01", "workday": False, "provisional": True, "holiday": "元旦"}
    assert days["2027-01-04"]["workday"] is True and days["2027-01-04"]["provisional"] is True
    known, _ = await calendar_days(city, 2026)
    assert known["provisional"] is False and known["basis"] == "national"

    await city.advance_to(at(2026, 12, 31, 15, 0))
    incident = await city.report(urgency="normal", location=IN_GRID_2, title="装修噪声邻里纠纷")
    case = await city.case_when(incident, status="assigned", owner__worker_id=WANG["worker"])
    assert local(case["received_at"]).date() == date(2026, 12, 31)

    clock = await city.clock_when(incident, phase="sign", running=True)
    assert local(clock["started_at"]).date() == date(2026, 12, 31)
    assert local(clock["due_at"]) == at(2027, 1, 4, 17, 30)
    assert local(clock["yellow_at"]).date() == date(2027, 1, 4)
    assert clock["light"] == "green" and clock["due_version"] == 1
    history = await city.assignments(incident)
    assert [h["kind"] for h in history["history"]] == ["assigned"]
    assert local(history["history"][0]["at"]).date() == date(2026, 12, 31)
    assert history["current"]["unit_id"] == WANG["unit"]

    # The holiday and the weekend pass uncounted: the light turns yellow on Monday afternoon, once.
    await city.advance_to(at(2027, 1, 4, 15, 0))
    yellow = await city.clock_when(incident, phase="sign", light="yellow")
    assert yellow["level"] == "reminder" and yellow["due_version"] == 1
    assert local(yellow["due_at"]) == at(2027, 1, 4, 17, 30)
    [told] = await city.sent_when(incident, "黄灯")
    assert told["address"] == WANG["phone"] and "01月04日17:30" in told["body"]
    assert len(await city.sent(incident, "新案件")) == 1
    assert Counter(t["action"] for t in (await city.case(incident))["timeline"])["assigned"] == 1


async def test_the_years_notice_imported_late_moves_a_running_clock_once(city: City):
    """DOMAIN §5: when the notice appears, import it and recount provisional due times (DESIGN §6: a year's
    schedule imported at once; the year is then no longer provisional). A normal case signed on Wednesday
    2027-02-03 has 5 working days to handle it: provisionally (春节 2/5–2/8, its weekend days owed 2/9 and 2/10)
    due Tuesday 2/16 17:30, yellow on 2/15. The notice makes 2/11 and 2/12 holidays too: the running clock is
    counted again, due Thursday 2/18 17:30, a new due version; its yellow light goes back to green (the 催办 level
    stays: never lowered), and fires again once for the new due version. Importing the same notice again moves
    nothing."""
    await city.advance_to(at(2027, 2, 3, 10, 0))
    incident = await city.report(urgency="normal", location=IN_TAOWU_2, title="空调外机滴水邻里纠纷")
    await city.case_when(incident, status="assigned", owner__worker_id=YANG["worker"])
    assert (await city.act(incident, worker(YANG), "sign")).status_code == 200
    handle = await city.clock_when(incident, phase="handle", running=True)
    assert local(handle["started_at"]).date() == date(2027, 2, 3)
    assert local(handle["due_at"]) == at(2027, 2, 16, 17, 30)

    await city.advance_to(at(2027, 2, 15, 11, 0))
    yellow = await city.clock_when(incident, phase="handle", light="yellow")
    assert yellow["level"] == "reminder"
    version = yellow["due_version"]
    [first] = await city.sent_when(incident, "黄灯")
    assert "02月16日17:30" in first["body"]

    response = await city.http.put(city.url("supervision", "/v1/calendar/2027/schedule"), headers=ADMIN,
                                   json=NOTICE_2027)
    assert response.status_code == 200, response.text
    imported = response.json()
    # Only this clock moves: the 2026-12-31 case's sign clock (元旦 as the law had it) is where it was.
    assert imported["provisional"] is False and imported["clocks_recounted"] == 1

    moved = await city.clock_when(incident, phase="handle", due_version=version + 1)
    assert local(moved["due_at"]) == at(2027, 2, 18, 17, 30)
    assert local(moved["yellow_at"]).date() == date(2027, 2, 17)
    assert moved["light"] == "green" and moved["level"] == "reminder" and moved["running"] is True
    year, days = await calendar_days(city, 2027)
    assert year["provisional"] is False and year["basis"] == "imported"
    assert days["2027-02-11"] == {"date": "2027-02-11", "workday": False, "provisional": False, "holiday": "春节"}
    assert days["2027-02-20"]["workday"] is True and days["2027-01-01"]["holiday"] == "元旦"

    again = await city.http.put(city.url("supervision", "/v1/calendar/2027/schedule"), headers=ADMIN,
                                json=NOTICE_2027)
    assert again.status_code == 200 and again.json()["clocks_recounted"] == 0, again.text
    assert (await city.clock(incident) or {}).get("due_version") == version + 1

    # The new yellow point comes on 2/17: the light fires once more (a new due version), the 督办 does not.
    await city.advance_to(at(2027, 2, 17, 11, 0))
    await city.clock_when(incident, phase="handle", light="yellow", due_version=version + 1, level="reminder")
    yellows = await city.sent_when(incident, "黄灯", count=2)
    assert sorted("02月18日17:30" in y["body"] for y in yellows) == [False, True]
    assert all(y["address"] == YANG["phone"] for y in yellows)
    assert [(h["phase"], h["stopped_at"] is None) for h in (await city.clock(incident) or {})["history"]] == [
        ("sign", False), ("handle", True)]
    case = await city.case(incident)
    assert case["status"] == "in_progress"
    assert Counter(t["action"] for t in case["timeline"])["sign"] == 1
    assert [h["kind"] for h in (await city.assignments(incident))["history"]] == ["assigned"]



async def test_a_clock_started_the_moment_after_a_calendar_change_counts_on_it(city: City):
    """DESIGN §6: the calendar is supervision's (the national schedule, the imported notices, one date's override
    by `PUT /v1/calendar/{date}`), and DOMAIN §5 counts every working-day limit on it: a clock started the moment
    after a change counts on the changed calendar as surely as the running clocks the change recounts. The district
    makes Sunday 2027-02-21 a working day; a case signed right after, on Wednesday 2/17 at 11:00, with 5 working
    days has 2/18, 2/19, Saturday 2/20 (the notice's 调休), Sunday 2/21 (the override), 2/22: due 2027-02-22 17:30
    (2/23 on the notice alone, 2/24 on the provisional calendar)."""
    incident = await city.report(urgency="normal", location=IN_GRID_2, title="楼道电动车停放邻里纠纷")
    await city.case_when(incident, status="assigned", owner__worker_id=WANG["worker"])
    worked = await city.http.put(city.url("supervision", "/v1/calendar/2027-02-21"), headers=ADMIN,
                                 json={"workday": True, "note": "区里安排春节后集中办件日"})
    assert worked.status_code == 200, worked.text
    assert (await city.act(incident, worker(WANG), "sign")).status_code == 200

    _, days = await calendar_days(city, 2027)
    assert days["2027-02-21"]["workday"] is True and days["2027-02-21"]["provisional"] is False
    handle = await city.clock_when(incident, phase="handle", running=True)
    assert local(handle["started_at"]).date() == date(2027, 2, 17)
    assert local(handle["due_at"]) == at(2027, 2, 22, 17, 30)
