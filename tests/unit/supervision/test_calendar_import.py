"""A year's schedule as the State Council publishes it, turned into one decision per date."""

from __future__ import annotations

from datetime import date

import pytest

from services.supervision.domain.calendar import year_schedule
from services.supervision.domain.errors import InvalidSchedule


def test_listed_days_decide_and_the_rest_follow_the_week():
    days = year_schedule(2027, {date(2027, 2, 8): "春节", date(2027, 2, 6): "春节"}, {date(2027, 2, 20)})
    assert len(days) == 365
    assert days[date(2027, 2, 8)] is False        # a Monday holiday
    assert days[date(2027, 2, 20)] is True        # a Saturday make-up day (调休)
    assert days[date(2027, 2, 21)] is False       # an ordinary Sunday
    assert days[date(2027, 3, 1)] is True         # an ordinary Monday


def test_dates_outside_the_year_or_listed_twice_are_refused():
    with pytest.raises(InvalidSchedule, match="outside 2027"):
        year_schedule(2027, {date(2026, 12, 31): "元旦"}, set())
    with pytest.raises(InvalidSchedule, match="both"):
        year_schedule(2027, {date(2027, 10, 1): "国庆节"}, {date(2027, 10, 1)})
