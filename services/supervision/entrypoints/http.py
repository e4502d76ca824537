"""Supervision's HTTP API: clocks, policies, the calendar, statistics, the virtual clock.

Writes become commands on the bus; reads come from views.py (and the monthly report). Domain refusals
become problems in the one handler `create_service_app` installs."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.supervision.bootstrap import SupervisionContainer, bootstrap
from services.supervision.config import SupervisionSettings
from services.supervision.domain import commands as c
from services.supervision.domain.model import PhaseClock, Policy
from services.supervision.domain.statistics import (
    METRICS,
    GroupBy,
    RankedUnit,
    Rate,
    UnitFigures,
    parse_month,
    red_and_black,
    score_units,
)
from services.supervision.service_layer.statistics import MonthReport, month_report
from services.supervision.views import board_clocks, clocks_of_incident, list_policies
from shared.auth import Caller, Principal, require_role
from shared.categories import CATEGORY_CODES
from shared.problems import Problem, problems
from shared.web import container_of, create_service_app

SupervisionApp = Annotated[SupervisionContainer, Depends(container_of)]


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(gt=0, le=366 * 24 * 3600)


Unit = Literal["hours", "working_hours", "working_days"]


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

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        if value != "*" and value not in CATEGORY_CODES:
            raise ValueError(f"unknown category {value!r}")
        return value


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


def clock_view(clock: PhaseClock, now: datetime) -> dict:
    return {"incident_id": str(clock.incident_id), "phase": clock.phase, "light": clock.light,
            "started_at": clock.started_at, "yellow_at": clock.yellow_at, "due_at": clock.due_at,
            "paused": clock.paused_at is not None,
            "extension_working_days": clock.extension_amount if clock.limit_unit == "working_days" else 0,
            "extension": {"amount": clock.extension_amount, "unit": clock.limit_unit},
            "due_version": clock.due_version, "level": clock.level,
            "remaining_seconds": round(clock.remaining_seconds(now), 3), "running": clock.running,
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


def report_header(report: MonthReport) -> dict:
    return {"month": f"{report.month:%Y-%m}", "as_of": report.as_of, "frozen": report.frozen,
            "freeze_at": report.freeze_at}


async def load_report(container: SupervisionContainer, month: str, group_by: str) -> MonthReport:
    return await month_report(container.pool, container.calendar, container.clock.now(), parse_month(month),
                              group_by)


def actor_of(caller: Principal) -> c.Actor:
    return c.Actor(caller.sub, caller.role, caller.area)


def policy_of(item: PolicyIn) -> Policy:
    ladder: dict[str, tuple[float, Unit]] = {str(k): (s.amount, s.unit) for k, s in (item.ladder or {}).items()}
    return Policy(item.category, item.urgency, item.phase, item.limit_amount, item.limit_unit, item.yellow_ratio,
                  ladder)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["supervision"])

    @router.get("/clock")
    async def get_clock(container: SupervisionApp) -> dict:
        clock = container.clock
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.post("/clock/advance", responses=problems(403, 404))
    async def advance(body: AdvanceIn, caller: Caller, container: SupervisionApp) -> dict:
        """Move the virtual clock forward (404 on a real clock; admins and supervisors only)."""
        await container.bus.handle(c.AdvanceClock(body.seconds, actor_of(caller)))
        clock = container.clock
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.get("/clocks/{incident_id}", responses=problems(404))
    async def get_clock_of(incident_id: uuid.UUID, caller: Caller, container: SupervisionApp) -> dict:
        clocks = await clocks_of_incident(container.pool, incident_id)
        visible = [clock for clock in clocks if caller.sees(clock.grid_code) or "" in caller.area]
        if not visible:
            raise Problem(404, f"no clock for incident {incident_id}")
        current = next((clock for clock in reversed(visible) if clock.running), visible[-1])
        return {**clock_view(current, container.clock.now()),
                "history": [{"phase": h.phase, "cycle": h.cycle, "light": h.light, "level": h.level,
                             "started_at": h.started_at, "due_at": h.due_at, "stopped_at": h.stopped_at}
                            for h in visible]}

    @router.get("/clocks")
    async def board(caller: Caller, container: SupervisionApp,
                    light: Literal["green", "yellow", "red"] | None = None,
                    grid_prefix: str | None = Query(None, pattern=r"^\d{1,18}$"),
                    unit: str | None = Query(None, max_length=100),
                    limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
        clocks = await board_clocks(container.pool, light=light, grid_prefix=grid_prefix, unit=unit,
                                    area=caller.area, limit=limit)
        now = container.clock.now()
        return [clock_view(clock, now) for clock in clocks]

    @router.post("/clocks/{incident_id}/escalate", responses=problems(403, 404, 409))
    async def escalate(incident_id: uuid.UUID, body: EscalateIn, caller: Caller,
                       container: SupervisionApp) -> dict:
        require_role(caller, "supervisor", "leader")
        clock = await container.bus.handle(c.EscalateClock(incident_id, body.level, actor_of(caller), body.note))
        return clock_view(clock, container.clock.now())

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
        calendar = container.calendar
        days = calendar.year_days(year)
        return {"year": year, "provisional": calendar.year_is_provisional(year),
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

    @router.get("/stats")
    async def stats(caller: Caller, container: SupervisionApp,
                    month: str = Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (Asia/Shanghai)"),
                    group_by: GroupBy = "street") -> dict:
        """Counts and rates per unit for a month, each with numerator and denominator (DOMAIN.md §6)."""
        report = await load_report(container, month, group_by)
        territorial = group_by not in ("department", "unit")
        rows = [figures_view(u) for u in report.units
                if not territorial or "" in caller.area or caller.sees(u.key)]
        return {**report_header(report), "group_by": group_by,
                "definitions": {m: {"name": name, "numerator": what} for m, (name, what) in METRICS.items()},
                "rows": rows}

    @router.get("/rankings")
    async def rankings(caller: Caller, container: SupervisionApp,
                       month: str = Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (Asia/Shanghai)"),
                       level: Literal["grid", "community", "street", "district", "department"] = "street") -> dict:
        """红黑榜: the level's units by score; fewer than 10 cases are listed without a rank."""
        report = await load_report(container, month, level)
        ranked = score_units(report.units)
        red, black = red_and_black(ranked)
        return {**report_header(report), "level": level,
                "score": "100 × (0.10 及时签收 + 0.25 按期办结 + 0.10 响应 + 0.30 解决 + 0.25 满意) "
                         "− 10 × (回退 + 重办 + 返工) − 督办 points (≤ 20); a missing rate takes the level's mean",
                "units": [ranked_view(r) for r in ranked],
                "red_list": [r.figures.key for r in red], "black_list": [r.figures.key for r in black]}

    return router


def create_app(settings: SupervisionSettings | None = None,
               container: SupervisionContainer | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()

    async def start() -> SupervisionContainer:
        return container or await bootstrap(settings)

    return create_service_app("supervision", "Supervision: clocks, lights, 督办", start, [build_router()],
                              jwt_secret=settings.auth_jwt_secret.get_secret_value())
