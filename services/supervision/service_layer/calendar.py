"""Calendar changes: a date overridden, or a whole year's schedule imported; running clocks follow.

Every running clock counted in working time is counted again on the new calendar (PhaseClock.rebase), in the
same transaction as the change, so a light never runs on a stale calendar: a due that moved later turns its
light back (green or yellow), one that moved earlier fires what it now reaches, each once per due version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, time

from services.supervision.domain.calendar import calendar_from
from services.supervision.domain.model import Policy
from services.supervision.service_layer.unit_of_work import CalendarDays, SupervisionUnitOfWork
from shared.calendar import ZONE, WorkCalendar

REBASE_BATCH = 1000


async def change_calendar(uow: SupervisionUnitOfWork, calendar: WorkCalendar, earliest: date,
                          change: Callable[[CalendarDays], Awaitable[None]]) -> int:
    """Apply `change`, recount running clocks whose thresholds reach `earliest` or later, commit, and
    update this process's calendar. Returns how many clocks moved."""
    moved = 0
    async with uow:
        version = await uow.calendar_days.begin_change()  # every clock counted on the old days is committed now
        old = calendar_from(await uow.calendar_days.record(), calendar)
        await change(uow.calendar_days)
        new = calendar_from(await uow.calendar_days.record(), calendar)
        if old.overrides != new.overrides or old.imported_years != new.imported_years:
            moved = await _recount(uow, old, new, earliest)
        await uow.commit()
    calendar.replace_days(new.overrides, new.imported_years, new.holiday_names, version)
    return moved


async def refresh_calendar(uow: SupervisionUnitOfWork, calendar: WorkCalendar) -> None:
    """Bring this process's calendar up to the stored version (another process may have changed a
    date a moment ago). Called before a handler starts or moves a clock, ahead of any other lock it takes: a
    calendar change under way is waited for, and one that starts later waits for this transaction, so no clock
    is ever counted on days its recount does not know of."""
    version = await uow.calendar_days.current_version()
    if calendar.version != version:
        fresh = calendar_from(await uow.calendar_days.record(), calendar)
        calendar.replace_days(fresh.overrides, fresh.imported_years, fresh.holiday_names, version)


async def _recount(uow: SupervisionUnitOfWork, old: WorkCalendar, new: WorkCalendar, earliest: date) -> int:
    now = uow.clock.now()
    not_before = datetime.combine(earliest, time(), ZONE)
    policies: dict[tuple[str, str, str, str | None], Policy] = {}
    moved, after_id = 0, 0
    while batch := await uow.clocks.running_on_working_time(not_before, after_id, REBASE_BATCH):
        for clock in batch:
            key = (clock.category, clock.urgency, clock.phase, clock.nature)  # the policy the clock started on
            if key not in policies:
                policies[key] = await uow.policies.for_phase(*key)
            if clock.rebase(now, old, new, policies[key]):
                clock.tick(now)  # a threshold the new calendar brought before now fires, with its 督办 step
                await uow.clocks.save(clock)
                uow.collect(clock)
                moved += 1
        after_id = batch[-1].id or after_id
    return moved
