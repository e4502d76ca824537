"""Calendar changes: a date overridden, or a whole year's schedule imported; running clocks follow.

The remaining working time of every running clock is kept and counted again on the new calendar
(PhaseClock.rebase), in the same transaction as the change, so a light never runs on a stale calendar.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from services.supervision.adapters.repository import CalendarDays, SupervisionRepository
from shared.calendar import ZONE, WorkCalendar

REBASE_BATCH = 1000


class InvalidSchedule(ValueError):
    pass


def calendar_from(days: CalendarDays, like: WorkCalendar) -> WorkCalendar:
    names = {d: note for d, note in days.notes.items() if not days.overrides.get(d, True)}
    return WorkCalendar(days.overrides, like.periods, days.imported_years, names)


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


async def change_calendar(uow: Any, calendar: WorkCalendar, earliest: date,
                          change: Callable[[SupervisionRepository], Awaitable[None]]) -> int:
    """Apply `change`, recount running clocks whose thresholds reach `earliest` or later, commit, and
    update this process's calendar. Returns how many clocks moved."""
    moved = 0
    async with uow:
        repo: SupervisionRepository = uow.supervision
        old = calendar_from(await repo.calendar_days(), calendar)
        await change(repo)
        new = calendar_from(await repo.calendar_days(), calendar)
        now: datetime = uow.clock.now()
        not_before = datetime.combine(earliest, time(), ZONE)
        after_id = 0
        while batch := await repo.running_working_time_clocks(not_before, after_id, REBASE_BATCH):
            for clock in batch:
                if clock.rebase(now, old, new):
                    await repo.save_clock(clock)
                    uow.collect(clock)
                    moved += 1
            after_id = batch[-1].id or after_id
        await uow.commit()
    calendar.replace_days(new.overrides, new.imported_years, new.holiday_names)
    return moved
