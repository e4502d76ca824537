from datetime import UTC, datetime, timedelta, timezone

import pytest
from shapely.geometry import box

from services.routing.domain.assignment import Rule, Unit, Worker, decide_owner
from services.routing.domain.errors import RosterRefused
from services.routing.domain.locator import GridInfo, Locator
from services.routing.domain.roster import Roster, build_roster, roster_as_dict, roster_from_dict

CST = timezone(timedelta(hours=8))
WEEKDAYS = {"days": [1, 2, 3, 4, 5], "start": "08:30", "end": "17:30"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-11-23 is a Monday: day 1 = Monday … 7 = Sunday of that week, Shanghai time, given in UTC."""
    return datetime(2026, 11, 22 + day, hour, minute, tzinfo=CST).astimezone(UTC)


@pytest.mark.parametrize("when, expected", [
    (at(1, 9), True), (at(1, 8, 30), True), (at(1, 8, 29), False), (at(1, 17, 29), True), (at(1, 17, 30), False),
    (at(5, 12), True), (at(6, 10), False), (at(7, 10), False),
])
def test_weekly_shifts_are_read_in_shanghai_time(when, expected):
    assert build_roster([WEEKDAYS], []).on_duty_at(when) is expected


@pytest.mark.parametrize("when, expected", [
    (at(5, 20), True), (at(5, 23, 59), True), (at(6, 7, 59), True), (at(6, 8), False), (at(4, 23), False),
    (at(5, 19, 59), False),
])
def test_a_shift_ending_before_it_starts_runs_into_the_next_day(when, expected):
    assert build_roster([{"days": [5], "start": "20:00", "end": "08:00"}], []).on_duty_at(when) is expected


def test_a_sunday_night_shift_runs_into_monday_and_a_whole_day_is_00_to_24():
    night = build_roster([{"days": [7], "start": "22:00", "end": "06:00"}], [])
    assert night.on_duty_at(at(1, 5)) and not night.on_duty_at(at(1, 6)) and not night.on_duty_at(at(6, 23))
    whole = build_roster([{"days": [6], "start": "00:00", "end": "24:00"}], [])
    assert whole.on_duty_at(at(6, 0)) and whole.on_duty_at(at(6, 23, 59)) and not whole.on_duty_at(at(7, 0))


def test_explicit_periods_override_the_weekly_shifts_while_they_last():
    roster = build_roster([WEEKDAYS], [
        {"start": at(2, 0), "end": at(3, 0), "on_duty": False, "note": "请假"},
        {"start": at(6, 9), "end": at(6, 12), "on_duty": True, "note": "周末值班"},
    ])
    assert roster.on_duty_at(at(1, 10)) and not roster.on_duty_at(at(2, 10)) and roster.on_duty_at(at(3, 10))
    assert roster.on_duty_at(at(6, 10)) and not roster.on_duty_at(at(6, 12))


def test_a_roster_of_periods_alone_is_off_duty_outside_them():
    roster = build_roster([], [{"start": at(1, 9), "end": at(1, 10), "on_duty": True}])
    assert roster.on_duty_at(at(1, 9, 30)) and not roster.on_duty_at(at(1, 11))
    assert not Roster().on_duty_at(at(1, 9))


def test_every_wrong_field_is_named_and_nothing_is_built():
    naive = datetime(2026, 11, 23, 9)
    with pytest.raises(RosterRefused) as refused:
        build_roster([
            {"days": [0, 8], "start": "08:00", "end": "12:00"},
            {"days": [1, 1], "start": "08:00", "end": "12:00"},
            {"days": [2], "start": "25:00", "end": "12:00"},
            {"days": [3], "start": "08:60", "end": "12:00"},
            {"days": [4], "start": "08:00", "end": "08:00"},
            {"days": [5], "start": "24:00", "end": "08:00"},
            {"days": [6], "start": "8:00", "end": "12:00"},
        ], [
            {"start": at(1, 10), "end": at(1, 9), "on_duty": True},
            {"start": naive, "end": naive + timedelta(hours=1), "on_duty": True},
            {"start": at(2, 8), "end": at(2, 12), "on_duty": True},
            {"start": at(2, 11), "end": at(2, 13), "on_duty": False},
        ])
    fields = [e["field"] for e in refused.value.errors]
    assert fields == ["weekly[0].days", "weekly[1].days", "weekly[2]", "weekly[3]", "weekly[4]", "weekly[5].start",
                      "weekly[6]", "periods[0]", "periods[1]", "periods[3]"]
    messages = {e["field"]: e["message"] for e in refused.value.errors}
    assert "equal" in messages["weekly[4]"] and "overlaps periods[2]" in messages["periods[3]"]
    assert "UTC offset" in messages["periods[1]"] and "after start" in messages["periods[0]"]


def test_a_stored_roster_reads_back_the_same():
    roster = build_roster([WEEKDAYS, {"days": [6], "start": "20:00", "end": "24:00"}],
                          [{"start": at(2, 0), "end": at(3, 0), "on_duty": False, "note": "请假"}])
    stored = roster_as_dict(roster)
    assert stored["weekly"][1] == {"days": [6], "start": "20:00", "end": "24:00"}
    assert roster_from_dict(stored) == roster


# The owner follows the roster at the time of the decision.
GRID, COMMUNITY = "320508019044001", "320508019044"
LOCATED = Locator([(GridInfo("320508", "姑苏区", "district", "territorial"), box(120, 31, 121, 32)),
                   (GridInfo("320508019", "平江街道", "street", "territorial"), box(120, 31, 121, 32)),
                   (GridInfo(COMMUNITY, "梅花社区", "community", "territorial"), box(120, 31, 121, 32)),
                   (GridInfo(GRID, "第1网格", "grid", "comprehensive"), box(120, 31, 121, 32))]).locate(120.5, 31.5)
UNITS = [Unit("g1", "grid", "第1网格", (GRID,)), Unit("c1", "community", "梅花社区居委会", (COMMUNITY,))]
DAY_SHIFT = build_roster([WEEKDAYS], [])
NIGHT_SHIFT = build_roster([{"days": [1, 2, 3, 4, 5, 6, 7], "start": "17:30", "end": "08:30"}], [])


def test_the_grid_worker_on_duty_by_the_roster_at_that_time_owns_the_case():
    day = Worker("w1", "张三", "13900000001", "g1", (GRID,), True, DAY_SHIFT)
    night = Worker("w2", "李四", "13900000002", "g1", (GRID,), True, NIGHT_SHIFT)
    assert decide_owner(LOCATED, "located", UNITS, [day, night], Rule("grid"), at=at(1, 10)).owner.worker_id == "w1"
    assert decide_owner(LOCATED, "located", UNITS, [day, night], Rule("grid"), at=at(1, 22)).owner.worker_id == "w2"


def test_when_the_roster_says_off_duty_the_community_takes_it_and_the_reason_says_why():
    day = Worker("w1", "张三", "13900000001", "g1", (GRID,), True, DAY_SHIFT)
    decision = decide_owner(LOCATED, "located", UNITS, [day], Rule("grid"), at=at(6, 10))
    assert decision.owner.unit_id == "c1" and decision.owner.worker_id is None
    assert "no grid worker on duty at 2026-11-28 10:00 (张三 off by the roster): community" in decision.reason


def test_the_switch_off_wins_over_the_roster_and_no_roster_means_the_switch_alone():
    sick = Worker("w1", "张三", "13900000001", "g1", (GRID,), False, DAY_SHIFT)
    assert decide_owner(LOCATED, "located", UNITS, [sick], Rule("grid"), at=at(1, 10)).owner.unit_id == "c1"
    plain = Worker("w1", "张三", "13900000001", "g1", (GRID,), True)
    assert decide_owner(LOCATED, "located", UNITS, [plain], Rule("grid"), at=at(6, 3)).owner.worker_id == "w1"
