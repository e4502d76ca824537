"""The monthly report: live until the month freezes, then computed once as of the freeze and stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.supervision.adapters.repository import store_frozen_figures
from services.supervision.domain.errors import MonthNotStarted
from services.supervision.domain.statistics import UnitFigures, freeze_at, month_bounds
from services.supervision.views import frozen_figures, monthly_figures
from shared.calendar import WorkCalendar


@dataclass(frozen=True)
class MonthReport:
    month: date
    group_by: str
    as_of: datetime
    freeze_at: datetime
    frozen: bool
    units: list[UnitFigures]


async def month_report(pool: asyncpg.Pool, calendar: WorkCalendar, now: datetime, month: date,
                       group_by: str) -> MonthReport:
    start, _ = month_bounds(month)
    if start > now:
        raise MonthNotStarted(f"{month:%Y-%m} has not started yet")
    freeze = freeze_at(month, calendar)
    if now < freeze:
        units = await monthly_figures(pool, month, group_by, now)
        return MonthReport(month, group_by, now, freeze, False, units)
    stored = await frozen_figures(pool, month, group_by)
    if stored is None:
        # The first reader after the freeze stores the figures; later events (a late 重办, a calendar
        # change) no longer move a published month.
        computed = await monthly_figures(pool, month, group_by, freeze)
        await store_frozen_figures(pool, month, group_by, freeze, computed)
        stored = await frozen_figures(pool, month, group_by) or computed
    return MonthReport(month, group_by, freeze, freeze, True, stored)
