"""Monthly and quarterly statistics and the 红黑榜 ranking (DOMAIN.md §6). Pure: counts in, rates and scores out.

The counts come from supervision's fact tables (adapters/queries.sql, `stats_*`); every rate keeps its
numerator and denominator, and a zero denominator gives None, never 0 or 100 %. A quarter (seed 002 ranked
quarterly) is the sum of its months: each metric's numerators and denominators, cases and 督办 points added up
month by month, so its figures freeze when its last month freezes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol

from services.supervision.domain.errors import InvalidMonth, InvalidQuarter
from shared.calendar import ZONE, WorkCalendar

GroupBy = Literal["grid", "community", "street", "district", "department", "unit"]
TERRITORIAL: tuple[str, ...] = ("grid", "community", "street", "district")
GROUP_BYS: tuple[str, ...] = ("grid", "community", "street", "district", "department", "unit")
RANKED_LEVELS: tuple[str, ...] = ("grid", "community", "street", "district", "department")

# metric → (中文, what the numerator counts); the order is the order of the report.
METRICS: dict[str, tuple[str, str]] = {
    "timely_sign_rate": ("及时签收率", "sign phases due in the month and signed on time"),
    "on_time_completion_rate": ("按期办结率", "first handle phases due in the month, result on time and passed"),
    "closure_rate": ("结案率", "cases with handle due in the month closed by the freeze"),
    "response_rate": ("响应率", "answered visits where the unit had contacted the citizen"),
    "solved_rate": ("解决率", "answered visits where the problem is solved (solved = yes); 部分解决 (partly) "
                              "counts in the denominator, not in the numerator"),
    "satisfaction_rate": ("满意率", "answered visits satisfied or basically satisfied"),
    "return_rate": ("回退率", "assignments received in the month that the unit returned"),
    "urge_rate": ("催办率", "assignments received in the month that 12345 or the centre urged (催办) at least "
                            "once; shown, not scored"),
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
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the years the statistics (and the calendar's API) know


class Named(Protocol):
    """What an assignment event says of a unit (shared.events.routing.Owner)."""

    @property
    def unit_id(self) -> str: ...

    @property
    def unit_name(self) -> str: ...

    @property
    def unit_kind(self) -> str: ...


@dataclass(frozen=True)
class UnitName:
    """A name seen for a key the statistics group by: `kind` is a territorial level (key = the area's code) or
    "unit" (key = the unit's id, for departments and single units)."""

    kind: str
    key: str
    name: str


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


    @property
    def measured(self) -> bool:
        """Whether any of its rates was measured (a denominator above zero)."""
        return any(rate.denominator > 0 for rate in self.rates.values())


@dataclass(frozen=True)
class RankedUnit:
    figures: UnitFigures
    score: float | None  # None: no rate measured (every denominator 0): listed, neither scored nor ranked
    rank: int | None  # None: unscored, or fewer than MIN_CASES_TO_RANK cases: listed but not ranked


def parse_month(text: str) -> date:
    """'2026-03' → date(2026, 3, 1); InvalidMonth with a readable message otherwise."""
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        parsed = date(int(year), int(month), 1)
    except ValueError:
        raise InvalidMonth(f"month must look like YYYY-MM, got {text!r}") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidMonth(f"month must lie in the years {FIRST_YEAR}–{LAST_YEAR}, got {text!r}")
    return parsed


def parse_quarter(text: str) -> date:
    """'2026-Q4' → date(2026, 10, 1), the quarter's first month; InvalidQuarter otherwise."""
    year, _, number = text.partition("-Q")
    if len(year) != 4 or not year.isdigit() or number not in ("1", "2", "3", "4"):
        raise InvalidQuarter(f"quarter must look like YYYY-Qn (n = 1..4), got {text!r}")
    if not FIRST_YEAR <= int(year) <= LAST_YEAR:
        raise InvalidQuarter(f"quarter must lie in the years {FIRST_YEAR}–{LAST_YEAR}, got {text!r}")
    return date(int(year), 3 * int(number) - 2, 1)


def quarter_months(first: date) -> list[date]:
    return [date(first.year, first.month + n, 1) for n in range(3)]


def quarter_label(first: date) -> str:
    return f"{first.year}-Q{(first.month - 1) // 3 + 1}"


def add_up(months: list[list[UnitFigures]]) -> list[UnitFigures]:
    """Several months' figures as one period's: per key, every metric's numerator and denominator, the cases
    and the 督办 points summed (a case that counts in two months counts twice); the latest name known."""
    units: dict[str, UnitFigures] = {}
    for month in months:
        for figures in month:
            total = units.setdefault(figures.key, UnitFigures(figures.key))
            total.name = figures.name or total.name
            total.cases += figures.cases
            total.escalation_points += figures.escalation_points
            for metric, rate in figures.rates.items():
                known = total.rates.get(metric, Rate(0, 0))
                total.rates[metric] = Rate(known.numerator + rate.numerator, known.denominator + rate.denominator)
    return sorted(units.values(), key=lambda u: u.key)


def names_seen(owner: Named, co_owners: Iterable[Named], areas: Mapping[str, str | None]) -> list[UnitName]:
    """The names an assignment tells: each unit by its id, and a territorial unit also as its area's name.

    Routing names the owner (and a territorial co-owner) as the unit of the case's own grid, community, street
    or district at the unit's level, so a unit of kind `street` names the event's `street_code`. Areas whose
    unit never owned or co-owned a case that supervision saw stay unnamed (codes only reach supervision)."""
    names: dict[tuple[str, str], str] = {}
    for unit in (*co_owners, owner):  # the owner last: it wins a tie
        if not unit.unit_name:
            continue
        names[("unit", unit.unit_id)] = unit.unit_name
        if unit.unit_kind in TERRITORIAL and (code := areas.get(f"{unit.unit_kind}_code")):
            names[(unit.unit_kind, code)] = unit.unit_name
    return [UnitName(kind, key, name) for (kind, key), name in names.items()]


@dataclass(frozen=True)
class StoredName:
    """A name as the store keeps it: the name last seen for its key, and when."""

    name: str
    seen_at: datetime


def names_to_store(stored: Mapping[tuple[str, str], StoredName],
                   told: Iterable[tuple[UnitName, datetime]]) -> dict[tuple[str, str], StoredName]:
    """What to write after `told` (each assignment's names with its time, in order), given the names `stored` for
    their keys: a key not stored yet takes its first name; a stored one changes only to a different name seen no
    earlier (a late event does not undo a rename). Only the keys that change, each with its last value."""
    now_stored = dict(stored)
    changed: dict[tuple[str, str], StoredName] = {}
    for name, seen_at in told:
        key = (name.kind, name.key)
        current = now_stored.get(key)
        if current is None or (current.name != name.name and current.seen_at <= seen_at):
            now_stored[key] = changed[key] = StoredName(name.name, seen_at)
    return changed


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
    other weights are rescaled, so a level without visits is ranked on what it does have. A unit with no
    measured rate at all (every denominator 0) would be scored on the level's means alone: it is listed
    last, unscored and unranked.
    """
    measured = [u for u in units if u.measured]
    means: dict[str, float | None] = {}
    for metric in (*SCORE_WEIGHTS, *PENALTY_RATES):
        values = [v for u in measured if (v := u.rate(metric)) is not None]
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

    scored = [(unit, score(unit)) for unit in measured]
    eligible = sorted((pair for pair in scored if pair[0].cases >= MIN_CASES_TO_RANK),
                      key=lambda p: (-p[1], p[0].escalation_points, -p[0].cases, p[0].key))
    listed = sorted((pair for pair in scored if pair[0].cases < MIN_CASES_TO_RANK),
                    key=lambda p: (-p[1], p[0].key))
    unscored = sorted((u for u in units if not u.measured), key=lambda u: u.key)
    return ([RankedUnit(unit, value, rank) for rank, (unit, value) in enumerate(eligible, 1)]
            + [RankedUnit(unit, value, None) for unit, value in listed]
            + [RankedUnit(unit, None, None) for unit in unscored])


def red_and_black(ranked: list[RankedUnit]) -> tuple[list[RankedUnit], list[RankedUnit]]:
    """红榜 (top five) and 黑榜 (bottom five, worst first); a unit is never on both."""
    eligible = [r for r in ranked if r.rank is not None]
    red = eligible[:LIST_LENGTH]
    rest = eligible[len(red):]
    return red, list(reversed(rest[-LIST_LENGTH:]))
