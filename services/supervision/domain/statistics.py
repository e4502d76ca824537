"""Monthly statistics and the 红黑榜 ranking (DOMAIN.md §6). Pure: counts in, rates and scores out.

The counts come from supervision's fact tables (adapters/queries.sql, `stats_*`); every rate keeps its
numerator and denominator, and a zero denominator gives None, never 0 or 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from services.supervision.domain.errors import InvalidMonth
from shared.calendar import ZONE, WorkCalendar

GroupBy = Literal["grid", "community", "street", "district", "department", "unit"]
GROUP_BYS: tuple[str, ...] = ("grid", "community", "street", "district", "department", "unit")
RANKED_LEVELS: tuple[str, ...] = ("grid", "community", "street", "district", "department")

# metric → (中文, what the numerator counts); the order is the order of the report.
METRICS: dict[str, tuple[str, str]] = {
    "timely_sign_rate": ("及时签收率", "sign phases due in the month and signed on time"),
    "on_time_completion_rate": ("按期办结率", "first handle phases due in the month, result on time and passed"),
    "closure_rate": ("结案率", "cases with handle due in the month closed by the freeze"),
    "response_rate": ("响应率", "answered visits where the unit had contacted the citizen"),
    "solved_rate": ("解决率", "answered visits where the problem is solved"),
    "satisfaction_rate": ("满意率", "answered visits satisfied or basically satisfied"),
    "return_rate": ("回退率", "assignments received in the month that the unit returned"),
    "reopen_rate": ("重办率", "cases closed in the month that were reopened"),
    "rework_rate": ("返工率", "verifications in the month that failed"),
}

# The 红黑榜 score (DOMAIN.md §6): weights of the good rates, the penalty per bad rate, 督办 points.
SCORE_WEIGHTS: dict[str, float] = {"timely_sign_rate": 0.10, "on_time_completion_rate": 0.25,
                                   "response_rate": 0.10, "solved_rate": 0.30, "satisfaction_rate": 0.25}
PENALTY_RATES: tuple[str, ...] = ("return_rate", "reopen_rate", "rework_rate")
PENALTY_WEIGHT = 10.0
MAX_ESCALATION_POINTS = 20.0
MIN_CASES_TO_RANK = 10
LIST_LENGTH = 5  # 红榜 = the top five, 黑榜 = the bottom five
FREEZE_WORKING_DAYS = 5


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass
class UnitFigures:
    """One unit's (or area's) month."""

    key: str
    name: str | None = None
    cases: int = 0
    escalation_points: float = 0.0
    rates: dict[str, Rate] = field(default_factory=dict)

    def rate(self, metric: str) -> float | None:
        rate = self.rates.get(metric)
        return rate.value if rate else None


@dataclass(frozen=True)
class RankedUnit:
    figures: UnitFigures
    score: float
    rank: int | None  # None: fewer than MIN_CASES_TO_RANK cases, listed but not ranked


def parse_month(text: str) -> date:
    """'2026-03' → date(2026, 3, 1); InvalidMonth with a readable message otherwise."""
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidMonth(f"month must look like YYYY-MM, got {text!r}") from None


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The month in Asia/Shanghai as UTC instants [start, end)."""
    following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (datetime.combine(month, time(), ZONE).astimezone(UTC),
            datetime.combine(following, time(), ZONE).astimezone(UTC))


def freeze_at(month: date, calendar: WorkCalendar) -> datetime:
    """Month M is live until the close of the 5th working day of M+1; then its figures are stored."""
    _, end = month_bounds(month)
    last_day_noon = datetime.combine(end.astimezone(ZONE).date() - timedelta(days=1), time(12), ZONE)
    return calendar.add(last_day_noon, FREEZE_WORKING_DAYS, "working_days")


def score_units(units: list[UnitFigures]) -> list[RankedUnit]:
    """Score one level's units and rank those with enough cases.

    A unit's missing rate takes the level's mean; a rate no unit of the level has drops out and the
    other weights are rescaled, so a level without visits is ranked on what it does have.
    """
    means: dict[str, float | None] = {}
    for metric in (*SCORE_WEIGHTS, *PENALTY_RATES):
        values = [v for u in units if (v := u.rate(metric)) is not None]
        means[metric] = sum(values) / len(values) if values else None
    known = {m: w for m, w in SCORE_WEIGHTS.items() if means[m] is not None}
    scale = 1 / sum(known.values()) if known else 0.0

    def score(unit: UnitFigures) -> float:
        def rate(metric: str) -> float:
            value = unit.rate(metric)
            return value if value is not None else (means[metric] or 0.0)

        good = 100 * scale * sum(weight * rate(m) for m, weight in known.items())
        penalty = PENALTY_WEIGHT * sum(rate(m) for m in PENALTY_RATES)
        return round(good - penalty - min(unit.escalation_points, MAX_ESCALATION_POINTS), 2)

    scored = [(unit, score(unit)) for unit in units]
    eligible = sorted((pair for pair in scored if pair[0].cases >= MIN_CASES_TO_RANK),
                      key=lambda p: (-p[1], p[0].escalation_points, -p[0].cases, p[0].key))
    listed = sorted((pair for pair in scored if pair[0].cases < MIN_CASES_TO_RANK),
                    key=lambda p: (-p[1], p[0].key))
    return ([RankedUnit(unit, value, rank) for rank, (unit, value) in enumerate(eligible, 1)]
            + [RankedUnit(unit, value, None) for unit, value in listed])


def red_and_black(ranked: list[RankedUnit]) -> tuple[list[RankedUnit], list[RankedUnit]]:
    """红榜 (top five) and 黑榜 (bottom five, worst first); a unit is never on both."""
    eligible = [r for r in ranked if r.rank is not None]
    red = eligible[:LIST_LENGTH]
    rest = eligible[len(red):]
    return red, list(reversed(rest[-LIST_LENGTH:]))
