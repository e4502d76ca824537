"""Duty rosters (排班): when a worker is on duty. Pure: no I/O.

A roster has weekly shifts (ISO weekdays and a time range in Asia/Shanghai; a range ending at or
before its start runs past midnight into the next day) and explicit periods (an extra duty day, 请假
leave, a 值班 weekend) that override the weekly shifts while they last. A worker without a roster
is on duty whenever the on_duty switch says so; with one, only inside its shifts (the switch still
takes a worker off duty, e.g. off sick, without touching the roster).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.routing.domain.errors import RosterRefused
from shared.calendar import ZONE
from shared.errors import FieldError

MINUTES_PER_DAY = 24 * 60
MAX_WEEKLY_SHIFTS = 50
MAX_PERIODS = 500


@dataclass(frozen=True)
class WeeklyShift:
    days: tuple[int, ...]  # ISO weekdays, 1 = Monday … 7 = Sunday: the days the shift starts on
    start_minute: int      # minutes after local midnight, 0 ≤ start < 1440
    end_minute: int        # 0 < end ≤ 1440; end ≤ start: the shift ends on the next day

    @property
    def overnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def covers(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        weekday = local.isoweekday()
        if not self.overnight:
            return weekday in self.days and self.start_minute <= minute < self.end_minute
        yesterday = 7 if weekday == 1 else weekday - 1
        return ((weekday in self.days and minute >= self.start_minute)
                or (yesterday in self.days and minute < self.end_minute))


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    on_duty: bool
    note: str = ""

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Roster:
    weekly: tuple[WeeklyShift, ...] = ()
    periods: tuple[Period, ...] = ()

    def on_duty_at(self, at: datetime) -> bool:
        for period in self.periods:
            if period.covers(at):
                return period.on_duty
        local = at.astimezone(ZONE)
        return any(shift.covers(local) for shift in self.weekly)


def _refusal(field: str, message: str) -> FieldError:
    return FieldError(field=field, message=message, type="roster")


def parse_clock(text: str) -> int:
    """'08:30' → 510; '24:00' is the end of the day (only meaningful as a shift's end)."""
    hours, _, minutes = text.partition(":")
    if not (len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"{text!r} is not HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is not a time of day")
    return value


def format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def build_roster(weekly: Sequence[Mapping[str, object]], periods: Sequence[Mapping[str, object]]) -> Roster:
    """A roster from plain values (days, "HH:MM" start/end; aware start/end datetimes), or RosterRefused
    naming every field that is wrong."""
    errors: list[FieldError] = []
    shifts: list[WeeklyShift] = []
    if len(weekly) > MAX_WEEKLY_SHIFTS:
        errors.append(_refusal("weekly", f"at most {MAX_WEEKLY_SHIFTS} shifts"))
    if len(periods) > MAX_PERIODS:
        errors.append(_refusal("periods", f"at most {MAX_PERIODS} periods"))
    for i, raw in enumerate(weekly):
        field = f"weekly[{i}]"
        days = raw.get("days")
        if not isinstance(days, list | tuple) or not days or not all(
                isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days):
            errors.append(_refusal(f"{field}.days", "ISO weekdays 1 (Monday) … 7 (Sunday), at least one"))
            continue
        if len(set(days)) != len(days):
            errors.append(_refusal(f"{field}.days", "a weekday appears twice"))
            continue
        try:
            start, end = parse_clock(str(raw.get("start"))), parse_clock(str(raw.get("end")))
        except ValueError as exc:
            errors.append(_refusal(field, str(exc)))
            continue
        if start == MINUTES_PER_DAY:
            errors.append(_refusal(f"{field}.start", "a shift starts before 24:00"))
            continue
        if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
            errors.append(_refusal(field, "start and end are equal: a whole day is 00:00–24:00"))
            continue
        shifts.append(WeeklyShift(tuple(sorted(days)), start, end))
    explicit: list[tuple[int, Period]] = []
    for i, raw in enumerate(periods):
        field = f"periods[{i}]"
        start_at, end_at = raw.get("start"), raw.get("end")
        if not (isinstance(start_at, datetime) and isinstance(end_at, datetime)
                and start_at.tzinfo is not None and end_at.tzinfo is not None):
            errors.append(_refusal(field, "start and end are date-times with a UTC offset"))
            continue
        if end_at <= start_at:
            errors.append(_refusal(field, "end must be after start"))
            continue
        if end_at - start_at > timedelta(days=366):
            errors.append(_refusal(field, "a period lasts at most a year"))
            continue
        explicit.append((i, Period(start_at, end_at, bool(raw.get("on_duty", True)), str(raw.get("note") or ""))))
    ordered = sorted(explicit, key=lambda item: item[1].start)
    for (i, a), (j, b) in zip(ordered, ordered[1:], strict=False):
        if b.start < a.end:
            errors.append(_refusal(f"periods[{j}]", f"overlaps periods[{i}]: which one holds would be a guess"))
    if errors:
        raise RosterRefused(errors)
    return Roster(tuple(shifts), tuple(p for _, p in sorted(explicit, key=lambda item: item[1].start)))


def roster_from_dict(stored: dict[str, list[dict[str, object]]]) -> Roster:
    """The inverse of `roster_as_dict` (a stored roster was validated when it was put)."""
    periods = [{**p, "start": datetime.fromisoformat(str(p["start"])), "end": datetime.fromisoformat(str(p["end"]))}
               for p in stored.get("periods", [])]
    return build_roster(list(stored.get("weekly", [])), periods)


def roster_as_dict(roster: Roster) -> dict[str, list[dict[str, object]]]:
    return {"weekly": [{"days": list(s.days), "start": format_clock(s.start_minute),
                        "end": format_clock(s.end_minute)} for s in roster.weekly],
            "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat(), "on_duty": p.on_duty,
                         "note": p.note} for p in roster.periods]}
