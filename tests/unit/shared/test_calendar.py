"""Working-time arithmetic across China's real calendar. Expected values are worked out by hand from
the published schedules (DOMAIN.md §5), not computed by the code under test."""

from datetime import date, datetime, time

import pytest

from shared.calendar import ZONE, WorkCalendar, statutory_days

CAL = WorkCalendar()


def sh(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=ZONE)


@pytest.mark.parametrize("day, workday", [
    (date(2026, 2, 14), True),    # Saturday, 调休 make-up day before Spring Festival
    (date(2026, 2, 16), False),   # Spring Festival (Monday)
    (date(2026, 2, 23), False),   # last day of the 2026 Spring Festival break (Monday)
    (date(2026, 2, 24), True),
    (date(2026, 2, 28), True),    # Saturday make-up day
    (date(2026, 9, 20), True),    # Sunday make-up day
    (date(2026, 10, 7), False),
    (date(2026, 10, 10), True),   # Saturday make-up day
    (date(2025, 9, 28), True),    # Sunday make-up day
    (date(2025, 10, 8), False),
    (date(2025, 10, 11), True),
    (date(2026, 11, 21), False),  # an ordinary Saturday
])
def test_workdays_follow_the_national_schedule_with_tiaoxiu(day, workday):
    assert CAL.is_workday(day) is workday
    assert not CAL.is_provisional(day)


def test_one_working_day_counts_from_the_next_day_and_ends_at_close_of_business():
    assert CAL.add(sh(2026, 11, 23, 10), 1, "working_days") == sh(2026, 11, 24, 17, 30)
    assert CAL.add(sh(2026, 11, 20, 16), 1, "working_days") == sh(2026, 11, 23, 17, 30)   # Fri → Mon
    assert CAL.add(sh(2026, 11, 21, 9), 1, "working_days") == sh(2026, 11, 23, 17, 30)    # Sat → Mon
    assert CAL.add(sh(2026, 11, 23, 10), 5, "working_days") == sh(2026, 11, 30, 17, 30)


def test_working_days_across_spring_festival_2026():
    # Fri 2/13 → Sat 2/14 (make-up) is day 1; 2/15–2/23 off; 2/24 day 2 … 2/27 day 5.
    assert CAL.add(sh(2026, 2, 13, 10), 1, "working_days") == sh(2026, 2, 14, 17, 30)
    assert CAL.add(sh(2026, 2, 13, 10), 5, "working_days") == sh(2026, 2, 27, 17, 30)
    assert CAL.add(sh(2026, 2, 13, 10), 6, "working_days") == sh(2026, 2, 28, 17, 30)  # Saturday worked


def test_working_days_across_national_day_2025_and_2026():
    # 2025: Fri 9/26 → Sun 9/28 (make-up), Mon 9/29, Tue 9/30, then 10/1–10/8 off, Thu 10/9.
    assert CAL.add(sh(2025, 9, 26, 15), 4, "working_days") == sh(2025, 10, 9, 17, 30)
    # 2026: Wed 9/30 → 10/1–10/7 off → Thu 10/8, Fri 10/9, Sat 10/10 (make-up).
    assert CAL.add(sh(2026, 9, 30, 9), 3, "working_days") == sh(2026, 10, 10, 17, 30)


def test_working_hours_skip_lunch_nights_and_holidays():
    assert CAL.add(sh(2026, 11, 23, 11), 2, "working_hours") == sh(2026, 11, 23, 15)      # lunch skipped
    assert CAL.add(sh(2026, 11, 23, 12, 30), 1, "working_hours") == sh(2026, 11, 23, 15)  # starts in lunch
    assert CAL.add(sh(2026, 11, 23, 19), 1, "working_hours") == sh(2026, 11, 24, 9, 30)   # after hours
    assert CAL.add(sh(2026, 11, 20, 17), 4, "working_hours") == sh(2026, 11, 23, 12)      # over a weekend
    assert CAL.add(sh(2026, 9, 30, 17), 1, "working_hours") == sh(2026, 10, 8, 9)         # National Day


def test_natural_hours_ignore_the_calendar():
    assert CAL.add(sh(2026, 2, 16, 23), 2, "hours") == sh(2026, 2, 17, 1)


def test_year_end_2026_into_2027_is_provisional_and_never_crashes():
    """DOMAIN.md §5: a year chinese-calendar does not cover is provisional: weekends and the law's days."""
    assert CAL.year_is_provisional(2027) and not CAL.year_is_provisional(2026)
    assert CAL.year_basis(2027) == "law" and CAL.year_basis(2026) == "national"
    assert CAL.is_provisional(date(2027, 1, 1))
    # Thu 2026-12-31 + 1 wd: Fri 2027-01-01 is 元旦 by law, the weekend follows → Mon 01-04.
    assert CAL.add(sh(2026, 12, 31, 10), 1, "working_days") == sh(2027, 1, 4, 17, 30)
    assert CAL.add(sh(2026, 12, 31, 10), 2, "working_days") == sh(2027, 1, 5, 17, 30)


# The law's days (全国年节及纪念日放假办法 as amended 2024; 13 days since 2025), DOMAIN.md §5. The official
# spans are the State Council's notices for 2025 and 2026 (DOMAIN.md §5's table).
OFFICIAL = {
    2025: ["2025-01-01", ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"), ("2025-05-01", "2025-05-05"),
           ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08")],
    2026: [("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
           ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
           ("2026-10-01", "2026-10-07")],
}


def _official_days(year: int) -> set[date]:
    days: set[date] = set()
    for span in OFFICIAL[year]:
        first, last = (span, span) if isinstance(span, str) else span
        day = date.fromisoformat(first)
        while day <= date.fromisoformat(last):
            days.add(day)
            day = date.fromordinal(day.toordinal() + 1)
    return days


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_laws_days_fall_inside_the_official_holidays(year):
    """DOMAIN.md §5: the 13 statutory days (除夕 and 5月2日 added in 2025), the lunar ones from the lunar
    calendar, and the weekdays owed for those on a weekend (补假), all lie inside the notice's holidays."""
    law = statutory_days(year)
    assert set(law) <= _official_days(year), sorted(set(law) - _official_days(year))
    assert sum(1 for name in law.values() if not name.endswith("（补假）")) == 13
    # and they agree with chinese-calendar's data for the year: every one a day off
    assert not any(CAL.is_workday(day) for day in law)


def test_the_lunar_and_solar_term_days_of_2025_and_2026():
    """DOMAIN.md §5: 除夕 and 正月初一..初三, 清明 (the solar term's day), 端午 (五月初五), 中秋 (八月十五)."""
    named = {year: {name: sorted(d for d, n in statutory_days(year).items() if n == name)
                    for name in ("春节", "清明节", "端午节", "中秋节")} for year in (2025, 2026)}
    assert named[2025] == {"春节": [date(2025, 1, 28), date(2025, 1, 29), date(2025, 1, 30), date(2025, 1, 31)],
                           "清明节": [date(2025, 4, 4)], "端午节": [date(2025, 5, 31)], "中秋节": [date(2025, 10, 6)]}
    assert named[2026] == {"春节": [date(2026, 2, 16), date(2026, 2, 17), date(2026, 2, 18), date(2026, 2, 19)],
                           "清明节": [date(2026, 4, 5)], "端午节": [date(2026, 6, 19)], "中秋节": [date(2026, 9, 25)]}


def test_2027_provisional_holidays_from_the_law():
    """DOMAIN.md §5: 2027 before its notice: 元旦 Fri 1/1; 春节 除夕 Fri 2/5 – 初三 Mon 2/8 (初一 and 初二 on the
    weekend → 补假 Tue 2/9 and Wed 2/10); 清明 Mon 4/5; 劳动节 Sat 5/1–Sun 5/2 (补假 Mon 5/3, Tue 5/4); 端午 Wed
    6/9; 中秋 Wed 9/15; 国庆 Fri 10/1–Sun 10/3 (补假 Mon 10/4, Tue 10/5). No 调休 make-up day is predicted."""
    law = statutory_days(2027)
    assert {d.isoformat(): name for d, name in law.items()} == {
        "2027-01-01": "元旦",
        "2027-02-05": "春节", "2027-02-06": "春节", "2027-02-07": "春节", "2027-02-08": "春节",
        "2027-02-09": "春节（补假）", "2027-02-10": "春节（补假）",
        "2027-04-05": "清明节",
        "2027-05-01": "劳动节", "2027-05-02": "劳动节", "2027-05-03": "劳动节（补假）", "2027-05-04": "劳动节（补假）",
        "2027-06-09": "端午节",
        "2027-09-15": "中秋节",
        "2027-10-01": "国庆节", "2027-10-02": "国庆节", "2027-10-03": "国庆节",
        "2027-10-04": "国庆节（补假）", "2027-10-05": "国庆节（补假）",
    }
    days = {d.day: d for d in CAL.year_days(2027)}
    assert days[date(2027, 2, 9)].holiday == "春节（补假）" and not days[date(2027, 2, 9)].workday
    assert days[date(2027, 2, 9)].provisional
    assert days[date(2027, 2, 20)].workday is False  # a Saturday: no 调休 can be predicted
    assert days[date(2027, 2, 11)].workday is True


def test_a_holiday_on_another_holidays_day_is_owed_a_weekday_too():
    """DOMAIN.md §5 / the law's article 6: 2028's 中秋 falls on 国庆's third day and 国庆 starts on a Sunday:
    two weekdays owed after the break; 元旦 on a Saturday is owed Monday 1/3."""
    law = statutory_days(2028)
    assert law[date(2028, 1, 3)] == "元旦（补假）"
    assert [law[date(2028, 10, d)] for d in (4, 5)] == ["国庆节（补假）", "中秋节（补假）"]
    assert date(2028, 10, 6) not in law


def test_overrides_win_over_the_national_data_and_the_fallback():
    cal = WorkCalendar(overrides={date(2027, 1, 1): False, date(2026, 11, 21): True})
    assert not cal.is_workday(date(2027, 1, 1)) and not cal.is_provisional(date(2027, 1, 1))
    assert cal.add(sh(2026, 12, 31, 10), 1, "working_days") == sh(2027, 1, 4, 17, 30)
    assert cal.add(sh(2026, 11, 20, 16), 1, "working_days") == sh(2026, 11, 21, 17, 30)


def test_elapsed_is_the_inverse_of_add():
    start = sh(2026, 2, 13, 10)
    for amount, unit in ((7, "working_hours"), (3, "working_days"), (30, "hours")):
        due = CAL.add(start, amount, unit)
        if unit == "working_days":
            # From Fri 10:00: 5.5 h left on Friday, then 3 full days of 7 h.
            assert CAL.elapsed(start, due, unit) == pytest.approx((5.5 + 21) / 7)
        else:
            assert CAL.elapsed(start, due, unit) == pytest.approx(amount)
    # Backwards over 10–12 and 14–15.
    assert CAL.elapsed(sh(2026, 11, 23, 15), sh(2026, 11, 23, 10), "working_hours") == pytest.approx(-3.0)


def test_yellow_point_at_seventy_percent_of_the_budget():
    # 10 h natural → 7 h.
    assert CAL.point_at_fraction(sh(2026, 11, 23, 8), 10, "hours", 0.7) == sh(2026, 11, 23, 15)
    # 10 working hours from Mon 08:30 → 7 h = Mon 17:30 exactly.
    assert CAL.point_at_fraction(sh(2026, 11, 23, 8, 30), 10, "working_hours", 0.7) == sh(2026, 11, 23, 17, 30)
    # 1 wd from Mon 10:00: budget Mon 5.5 h (10–12, 14–17:30) + Tue 7 h = 12.5 h; 70 % = 8.75 h
    # → 3.25 h into Tuesday → 11:45.
    assert CAL.point_at_fraction(sh(2026, 11, 23, 10), 1, "working_days", 0.7) == sh(2026, 11, 24, 11, 45)


def test_naive_datetimes_and_bad_amounts_are_refused():
    with pytest.raises(ValueError):
        CAL.add(datetime(2026, 11, 23, 10), 1, "working_days")
    with pytest.raises(ValueError):
        CAL.elapsed(datetime(2026, 11, 23, 10), sh(2026, 11, 23, 12), "hours")
    with pytest.raises(ValueError):
        CAL.add(sh(2026, 11, 23), -1, "hours")
    with pytest.raises(ValueError):
        CAL.add(sh(2026, 11, 23), 1.5, "working_days")
    with pytest.raises(ValueError):
        WorkCalendar(periods=((time(14), time(12)),))


def test_year_listing_names_holidays_and_marks_provisional_years():
    days = {d.day: d for d in CAL.year_days(2026)}
    assert len(days) == 365
    assert days[date(2026, 2, 17)].holiday == "Spring Festival" and not days[date(2026, 2, 17)].workday
    assert days[date(2026, 2, 14)].workday and days[date(2026, 2, 14)].holiday is None
    future = CAL.year_days(2027)
    # 261 weekdays, less the 13 weekdays the law's days and their 补假 take
    assert all(d.provisional for d in future) and sum(d.workday for d in future) == 248


def test_working_time_over_months_counts_each_day_and_follows_a_change_of_the_days():
    """The days between two moments are counted whole (a cached count per year, issue 16's boards read it for every
    clock): across Spring Festival 2026 and into the provisional 2027, the same as adding their windows one by one;
    a change of the days (replace_days) is counted at once."""
    cal = WorkCalendar()

    def walked(start: datetime, end: datetime) -> float:
        total, day = 0.0, start.date()
        while day <= end.date():
            for a, b in cal._windows(day):
                lo, hi = max(a, start), min(b, end)
                total += max(0.0, (hi - lo).total_seconds())
            day = date.fromordinal(day.toordinal() + 1)
        return total

    start, end = datetime(2026, 1, 30, 15, 0, tzinfo=ZONE), datetime(2027, 3, 2, 9, 15, tzinfo=ZONE)
    assert cal.working_seconds_between(start, end) == walked(start, end)
    assert cal.working_seconds_between(end, start) == -walked(start, end)
    week = (datetime(2026, 3, 2, 8, 0, tzinfo=ZONE), datetime(2026, 3, 7, 8, 0, tzinfo=ZONE))  # Monday to Saturday
    assert cal.working_seconds_between(*week) == 5 * cal.day_seconds
    cal.replace_days({date(2026, 3, 4): False}, [], {})
    assert cal.working_seconds_between(*week) == 4 * cal.day_seconds == walked(*week)
