"""The one working-time calendar: which days are worked in China, and arithmetic in working time.

Days: an override (admin API) wins; else the State Council schedule as packaged by chinese-calendar
(holidays and 调休 make-up working days); for a year the package does not know yet (it raises for
2027 in version 1.11), the days the law itself gives (全国年节及纪念日放假办法 as amended in 2024, in force
since 2025: 13 days, the lunar ones from the lunar calendar) on top of the weekends, marked provisional until
the year's notice is imported. Times are Asia/Shanghai, given and returned as aware datetimes. Pure: no I/O.
Supervision owns the calendar (its overrides); intake uses the national schedule for its own rule of thumb
(the 2-working-day return window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from lunar_python import Lunar, Solar

ZONE = ZoneInfo("Asia/Shanghai")
Unit = Literal["hours", "working_hours", "working_days"]
Basis = Literal["imported", "national", "law"]
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))
_MAX_DAYS = 3 * 366  # a limit never spans more than this: stop instead of looping forever


@dataclass(frozen=True)
class CalendarDay:
    day: date
    workday: bool
    provisional: bool
    holiday: str | None


@lru_cache(maxsize=64)
def _national_year(year: int) -> frozenset[date] | None:
    """The workdays of a year by the national schedule, or None when the data does not cover it."""
    first = date(year, 1, 1)
    days = [first + timedelta(n) for n in range((date(year + 1, 1, 1) - first).days)]
    try:
        return frozenset(d for d in days if chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


# The law's days off (全国年节及纪念日放假办法, 国务院令第795号, in force 2025-01-01), for all citizens:
# 元旦 1 day, 春节 4 (除夕 and 正月初一–初三), 清明 1 (the solar term's day), 劳动节 2, 端午 1 (五月初五),
# 中秋 1 (八月十五), 国庆 3: 13 days.
LAW_HOLIDAYS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
MAKE_UP_SUFFIX = "（补假）"


def _lunar(year: int, month: int, day: int) -> date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _qingming(year: int) -> date:
    """The day of the 清明 solar term (April 4, 5 or 6), Beijing time."""
    for day in range(3, 8):
        if Solar.fromYmd(year, 4, day).getLunar().getJieQi() == "清明":
            return date(year, 4, day)
    raise ValueError(f"no 清明 found in April {year}")  # pragma: no cover - the term always falls there


@lru_cache(maxsize=64)
def statutory_days(year: int) -> dict[date, str]:
    """The days off the law gives in `year`, by name; what the State Council's yearly notice must contain.

    A statutory day on a Saturday or Sunday (or on another holiday's day, as 中秋 on 国庆) is owed a working
    day off (补假, the law's article 6): predicted as the first weekday after the holiday that is not off
    already, as the notices do (清明 2026 fell on a Sunday: Monday off). 调休 (weekends worked to bridge a
    holiday) is the notice's choice and cannot be predicted: none here."""
    new_year = _lunar(year, 1, 1)
    holidays: list[tuple[str, list[date]]] = [
        ("元旦", [date(year, 1, 1)]),
        ("春节", [new_year - timedelta(days=1), *(new_year + timedelta(days=n) for n in range(3))]),
        ("清明节", [_qingming(year)]),
        ("劳动节", [date(year, 5, 1), date(year, 5, 2)]),
        ("端午节", [_lunar(year, 5, 5)]),
        ("中秋节", [_lunar(year, 8, 15)]),
        ("国庆节", [date(year, 10, n) for n in (1, 2, 3)]),
    ]
    off: dict[date, str] = {}
    owed: list[tuple[str, date]] = []
    for name, days in sorted(holidays, key=lambda h: h[1][0]):
        for day in days:
            if day.weekday() >= 5 or day in off:
                owed.append((name, max(days)))
            off.setdefault(day, name)
    for name, after in owed:
        day = after + timedelta(days=1)
        while day.weekday() >= 5 or day in off:
            day += timedelta(days=1)
        off[day] = name + MAKE_UP_SUFFIX
    return dict(sorted(off.items()))


class WorkCalendar:
    def __init__(self, overrides: Mapping[date, bool] | None = None,
                 periods: Sequence[tuple[time, time]] = DEFAULT_PERIODS,
                 imported_years: Iterable[int] = (), holiday_names: Mapping[date, str] | None = None) -> None:
        if not periods or any(a >= b for a, b in periods) or any(
                periods[i][1] > periods[i + 1][0] for i in range(len(periods) - 1)):
            raise ValueError("working periods must be ordered, non-empty and not overlap")
        self.overrides = dict(overrides or {})
        # Years whose whole schedule was imported (the State Council's notice): no longer provisional.
        self.imported_years = set(imported_years)
        self.holiday_names = dict(holiday_names or {})
        self.periods = tuple(periods)
        self.day_seconds = sum(_seconds(b) - _seconds(a) for a, b in self.periods)
        # Which stored version of the days this is (supervision's calendar_state); None: never compared.
        self.version: int | None = None
        # Per year, how many working days there are before each of its days (and in all): counts whole days
        # between two moments without walking them. Dropped whenever the days change (replace_days).
        self._workdays_before: dict[int, list[int]] = {}

    def copy(self) -> WorkCalendar:
        return WorkCalendar(self.overrides, self.periods, self.imported_years, self.holiday_names)

    def replace_days(self, overrides: Mapping[date, bool], imported_years: Iterable[int],
                     holiday_names: Mapping[date, str], version: int | None = None) -> None:
        """Take another process's changes in place (every holder of this calendar sees them)."""
        self.overrides.clear()
        self.overrides.update(overrides)
        self.imported_years = set(imported_years)
        self.holiday_names.clear()
        self.holiday_names.update(holiday_names)
        self.version = version
        self._workdays_before.clear()

    # Days

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        national = _national_year(day.year)
        if national is None:
            return day.weekday() < 5 and day not in statutory_days(day.year)
        return day in national

    def year_is_provisional(self, year: int) -> bool:
        return year not in self.imported_years and _national_year(year) is None

    def year_basis(self, year: int) -> Basis:
        """Where the year's days come from: a notice imported here, chinese-calendar's data, or the law
        (provisional: weekends and the statutory days, no 调休)."""
        if year in self.imported_years:
            return "imported"
        return "law" if _national_year(year) is None else "national"

    def is_provisional(self, day: date) -> bool:
        return day not in self.overrides and self.year_is_provisional(day.year)

    def year_days(self, year: int) -> list[CalendarDay]:
        first = date(year, 1, 1)
        out = []
        for n in range((date(year + 1, 1, 1) - first).days):
            day = first + timedelta(n)
            holiday = self.holiday_names.get(day) if not self.is_workday(day) else None
            if holiday is None and not self.is_workday(day):
                if _national_year(year) is not None:
                    on_holiday, name = chinese_calendar.get_holiday_detail(day)
                    holiday = name if on_holiday and name else None
                elif year not in self.imported_years:
                    holiday = statutory_days(year).get(day)
            out.append(CalendarDay(day, self.is_workday(day), self.is_provisional(day), holiday))
        return out

    # Working time

    def _windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_workday(day):
            return []
        return [(datetime.combine(day, a, ZONE), datetime.combine(day, b, ZONE)) for a, b in self.periods]

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        start, end = _local(start), _local(end)
        if end < start:
            return -self.working_seconds_between(end, start)
        first, last = start.date(), end.date()
        total = self._worked_within(first, start, end)
        if last == first:
            return total
        # The days between the two are worked whole or not at all: a working day's periods add up to day_seconds
        # (Asia/Shanghai keeps no summer time). Counted, not walked: a clock overdue for months is read on every
        # board.
        if (last - first).days > 1:
            total += self.day_seconds * self._workdays_from(first + timedelta(1), last - timedelta(1))
        return total + self._worked_within(last, start, end)

    def _workdays_from(self, first: date, last: date) -> int:
        """How many working days there are from `first` through `last`."""
        total = 0
        for year in range(first.year, last.year + 1):
            before = self._workdays_before.get(year)
            if before is None:
                january = date(year, 1, 1)
                before = [0]
                for n in range((date(year + 1, 1, 1) - january).days):
                    before.append(before[-1] + self.is_workday(january + timedelta(n)))
                self._workdays_before[year] = before
            january = date(year, 1, 1)
            lo = (max(first, january) - january).days
            hi = (min(last, date(year, 12, 31)) - january).days
            total += before[hi + 1] - before[lo]
        return total

    def _worked_within(self, day: date, start: datetime, end: datetime) -> float:
        """The working time of `day` that lies between start and end."""
        total = 0.0
        for a, b in self._windows(day):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant when `seconds` of working time have passed since `start` (>= 0)."""
        if seconds < 0:
            raise ValueError("cannot add negative working time")
        cursor = _local(start)
        if seconds == 0:
            return cursor.astimezone(UTC)
        remaining = seconds
        day = cursor.date()
        for _ in range(_MAX_DAYS):
            for a, b in self._windows(day):
                lo = max(a, cursor)
                if lo >= b:
                    continue
                available = (b - lo).total_seconds()
                if remaining <= available:
                    return (lo + timedelta(seconds=remaining)).astimezone(UTC)
                remaining -= available
            day += timedelta(1)
        raise ValueError(f"no working time found within {_MAX_DAYS} days of {start}")

    def add(self, start: datetime, amount: float, unit: Unit) -> datetime:
        """The due time of a limit started at `start`."""
        if amount < 0:
            raise ValueError("a limit cannot be negative")
        if unit == "hours":
            return _local(start).astimezone(UTC) + timedelta(hours=amount)
        if unit == "working_hours":
            return self.add_working_seconds(start, amount * 3600)
        if unit == "working_days":
            return self._add_working_days(start, amount)
        raise ValueError(f"unknown unit {unit!r}")

    def _add_working_days(self, start: datetime, amount: float) -> datetime:
        # 次日起算: counting starts the working day after the start's date; due at its close of business.
        if amount != int(amount):
            raise ValueError("working_days must be a whole number")
        local = _local(start)
        if amount == 0:
            return local.astimezone(UTC)
        left, day = int(amount), local.date()
        for _ in range(_MAX_DAYS):
            day += timedelta(1)
            if self.is_workday(day):
                left -= 1
                if left == 0:
                    return datetime.combine(day, self.periods[-1][1], ZONE).astimezone(UTC)
        raise ValueError(f"no {amount} working days within {_MAX_DAYS} days of {start}")

    def workdays_after(self, start: date, through: date) -> int:
        """How many working days there are after `start`, up to and including `through`."""
        return sum(self.is_workday(start + timedelta(n)) for n in range(1, (through - start).days + 1))

    def closes_a_workday(self, moment: datetime) -> bool:
        """Whether `moment` is the close of business of a working day (where a working_days limit ends)."""
        local = _local(moment)
        return self.is_workday(local.date()) and local.time() == self.periods[-1][1]

    def elapsed(self, start: datetime, end: datetime, unit: Unit) -> float:
        """How much of `unit` passed between start and end (negative if end is earlier)."""
        if unit == "hours":
            return (_local(end) - _local(start)).total_seconds() / 3600
        seconds = self.working_seconds_between(start, end)
        return seconds / 3600 if unit == "working_hours" else seconds / self.day_seconds

    def point_at_fraction(self, start: datetime, amount: float, unit: Unit, fraction: float) -> datetime:
        """When `fraction` of the budget is used (0.7 → the yellow light), counted in the same time."""
        if unit == "hours":
            return _local(start).astimezone(UTC) + timedelta(hours=amount * fraction)
        if unit == "working_hours":
            return self.add_working_seconds(start, amount * 3600 * fraction)
        budget = self.working_seconds_between(start, self.add(start, amount, unit))
        return self.add_working_seconds(start, budget * fraction)


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: working time needs an aware datetime")
    return moment.astimezone(ZONE)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second
