"""Supervision's HTTP API: clocks, policies, the virtual clock."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.supervision.adapters.repository import (
    SupervisionRepository,
    board_clocks,
    clocks_of_incident,
    list_policies,
    put_policy,
)
from services.supervision.bootstrap import bootstrap
from services.supervision.config import SupervisionSettings
from services.supervision.domain.model import InvalidPolicy, PhaseClock, Policy
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
from services.supervision.service_layer.calendar import InvalidSchedule, change_calendar, year_schedule
from services.supervision.service_layer.statistics import MonthNotStarted, MonthReport, month_report
from shared.auth import Caller, require_role
from shared.categories import CATEGORY_CODES
from shared.clock import VirtualClock
from shared.problems import Problem
from shared.runtime import ServiceContainer
from shared.web import Container, create_service_app


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


async def load_report(container: ServiceContainer, month: str, group_by: str) -> MonthReport:
    try:
        first_day = parse_month(month)
        return await month_report(container.pool, container.extras["calendar"], container.clock.now(),
                                  first_day, group_by)
    except (ValueError, MonthNotStarted) as exc:
        raise Problem(422, str(exc), errors=[{"field": "query.month", "message": str(exc),
                                              "type": "month"}]) from exc


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["supervision"])

    @router.get("/clock")
    async def get_clock(container: Container) -> dict:
        clock = container.clock
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.post("/clock/advance")
    async def advance(body: AdvanceIn, caller: Caller, container: Container) -> dict:
        clock = container.clock
        if not isinstance(clock, VirtualClock):
            raise Problem(404, "the clock is real; advancing needs CLOCK_MODE=virtual")
        require_role(caller, "admin", "supervisor")
        anchor = clock.advanced(body.seconds)
        await container.extras["clock_store"].save(anchor)
        clock.set_anchor(anchor)
        return {"now": clock.now().isoformat(), "mode": clock.mode, "speed": clock.speed}

    @router.get("/clocks/{incident_id}")
    async def get_clock_of(incident_id: uuid.UUID, caller: Caller, container: Container) -> dict:
        clocks = await clocks_of_incident(container.pool, incident_id)
        visible = [c for c in clocks if caller.sees(c.grid_code) or "" in caller.area]
        if not visible:
            raise Problem(404, f"no clock for incident {incident_id}")
        current = next((c for c in reversed(visible) if c.running), visible[-1])
        return {**clock_view(current, container.clock.now()),
                "history": [{"phase": c.phase, "cycle": c.cycle, "light": c.light, "level": c.level,
                             "started_at": c.started_at, "due_at": c.due_at, "stopped_at": c.stopped_at}
                            for c in visible]}

    @router.get("/clocks")
    async def board(caller: Caller, container: Container,
                    light: Literal["green", "yellow", "red"] | None = None,
                    grid_prefix: str | None = Query(None, pattern=r"^\d{1,18}$"),
                    unit: str | None = Query(None, max_length=100),
                    limit: int = Query(100, ge=1, le=1000)) -> list[dict]:
        clocks = await board_clocks(container.pool, light=light, grid_prefix=grid_prefix, unit=unit,
                                    area=caller.area, limit=limit)
        now = container.clock.now()
        return [clock_view(c, now) for c in clocks]

    @router.post("/clocks/{incident_id}/escalate")
    async def escalate(incident_id: uuid.UUID, body: EscalateIn, caller: Caller, container: Container) -> dict:
        require_role(caller, "supervisor", "leader")
        async with container.uow() as uow:
            clocks = [c for c in await uow.supervision.running_clocks(incident_id)
                      if caller.sees(c.grid_code) or "" in caller.area]
            if not clocks:
                raise Problem(404, f"no running clock for incident {incident_id}")
            clock = clocks[0]
            if not clock.escalate_by_hand(body.level, f"{caller.sub}: {body.note}", uow.clock.now()):
                raise Problem(409, f"督办 is already at {clock.level}; levels are raised, never lowered",
                              current_level=clock.level)
            await uow.supervision.save_clock(clock)
            uow.collect(clock)
            await uow.commit()
        return clock_view(clock, container.clock.now())

    @router.get("/policies")
    async def policies(caller: Caller, container: Container) -> list[dict]:
        return await list_policies(container.pool)

    @router.put("/policies")
    async def put_policies(body: list[PolicyIn], caller: Caller, container: Container) -> dict:
        require_role(caller, "admin")
        parsed = []
        for index, item in enumerate(body):
            ladder: dict[str, tuple[float, Unit]] = {str(k): (s.amount, s.unit) for k, s in (item.ladder or {}).items()}
            policy = Policy(item.category, item.urgency, item.phase, item.limit_amount, item.limit_unit,
                            item.yellow_ratio, ladder)
            try:
                policy.check()
            except InvalidPolicy as exc:
                raise Problem(422, f"policy {index}: {exc}",
                              errors=[{"field": f"body.{index}", "message": str(exc), "type": "policy"}]) from exc
            parsed.append(policy)
        for policy in parsed:
            await put_policy(container.pool, policy)
        return {"updated": len(parsed)}

    @router.get("/calendar/{year}")
    async def calendar_year(year: int = Path(ge=2000, le=2100), *, container: Container) -> dict:
        calendar = container.extras["calendar"]
        days = calendar.year_days(year)
        return {"year": year, "provisional": calendar.year_is_provisional(year),
                "days": [{"date": d.day.isoformat(), "workday": d.workday, "provisional": d.provisional,
                          "holiday": d.holiday} for d in days]}

    @router.put("/calendar/{day}")
    async def override_day(day: date, body: OverrideIn, caller: Caller, container: Container) -> dict:
        """One date's override; running clocks keep their remaining working time, counted anew."""
        require_role(caller, "admin")

        async def change(repo: SupervisionRepository) -> None:
            await repo.set_calendar_day(day, body.workday, body.note)

        moved = await change_calendar(container.uow(), container.extras["calendar"], day, change)
        return {"date": day.isoformat(), "workday": body.workday, "note": body.note, "clocks_recounted": moved}

    @router.put("/calendar/{year}/schedule")
    async def import_year(body: ScheduleIn, caller: Caller, container: Container,
                          year: int = Path(ge=2000, le=2100)) -> dict:
        """A whole year as the State Council publishes it (holidays and 调休 make-up days); every other
        date follows the week. Replaces the year's overrides; the year is no longer provisional."""
        require_role(caller, "admin")
        holidays = {day: h.name for h in body.holidays for day in h.days()}
        try:
            days = year_schedule(year, holidays, set(body.workdays))
        except InvalidSchedule as exc:
            raise Problem(422, str(exc), errors=[{"field": "body", "message": str(exc), "type": "schedule"}]) from exc

        async def change(repo: SupervisionRepository) -> None:
            await repo.replace_calendar_year(year, days, holidays, body.source)

        moved = await change_calendar(container.uow(), container.extras["calendar"], date(year, 1, 1), change)
        return {"year": year, "holidays": len(holidays), "workdays": len(body.workdays), "provisional": False,
                "clocks_recounted": moved}

    @router.get("/stats")
    async def stats(caller: Caller, container: Container,
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
    async def rankings(caller: Caller, container: Container,
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
               container: ServiceContainer | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()

    async def start() -> ServiceContainer:
        return container or await bootstrap(settings)

    return create_service_app("supervision", "Supervision: clocks, lights, 督办", start, [build_router()],
                              jwt_secret=settings.auth_jwt_secret.get_secret_value())
