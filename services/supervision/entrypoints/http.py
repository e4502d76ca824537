"""Supervision's HTTP API: clocks, policies, the calendar, statistics, the virtual clock.

Writes become commands on the bus; reads come from views.py (and the monthly report). Domain refusals
become problems in the one handler `create_service_app` installs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.supervision.bootstrap import SupervisionContainer, bootstrap
from services.supervision.config import SupervisionSettings
from services.supervision.domain import commands as c
from services.supervision.domain.errors import InvalidPeriod
from services.supervision.domain.model import ANY, NATURES, PhaseClock, Policy
from services.supervision.domain.statistics import (
    METRICS,
    GroupBy,
    RankedUnit,
    Rate,
    UnitFigures,
    parse_month,
    parse_quarter,
    red_and_black,
    score_units,
)
from services.supervision.entrypoints.access import ACCESS, DEV_ACCESS
from services.supervision.entrypoints.dev import build_dev_router, dev_sign_in_enabled
from services.supervision.entrypoints.export import (
    FILE_RESPONSES,
    ExportFormat,
    file_response,
    rankings_table,
    stats_table,
    wanted_format,
)
from services.supervision.entrypoints.metrics import ClockMetrics
from services.supervision.service_layer.statistics import MonthReport, QuarterReport, month_report, quarter_report
from services.supervision.views import board_clocks, clocks_of_incident, list_policies
from shared.auth import Caller, Principal, require_role
from shared.calendar import WorkCalendar
from shared.categories import CATEGORY_CODES
from shared.events.intake import NATURE_NAMES
from shared.problems import Problem, problems
from shared.web import container_of, create_service_app

SupervisionApp = Annotated[SupervisionContainer, Depends(container_of)]


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(gt=0, le=366 * 24 * 3600)


Unit = Literal["hours", "working_hours", "working_days"]
BoardLevel = Literal["none", "reminder", "yellow_card", "red_card", "leader"]


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: float = Field(gt=0, le=1000)
    unit: Unit


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(description="a category code, or * for any")
    urgency: Literal["normal", "urgent", "emergency"]
    phase: Literal["sign", "handle", "verify"]
    limit_amount: float = Field(gt=0, le=1000)
    limit_unit: Unit
    yellow_ratio: float = Field(0.7, gt=0, lt=1)
    ladder: dict[Literal["red_card", "leader"], StepIn] | None = None
    nature: str | None = Field(
        None, description="事项性质 of a 12345 order (DOMAIN.md §7), in English (consultation, request, complaint, "
                          "report, suggestion, praise) or Chinese (咨询, 求助, 投诉, 举报, 建议, 表扬); * or absent "
                          "for any", examples=["complaint", "咨询"])

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != "*" and value not in CATEGORY_CODES:
            raise ValueError(f"unknown category {value!r}")
        return value

    @field_validator("nature")
    @classmethod
    def _nature_in_english(cls, value: str | None) -> str:
        """Kept in English, as the events carry it; absent is '*' (any nature)."""
        nature = NATURE_NAMES.get(value, value) if value else ANY
        if nature != ANY and nature not in NATURES:
            raise ValueError(f"unknown nature {value!r}: * or one of {', '.join((*NATURES, *NATURE_NAMES))}")
        return nature


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workday: bool
    note: str | None = Field(None, max_length=200)


class HolidayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=20, examples=["春节"])
    first: date = Field(alias="from")
    last: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> HolidayIn:
        if self.last < self.first or (self.last - self.first).days > 31:
            raise ValueError("a holiday runs from a date to the same or a later date, within 31 days")
        return self

    def days(self) -> list[date]:
        return [self.first + timedelta(n) for n in range((self.last - self.first).days + 1)]


class ScheduleIn(BaseModel):
    """The year's notice (国务院办公厅关于…部分节假日安排的通知)."""

    model_config = ConfigDict(extra="forbid")
    holidays: list[HolidayIn] = Field(max_length=40)
    workdays: list[date] = Field(default_factory=list, max_length=40, description="调休 make-up working days")
    source: str | None = Field(None, max_length=200, description="e.g. 国办发明电〔2026〕X号")


class EscalateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["reminder", "yellow_card", "red_card", "leader"]
    note: str = Field("", max_length=2000, description="领导批示")


def clock_view(clock: PhaseClock, now: datetime, calendar: WorkCalendar) -> dict:
    """A clock as the boards and the case page read it. `remaining_seconds` is natural time to due;
    `remaining_working_seconds` the working time (the calendar's, pauses kept out), what a countdown shows for a
    limit in working time (`counts_in`); `counting` says whether it runs down right now."""
    return {"incident_id": str(clock.incident_id), "phase": clock.phase, "light": clock.light,
            "started_at": clock.started_at, "yellow_at": clock.yellow_at, "due_at": clock.due_at,
            "paused": clock.paused_at is not None,
            "extension_working_days": clock.extension_amount if clock.limit_unit == "working_days" else 0,
            "extension": {"amount": clock.extension_amount, "unit": clock.limit_unit},
            "due_version": clock.due_version, "level": clock.level,
            "remaining_seconds": round(clock.remaining_seconds(now), 3), "running": clock.running,
            "remaining_working_seconds": round(clock.remaining_working_seconds(now, calendar), 3),
            "counts_in": clock.counts_in, "counting": clock.counting(now, calendar),
            "working_day_seconds": calendar.day_seconds, "limit": {"amount": clock.limit_amount,
                                                                   "unit": clock.limit_unit},
            "grid_code": clock.grid_code, "unit_id": clock.unit_id, "category": clock.category,
            "urgency": clock.urgency}


def figures_view(unit: UnitFigures) -> dict:
    metrics = {}
    for metric in METRICS:
        rate = unit.rates.get(metric, Rate(0, 0))
        metrics[metric] = {"numerator": rate.numerator, "denominator": rate.denominator,
                           "rate": None if rate.value is None else round(rate.value, 4)}
    return {"key": unit.key, "name": unit.name, "cases": unit.cases,
            "escalation_points": unit.escalation_points, "metrics": metrics}


def ranked_view(ranked: RankedUnit) -> dict:
    return {"rank": ranked.rank, "score": ranked.score, **figures_view(ranked.figures)}


def report_header(report: MonthReport | QuarterReport) -> dict:
    """The period: a month, or a quarter (`month` null) with the months begun so far that it adds up."""
    period: dict[str, object]
    if isinstance(report, MonthReport):
        period = {"month": f"{report.month:%Y-%m}", "quarter": None}
    else:
        period = {"month": None, "quarter": report.label, "months": [f"{m:%Y-%m}" for m in report.months]}
    return {**period, "as_of": report.as_of, "frozen": report.frozen, "freeze_at": report.freeze_at}


async def load_report(container: SupervisionContainer, month: str | None, quarter: str | None,
                      group_by: str) -> MonthReport | QuarterReport:
    if (month is None) == (quarter is None):
        raise InvalidPeriod("give one period: month=YYYY-MM or quarter=YYYY-Qn")
    now = container.clock.now()
    if month is not None:
        return await month_report(container.pool, container.bus, container.calendar, now, parse_month(month),
                                  group_by)
    assert quarter is not None
    return await quarter_report(container.pool, container.bus, container.calendar, now, parse_quarter(quarter),
                                group_by)


MONTH = Query(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (Asia/Shanghai); give month or quarter")
QUARTER = Query(None, pattern=r"^\d{4}-Q[1-4]$",
                description="YYYY-Qn, instead of month: the quarter's figures are the sums of its months' "
                            "numerators and denominators (cases and 督办 points too), live until its last month "
                            "freezes (close of the following month's 5th working day), then frozen")


EXPORT = Query(None, alias="format", description="csv or xlsx: the same table as a file to download (Chinese "
                                                 "headers; in XLSX numbers as numbers, rates as percentages)")


def _may_see_figures(caller: Principal, group_by: str, key: str) -> bool:
    """Territorial figures are keyed by the area's code: the caller's area's. Departments and single units are
    keyed by unit id, with no place: city-wide callers see them all, a unit its own."""
    if group_by in ("department", "unit"):
        return "" in caller.area or key == caller.unit
    return caller.sees(key)



def policy_of(item: PolicyIn) -> Policy:
    ladder: dict[str, tuple[float, Unit]] = {str(k): (s.amount, s.unit) for k, s in (item.ladder or {}).items()}
    return Policy(item.category, item.urgency, item.phase, item.limit_amount, item.limit_unit, item.yellow_ratio,
                  ladder, item.nature or ANY)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["supervision"])

    @router.get("/clock")
    async def get_clock(container: SupervisionApp) -> dict:
        clock = container.clock
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.post("/clock/advance", responses=problems(403, 404))
    async def advance(body: AdvanceIn, caller: Caller, container: SupervisionApp) -> dict:
        """Move the virtual clock forward (404 on a real clock; admins and supervisors only)."""
        await container.bus.handle(c.AdvanceClock(body.seconds, caller))
        clock = container.clock
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.get("/clocks/{incident_id}", responses=problems(404))
    async def get_clock_of(incident_id: uuid.UUID, caller: Caller, container: SupervisionApp) -> dict:
        clocks = await clocks_of_incident(container.pool, incident_id)
        visible = [clock for clock in clocks if caller.sees(clock.grid_code) or "" in caller.area]
        if not visible:
            raise Problem(404, f"no clock for incident {incident_id}")
        current = next((clock for clock in reversed(visible) if clock.running), visible[-1])
        return {**clock_view(current, container.clock.now(), container.calendar),
                "history": [{"phase": h.phase, "cycle": h.cycle, "light": h.light, "level": h.level,
                             "started_at": h.started_at, "due_at": h.due_at, "stopped_at": h.stopped_at}
                            for h in visible]}

    @router.get("/clocks", responses=problems(422))
    async def board(caller: Caller, container: SupervisionApp,
                    light: list[Literal["green", "yellow", "red"]] | None = Query(
                        None, description="any of these lights (repeat: light=yellow&light=red)"),
                    grid_prefix: str | None = Query(None, pattern=r"^\d{1,18}$"),
                    unit: str | None = Query(None, max_length=100),
                    limit: int = Query(100, ge=1, le=1000),
                    level: list[BoardLevel] | None = Query(
                        None, description="督办 level of the running clock (the case's level: it carries over "
                                          "phases and 改派), any of these (repeat the parameter); level=leader is "
                                          "the 挂牌督办 board"),
                    category: str | None = Query(None, pattern=r"^[a-z_]+(\.[a-z_]+)?$", max_length=64,
                                                 description="a category code (dispute.neighbour), or its group "
                                                             "(dispute: every dispute.*)"),
                    phase: Literal["sign", "handle", "verify"] | None = None) -> list[dict]:
        """Running clocks inside the caller's area, most urgent first (boards: by light, by 督办 level; filtered
        by place, unit, category and phase)."""
        clocks = await board_clocks(container.pool, light=light, grid_prefix=grid_prefix, unit=unit,
                                    area=caller.area, limit=limit, level=level, category=category, phase=phase)
        now = container.clock.now()
        return [clock_view(clock, now, container.calendar) for clock in clocks]

    @router.post("/clocks/{incident_id}/escalate", responses=problems(403, 404, 409))
    async def escalate(incident_id: uuid.UUID, body: EscalateIn, caller: Caller,
                       container: SupervisionApp) -> dict:
        require_role(caller, "supervisor", "leader")
        clock = await container.bus.handle(c.EscalateClock(incident_id, body.level, caller, body.note))
        return clock_view(clock, container.clock.now(), container.calendar)

    @router.get("/policies")
    async def policies(caller: Caller, container: SupervisionApp) -> list[dict]:
        return await list_policies(container.pool)

    @router.put("/policies", responses=problems(403))
    async def put_policies(body: list[PolicyIn], caller: Caller, container: SupervisionApp) -> dict:
        """All the policies given, or none of them when one cannot work."""
        require_role(caller, "admin")
        updated = await container.bus.handle(c.PutPolicies(tuple(policy_of(item) for item in body)))
        return {"updated": updated}

    @router.get("/calendar/{year}")
    async def calendar_year(year: int = Path(ge=2000, le=2100), *, container: SupervisionApp) -> dict:
        """Every date of the year: worked or not, provisional or not, the holiday's name. A year the national
        data does not cover yet is provisional (basis "law"): weekends and the 13 statutory days (元旦, 春节 with
        除夕, 清明, 劳动节, 端午, 中秋, 国庆; the lunar ones from the lunar calendar), a statutory day on a
        weekend owed the next weekday (补假); 调休 cannot be predicted. Importing the year's notice replaces it."""
        calendar = container.calendar
        days = calendar.year_days(year)
        return {"year": year, "provisional": calendar.year_is_provisional(year), "basis": calendar.year_basis(year),
                "days": [{"date": d.day.isoformat(), "workday": d.workday, "provisional": d.provisional,
                          "holiday": d.holiday} for d in days]}

    @router.put("/calendar/{day}", responses=problems(403))
    async def override_day(day: date, body: OverrideIn, caller: Caller, container: SupervisionApp) -> dict:
        """One date's override; running clocks keep their remaining working time, counted anew."""
        require_role(caller, "admin")
        moved = await container.bus.handle(c.OverrideCalendarDay(day, body.workday, body.note))
        return {"date": day.isoformat(), "workday": body.workday, "note": body.note, "clocks_recounted": moved}

    @router.put("/calendar/{year}/schedule", responses=problems(403))
    async def import_year(body: ScheduleIn, caller: Caller, container: SupervisionApp,
                          year: int = Path(ge=2000, le=2100)) -> dict:
        """A whole year as the State Council publishes it (holidays and 调休 make-up days); every other
        date follows the week. Replaces the year's overrides; the year is no longer provisional."""
        require_role(caller, "admin")
        holidays = {day: h.name for h in body.holidays for day in h.days()}
        moved = await container.bus.handle(c.ImportCalendarYear(year, holidays, frozenset(body.workdays),
                                                                body.source))
        return {"year": year, "holidays": len(holidays), "workdays": len(body.workdays), "provisional": False,
                "clocks_recounted": moved}

    @router.get("/stats", response_model=None, responses={**FILE_RESPONSES, **problems(422)})
    async def stats(caller: Caller, container: SupervisionApp, month: str | None = MONTH,
                    quarter: str | None = QUARTER, group_by: GroupBy = "street",
                    fmt: ExportFormat | None = EXPORT, accept: str | None = Header(None)) -> dict | Response:
        """Counts and rates per unit for a month (or a quarter: its months summed), each with numerator and
        denominator (DOMAIN.md §6); `definitions` says what each numerator counts. 解决率 counts solved = yes:
        a visit answered 部分解决 (partly) is in its denominator, not its numerator. `name` is the last name seen
        in an assignment (owner or co-owner) of the unit answering for the key; an area whose unit never owned
        or co-owned a case has none (null)."""
        report = await load_report(container, month, quarter, group_by)
        rows = [figures_view(u) for u in report.units if _may_see_figures(caller, group_by, u.key)]
        body = {**report_header(report), "group_by": group_by,
                "definitions": {m: {"name": name, "numerator": what} for m, (name, what) in METRICS.items()},
                "rows": rows}
        wanted = wanted_format(fmt, accept)
        return file_response(stats_table(body), wanted) if wanted else body

    @router.get("/rankings", response_model=None, responses={**FILE_RESPONSES, **problems(403, 422)})
    async def rankings(caller: Caller, container: SupervisionApp, month: str | None = MONTH,
                       quarter: str | None = QUARTER,
                       level: Literal["grid", "community", "street", "district", "department"] = "street",
                       fmt: ExportFormat | None = EXPORT, accept: str | None = Header(None)) -> dict | Response:
        """红黑榜 of a month, or of a quarter (seed 002 ranked quarterly; its figures are its months' numerators and
        denominators summed, frozen when its last month freezes): the level's units by score; fewer than 10
        cases are listed without a rank; a unit with no measured rate (every denominator 0) is listed last with
        score null and no rank, never scored on the level's means alone."""
        require_role(caller, "admin", "supervisor", "leader")
        report = await load_report(container, month, quarter, level)
        ranked = score_units(report.units)  # ranked across the whole level, then shown inside the caller's area
        red, black = red_and_black(ranked)
        ranked = [r for r in ranked if _may_see_figures(caller, level, r.figures.key)]
        red = [r for r in red if _may_see_figures(caller, level, r.figures.key)]
        black = [r for r in black if _may_see_figures(caller, level, r.figures.key)]
        body = {**report_header(report), "level": level,
                "score": "100 × (0.10 及时签收 + 0.25 按期办结 + 0.10 响应 + 0.30 解决 + 0.25 满意) "
                         "− 10 × (回退 + 重办 + 返工) − 督办 points (≤ 20); a missing rate takes the level's mean; "
                         "a unit with no measured rate is unscored (null)",
                "units": [ranked_view(r) for r in ranked],
                "red_list": [r.figures.key for r in red], "black_list": [r.figures.key for r in black]}
        wanted = wanted_format(fmt, accept)
        return file_response(rankings_table(body), wanted) if wanted else body

    return router


def create_app(settings: SupervisionSettings | None = None,
               container: SupervisionContainer | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()

    async def start() -> SupervisionContainer:
        if container is not None:
            return container
        started = await bootstrap(settings)
        # Red lights per district and the ticker's delay, for /metrics (entrypoints/metrics.py).
        started.tasks.append(asyncio.create_task(ClockMetrics(started.pool, started.clock).run()))
        return started

    routers, access = [build_router()], ACCESS
    if dev_sign_in_enabled(settings):  # elsewhere the route does not exist at all (404, not in the OpenAPI)
        routers, access = [*routers, build_dev_router(settings)], {**ACCESS, **DEV_ACCESS}
    return create_service_app("supervision", "Supervision: clocks, lights, 督办", start, routers,
                              jwt_secret=settings.auth_jwt_secret.get_secret_value(), access=access)
