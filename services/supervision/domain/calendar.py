"""The calendar supervision keeps: dates overridden by hand and whole years imported from the State Council's
notice, on top of the national schedule (shared/calendar.py). Pure: the rows come in, a WorkCalendar goes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.supervision.domain.errors import InvalidSchedule
from shared.calendar import WorkCalendar


@dataclass(frozen=True)
class CalendarRecord:
    """What the database says about the calendar: per-date overrides, their notes, imported years."""

    overrides: dict[date, bool]
    notes: dict[date, str]
    imported_years: set[int]


def calendar_from(record: CalendarRecord, like: WorkCalendar) -> WorkCalendar:
    names = {d: note for d, note in record.notes.items() if not record.overrides.get(d, True)}
    return WorkCalendar(record.overrides, like.periods, record.imported_years, names)


def year_schedule(year: int, holidays: dict[date, str], workdays: set[date]) -> dict[date, bool]:
    """Every date of the year: a listed holiday is off, a listed make-up day (调休) is worked, the rest
    follow the week. Explicit for every date, so the import alone decides the year."""
    listed = [*holidays, *workdays]
    if outside := sorted(d for d in listed if d.year != year):
        raise InvalidSchedule(f"dates outside {year}: {', '.join(map(str, outside))}")
    if both := sorted(set(holidays) & workdays):
        raise InvalidSchedule(f"dates listed as both holiday and working day: {', '.join(map(str, both))}")
    first = date(year, 1, 1)
    days = [first + timedelta(n) for n in range((date(year + 1, 1, 1) - first).days)]
    return {d: d in workdays or (d.weekday() < 5 and d not in holidays) for d in days}
