"""The monthly report: live until the month freezes, then computed once as of the freeze and stored. The
quarterly report adds up its months' reports (DOMAIN.md §6: seed 002 ranked quarterly), so it is frozen once its
last month is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.supervision.domain.commands import FreezeMonth
from services.supervision.domain.errors import InvalidQuarter, MonthNotStarted
from services.supervision.domain.statistics import (
    UnitFigures,
    add_up,
    freeze_at,
    month_bounds,
    quarter_label,
    quarter_months,
)
from services.supervision.views import frozen_figures, monthly_figures
from shared.calendar import WorkCalendar
from shared.messagebus import MessageBus


@dataclass(frozen=True)
class MonthReport:
    month: date
    group_by: str
    as_of: datetime
    freeze_at: datetime
    frozen: bool
    units: list[UnitFigures]


@dataclass(frozen=True)
class QuarterReport:
    quarter: date  # its first month
    months: list[date]  # those begun: a live quarter has fewer than three
    group_by: str
    as_of: datetime
    freeze_at: datetime  # its last month's freeze
    frozen: bool
    units: list[UnitFigures]

    @property
    def label(self) -> str:
        return quarter_label(self.quarter)


async def month_report(pool: asyncpg.Pool, bus: MessageBus[Any], calendar: WorkCalendar, now: datetime,
                       month: date, group_by: str) -> MonthReport:
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
        await bus.handle(FreezeMonth(month, group_by, freeze, tuple(computed)))
        stored = await frozen_figures(pool, month, group_by) or computed
    return MonthReport(month, group_by, freeze, freeze, True, stored)


async def quarter_report(pool: asyncpg.Pool, bus: MessageBus[Any], calendar: WorkCalendar, now: datetime,
                         quarter: date, group_by: str) -> QuarterReport:
    """The quarter's months begun so far, added up (each month frozen or live as it stands)."""
    months = [m for m in quarter_months(quarter) if month_bounds(m)[0] <= now]
    if not months:
        raise InvalidQuarter(f"{quarter_label(quarter)} has not started yet")
    reports = [await month_report(pool, bus, calendar, now, month, group_by) for month in months]
    frozen = len(reports) == 3 and all(r.frozen for r in reports)
    last_freeze = freeze_at(quarter_months(quarter)[-1], calendar)
    return QuarterReport(quarter, months, group_by, last_freeze if frozen else now, last_freeze, frozen,
                         add_up([r.units for r in reports]))
