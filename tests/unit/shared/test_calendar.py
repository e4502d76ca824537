"""Working-time arithmetic across China's real calendar. Expected values are worked out by hand from
the published schedules (DOMAIN.md §5), not computed by the code under test."""

from datetime import date, datetime, time

import pytest

from shared.calendar import ZONE, WorkCalendar

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


def test_year_end_2026_into_2027_is_provisional_weekdays_and_never_crashes():
    assert CAL.year_is_provisional(2027) and not CAL.year_is_provisional(2026)
    assert CAL.is_provisional(date(2027, 1, 1))
    # Thu 2026-12-31 + 1 wd → Fri 2027-01-01: without 2027 data only weekends are off.
    assert CAL.add(sh(2026, 12, 31, 10), 1, "working_days") == sh(2027, 1, 1, 17, 30)
    assert CAL.add(sh(2026, 12, 31, 10), 2, "working_days") == sh(2027, 1, 4, 17, 30)


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
    assert all(d.provisional for d in future) and sum(d.workday for d in future) == 261
