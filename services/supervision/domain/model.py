"""Phase clocks (DOMAIN.md §5): one per case phase, lights at yellow_ratio and 100% of the budget,
and the 督办 ladder after the due time. Pure: the calendar does the working-time arithmetic.

Each threshold fires once per due version: the row's light and level are the memory of what fired,
and they change in the same transaction as the events that announce them.

The 督办 level belongs to the case, not to one phase (DOMAIN.md §5: raised levels are never lowered): a clock
started for a later phase, after a 改派 or a 返工 starts at the highest level the case reached in its cycle, and
its ladder fires only the levels above it. A 重办 (reopen) is a new cycle: the closing ended the 督办 ("listed
until closed"), so its clocks start afresh. The light belongs to the clock: each phase starts green.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from services.supervision.domain.errors import InvalidPolicy
from services.supervision.domain.statistics import UnitName
from shared.calendar import ZONE, WorkCalendar
from shared.events.intake import NATURE_NAMES
from shared.events.routing import Owner
from shared.events.supervision import ClockEvent, EscalationRaised, LightChanged

Phase = Literal["sign", "handle", "verify"]
LimitUnit = Literal["hours", "working_hours", "working_days"]
LIGHTS = ("green", "yellow", "red")
LEVELS = ("none", "reminder", "yellow_card", "red_card", "leader")
PHASES = ("sign", "handle", "verify")
HOTLINE_ACTOR = "12345"  # who decided, in intake's events, when 12345 itself ruled on its order
ANY = "*"  # a policy's category or nature that fits any
NATURES = tuple(NATURE_NAMES.values())  # 事项性质 of a 12345 order (DOMAIN.md §7), in English

# How long after the due time the red card and the leader's 督办 come, by the unit of the limit.
DEFAULT_LADDER: dict[str, dict[str, tuple[float, LimitUnit]]] = {
    "working_days": {"red_card": (1, "working_days"), "leader": (5, "working_days")},
    "working_hours": {"red_card": (4, "working_hours"), "leader": (1, "working_days")},
    "hours": {"red_card": (1, "hours"), "leader": (2, "hours")},
}


@dataclass(frozen=True)
class Policy:
    """The time limit of a phase (DOMAIN.md §5: defaults per category × urgency × phase), optionally for one
    事项性质 of a 12345 order (DOMAIN.md §7: a 咨询 may get other limits than a 投诉); '*' = any category or
    nature. The most specific one applies (`lookup_order`)."""

    category: str
    urgency: str
    phase: Phase
    limit_amount: float
    limit_unit: LimitUnit
    yellow_ratio: float = 0.7
    ladder: dict[str, tuple[float, LimitUnit]] = field(default_factory=dict)
    nature: str = ANY

    def steps(self) -> dict[str, tuple[float, LimitUnit]]:
        return self.ladder or DEFAULT_LADDER[self.limit_unit]

    def check(self) -> None:
        """Yellow comes before red, limits are positive, and the ladder climbs: red card, then leader; the nature
        is '*' or one of DOMAIN.md §7's."""
        if self.nature != ANY and self.nature not in NATURES:
            raise InvalidPolicy(f"unknown nature {self.nature!r}: * or one of {', '.join(NATURES)}")
        if self.limit_amount <= 0:
            raise InvalidPolicy("the limit must be positive")
        if self.limit_unit == "working_days" and self.limit_amount != int(self.limit_amount):
            raise InvalidPolicy("a limit in working days is a whole number")
        if not 0 < self.yellow_ratio < 1:
            raise InvalidPolicy("yellow_ratio must be between 0 and 1 (yellow before red)")
        steps = self.steps()
        if set(steps) != {"red_card", "leader"}:
            raise InvalidPolicy("the ladder names red_card and leader")
        hours = {step: amount * {"hours": 1, "working_hours": 1, "working_days": 7}[unit]
                 for step, (amount, unit) in steps.items()}
        if min(hours.values()) <= 0 or hours["leader"] <= hours["red_card"]:
            raise InvalidPolicy("the ladder climbs: red_card after due, leader after red_card")


@dataclass(frozen=True)
class CaseFacts:
    """What supervision knows of the case when a phase starts."""

    incident_id: uuid.UUID
    category: str
    urgency: str
    grid_code: str | None
    unit_id: str | None
    deadline: datetime | None = None
    assignment_id: int | None = None
    nature: str | None = None  # a 12345 order's 事项性质 (DOMAIN.md §7): its policies may differ


def lookup_order(category: str, nature: str | None) -> list[tuple[str, str]]:
    """The (category, nature) keys a policy is looked up by, the most specific first (DOMAIN.md §5 limits by
    category, §7 事项性质): the category's own for the nature, the category's own for any nature, any category's
    for the nature, then the '*' default. A case without a nature looks up only the any-nature policies."""
    keys = [(category, nature or ANY), (category, ANY), (ANY, nature or ANY), (ANY, ANY)]
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class CaseAssignment:
    """An assignment as supervision records it: the ownership fact (the owner and the case's areas at the time), made
    the case's current one, and the names it told (statistics.names_seen)."""

    incident_id: uuid.UUID
    category: str
    urgency: str
    place_code: str | None
    owner: Owner
    areas: Mapping[str, str | None]
    at: datetime
    reassigned: bool
    names: tuple[UnitName, ...] = ()


@dataclass
class SupervisedCase:
    """A case as supervision follows it: what its clocks start from, and whether its owner has signed."""

    incident_id: uuid.UUID
    category: str
    urgency: str
    grid_code: str | None
    unit_id: str | None
    signed: bool = False
    deadline: datetime | None = None  # a 12345 order's 办理时限 (moved only by 12345's own extensions)
    assignment_id: int | None = None  # the current ownership (its statistics fact)
    hotline: bool = False  # a 12345 order: only 12345 may give it more time
    signed_unit_id: str | None = None  # the last signature seen: by which unit, when
    signed_at: datetime | None = None
    assigned_at: datetime | None = None  # when the current owner got the case
    reopened_at: datetime | None = None  # the last 重办: its cycle started then
    nature: str | None = None  # a 12345 order's 事项性质 (DOMAIN.md §7); None for other sources

    @property
    def facts(self) -> CaseFacts:
        """What a clock starts from. The 12345 deadline binds the order's first handling (with its 返工 and 改派);
        a 重办 is a new cycle on the policy's limits: 12345's own redo comes with terms the event does not carry."""
        deadline = self.deadline if self.reopened_at is None else None
        return CaseFacts(self.incident_id, self.category, self.urgency, self.grid_code, self.unit_id,
                         deadline, self.assignment_id, self.nature)

    @property
    def answers_to_12345(self) -> bool:
        """A 12345 order (or a case with its deadline): 12345 itself decides whether it gets more time."""
        return self.hotline or self.deadline is not None

    def signature_is_current(self, unit_id: str | None, at: datetime) -> bool | None:
        """Whose signature this is: True for the current owner's (or one that names no unit), False for a
        former owner's (signed before the current assignment, reported late), None for a later owner's whose
        assignment supervision has not seen yet (the consumer reads two topics: a 改派 may come after the new
        owner's signature)."""
        if unit_id is None or self.unit_id is None or unit_id == self.unit_id:
            return True
        if self.assigned_at is not None and at < self.assigned_at:
            return False
        return None


@dataclass(frozen=True)
class ClockFacts:
    """What every event of a clock carries and never changes while it runs."""

    incident_id: uuid.UUID
    phase: str
    category: str
    urgency: str
    grid_code: str | None
    unit_id: str | None

    def event_fields(self, at: datetime, due_at: datetime, due_version: int) -> dict:
        """The fields every light and 督办 event of this clock has, at one moment of one due version."""
        return {"incident_id": self.incident_id, "at": at, "phase": self.phase, "due_at": due_at,
                "due_version": due_version, "category": self.category, "urgency": self.urgency,
                "grid_code": self.grid_code, "unit_id": self.unit_id}


@dataclass
class PhaseClock:
    incident_id: uuid.UUID
    phase: Phase
    cycle: int
    category: str
    urgency: str
    grid_code: str | None
    unit_id: str | None
    started_at: datetime
    limit_amount: float
    limit_unit: LimitUnit
    yellow_ratio: float
    due_version: int
    yellow_at: datetime
    due_at: datetime
    red_card_at: datetime
    leader_at: datetime
    light: str = "green"
    level: str = "none"
    stopped_at: datetime | None = None
    paused_at: datetime | None = None
    extension_amount: float = 0.0
    # For the statistics: the ownership the phase belongs to, what started it, what ended it.
    assignment_id: int | None = None
    started_by: str = "assigned"
    stop_reason: str | None = None
    due_fixed: bool = False  # the due time is a 12345 deadline (an instant), not counted working time
    start_level: str = "none"  # the case's 督办 level when the clock started (what it carried over)
    counted_from: datetime | None = None  # where its thresholds are counted from: the start, or the last resume
    # The 事项性质 its policy was chosen by (DOMAIN.md §7): an extension or a calendar recount finds the same one.
    nature: str | None = None
    id: int | None = None
    events: list[ClockEvent] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.counted_from is None:
            self.counted_from = self.started_at

    @classmethod
    def start(cls, facts: CaseFacts, phase: Phase, policy: Policy, at: datetime, calendar: WorkCalendar,
              cycle: int, started_by: str = "assigned", level: str = "none") -> PhaseClock:
        """A fresh clock from the policy, at the case's 督办 `level` so far (its ladder fires only above it)."""
        due = calendar.add(at, policy.limit_amount, policy.limit_unit)
        yellow = calendar.point_at_fraction(at, policy.limit_amount, policy.limit_unit, policy.yellow_ratio)
        due_fixed = False
        if phase == "handle" and facts.deadline is not None and facts.deadline < due:
            # A 12345 order's own deadline binds whenever it is earlier than the policy's (DOMAIN.md §5), even
            # when it has passed already: a case signed after its deadline is red at once, its ladder counted
            # from the deadline.
            due, due_fixed = facts.deadline, True
            if due <= at:
                yellow = due
            elif policy.limit_unit == "hours":
                yellow = at + (due - at) * policy.yellow_ratio
            else:
                yellow = calendar.add_working_seconds(
                    at, calendar.working_seconds_between(at, due) * policy.yellow_ratio)
        steps = policy.steps()
        return cls(
            incident_id=facts.incident_id, phase=phase, cycle=cycle, category=facts.category,
            urgency=facts.urgency, grid_code=facts.grid_code, unit_id=facts.unit_id, started_at=at,
            limit_amount=policy.limit_amount, limit_unit=policy.limit_unit, yellow_ratio=policy.yellow_ratio,
            due_version=1,
            yellow_at=yellow,
            due_at=due,
            red_card_at=calendar.add(due, *steps["red_card"]),
            leader_at=calendar.add(due, *steps["leader"]),
            level=level, start_level=level,
            assignment_id=facts.assignment_id, started_by=started_by, due_fixed=due_fixed, nature=facts.nature,
        )

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    def next_check_at(self) -> datetime | None:
        """When the next threshold is due; None when nothing is left to fire (or the clock is paused)."""
        if not self.running or self.paused_at is not None:
            return None
        pending = [when for when, done in (
            (self.yellow_at, _rank(LIGHTS, self.light) >= 1),
            (self.due_at, _rank(LIGHTS, self.light) >= 2),
            (self.red_card_at, _rank(LEVELS, self.level) >= 3),
            (self.leader_at, _rank(LEVELS, self.level) >= 4),
        ) if not done]
        return min(pending) if pending else None

    def tick(self, now: datetime) -> None:
        """Fire every threshold reached by `now`, in order, each once."""
        if not self.running or self.paused_at is not None:
            return
        if now >= self.yellow_at and _rank(LIGHTS, self.light) < 1:
            self._change_light("yellow", now)
            self._raise("reminder", now)
        if now >= self.due_at and _rank(LIGHTS, self.light) < 2:
            self._change_light("red", now)
            self._raise("yellow_card", now)
        if now >= self.red_card_at:
            self._raise("red_card", now)
        if now >= self.leader_at:
            self._raise("leader", now)

    def escalate_by_hand(self, level: str, note: str, at: datetime) -> bool:
        """A supervisor's or leader's 督办 (领导批示 as the note): raises the level, never lowers it."""
        if not self.running or _rank(LEVELS, level) <= _rank(LEVELS, self.level):
            return False
        previous, self.level = self.level, level
        self.events.append(EscalationRaised(**self._facts(at), level=level, previous_level=previous, manual=True,
                                            note=note))
        return True

    def stop(self, at: datetime, reason: str) -> None:
        if self.running:
            self.stopped_at = at
            self.stop_reason = reason

    def pause(self, at: datetime) -> None:
        """挂起: time stops counting until `resume`."""
        if self.running and self.paused_at is None:
            self.paused_at = at

    def resume(self, at: datetime, calendar: WorkCalendar) -> None:
        """Paused time is not counted: every threshold still ahead keeps the budget it had left at the
        pause, counted again from now (a new due version)."""
        if not self.running or self.paused_at is None:
            return
        paused_at, self.paused_at = self.paused_at, None
        if at <= paused_at:
            return

        def shifted(threshold: datetime) -> datetime:
            if threshold <= paused_at:
                return threshold  # already reached before the pause: it stays where it fired
            if self.limit_unit == "hours":
                return at + (threshold - paused_at)
            return calendar.add_working_seconds(at, calendar.working_seconds_between(paused_at, threshold))

        self.yellow_at, self.due_at = shifted(self.yellow_at), shifted(self.due_at)
        self.red_card_at, self.leader_at = shifted(self.red_card_at), shifted(self.leader_at)
        self.counted_from = at
        self.due_version += 1

    def extend(self, amount: float, unit: str, at: datetime, calendar: WorkCalendar, policy: Policy) -> bool:
        """An approved extension adds to the budget without restarting the clock: a new due version whose
        lights are evaluated again (a yellow light can turn green); 督办 levels are never lowered.
        Returns False when the extension does not apply (another unit than the phase's limit)."""
        if not self.running or unit != self.limit_unit or amount <= 0:
            return False
        self.extension_amount += amount
        # Counted from the current due time, so earlier pauses and extensions stay in; the yellow point moves
        # by its share (yellow_ratio) of the added time.
        self.due_at = calendar.add(self.due_at, amount, self.limit_unit)
        if self.limit_unit == "hours":
            self.yellow_at += timedelta(hours=amount * self.yellow_ratio)
        else:
            added = amount * 3600 if self.limit_unit == "working_hours" else amount * calendar.day_seconds
            self.yellow_at = calendar.add_working_seconds(self.yellow_at, added * self.yellow_ratio)
        steps = policy.steps()
        self.red_card_at = calendar.add(self.due_at, *steps["red_card"])
        self.leader_at = calendar.add(self.due_at, *steps["leader"])
        self.due_version += 1
        self._evaluate_light(at, at)
        return True

    def rebase(self, now: datetime, old: WorkCalendar, new: WorkCalendar, policy: Policy) -> bool:
        """The calendar changed (an override, a year's schedule imported): the thresholds are counted again
        on the new calendar from where the clock's count runs (its start, or its last resumption), so a day
        that turns out to be a holiday, or a working day, counts as what it is, even one already past.

        A due at the close of the Nth working day stays at the close of the Nth (次日起算); other thresholds
        keep the working time they were from the anchor, the yellow point its share of the budget; the 督办
        ladder is counted from the new due by the policy's steps. A 12345 deadline (an instant) stays;
        natural-hour limits do not depend on the calendar; what lies before the anchor stays where it fired.

        A moved clock is a new due version whose light is evaluated again, as after an approved extension:
        back to green (or yellow) when the due moved later; a light the new thresholds raise is the tick's to
        fire, with its 督办 step, once (the caller ticks the clock). Levels are never lowered. Returns whether
        anything moved."""
        if not self.running or self.limit_unit == "hours":
            return False
        anchor = self.counted_from or self.started_at

        def relaid(threshold: datetime) -> datetime:
            if threshold <= anchor:
                return threshold
            return new.add_working_seconds(anchor, old.working_seconds_between(anchor, threshold))

        if self.due_fixed or self.due_at <= anchor:
            due = self.due_at
        elif (self.limit_unit == "working_days" and anchor == self.started_at and old.closes_a_workday(self.due_at)
              and (days := old.workdays_after(_day(anchor), _day(self.due_at))) > 0):
            due = new.add(anchor, days, "working_days")
        else:
            due = relaid(self.due_at)
        yellow = self.yellow_at
        budget = old.working_seconds_between(anchor, self.due_at)
        if yellow > anchor and budget > 0 and due > anchor:
            share = old.working_seconds_between(anchor, yellow) / budget
            yellow = new.add_working_seconds(anchor, share * new.working_seconds_between(anchor, due))
        steps = policy.steps()
        red_card = self.red_card_at if self.red_card_at <= anchor else new.add(due, *steps["red_card"])
        leader = self.leader_at if self.leader_at <= anchor else new.add(due, *steps["leader"])
        before = (self.yellow_at, self.due_at, self.red_card_at, self.leader_at)
        after = tuple(_kept(was, now_at) for was, now_at in zip(before, (yellow, due, red_card, leader), strict=True))
        if after == before:
            return False
        self.yellow_at, self.due_at, self.red_card_at, self.leader_at = after
        self.due_version += 1
        self._evaluate_light(self.paused_at or now, now, lower_only=True)
        return True

    def _evaluate_light(self, moment: datetime, at: datetime, lower_only: bool = False) -> None:
        """The light the thresholds give at `moment`, announced at `at` when it differs (only when it is lower,
        with `lower_only`: a raised light comes from the tick, with its 督办 step)."""
        light = "red" if moment >= self.due_at else "yellow" if moment >= self.yellow_at else "green"
        if light != self.light and not (lower_only and _rank(LIGHTS, light) > _rank(LIGHTS, self.light)):
            self._change_light(light, at)

    def _change_light(self, light: str, at: datetime) -> None:
        previous, self.light = self.light, light
        self.events.append(LightChanged(**self._facts(at), light=light, previous_light=previous))

    def _raise(self, level: str, at: datetime) -> None:
        if _rank(LEVELS, level) <= _rank(LEVELS, self.level):
            return  # a raised level is never raised again, nor lowered
        previous, self.level = self.level, level
        self.events.append(EscalationRaised(**self._facts(at), level=level, previous_level=previous))

    @property
    def facts(self) -> ClockFacts:
        return ClockFacts(self.incident_id, self.phase, self.category, self.urgency, self.grid_code, self.unit_id)

    def _facts(self, at: datetime) -> dict:
        return self.facts.event_fields(at, self.due_at, self.due_version)

    def remaining_seconds(self, now: datetime) -> float:
        return (self.due_at - now).total_seconds()

    @property
    def counts_in(self) -> str:
        """How the phase's time runs: natural hours (7×24) for an `hours` limit, else working time."""
        return "natural_time" if self.limit_unit == "hours" else "working_time"

    def remaining_working_seconds(self, now: datetime, calendar: WorkCalendar) -> float:
        """Working time left until due (negative once overdue), counted by the calendar; a paused clock (挂起)
        keeps what it had left at the pause."""
        moment = min(now, self.paused_at) if self.paused_at is not None else now
        return calendar.working_seconds_between(moment, self.due_at)

    def counting(self, now: datetime, calendar: WorkCalendar) -> bool:
        """Whether its time is running down at `now`: running, not paused, and, for a working-time limit, inside
        a working period."""
        if not self.running or self.paused_at is not None:
            return False
        return self.limit_unit == "hours" or calendar.working_seconds_between(now, now + timedelta(seconds=1)) > 0


@dataclass(frozen=True)
class PhaseHistory:
    """What starting a phase's clock needs to know of the case's clocks so far."""

    running: PhaseClock | None   # the phase's running clock, if any (locked by whoever read it)
    last_cycle: int              # the phase's highest cycle so far (0 when it never ran)
    level: str                   # the highest 督办 level the case's clocks reached in the asked span


def _rank(order: tuple[str, ...], value: str) -> int:
    return order.index(value)


def highest_level(levels: Iterable[str]) -> str:
    """The highest of these 督办 levels ("none" when there is none)."""
    return max(levels, key=lambda level: _rank(LEVELS, level), default="none")


def _day(moment: datetime) -> date:
    return moment.astimezone(ZONE).date()


def _kept(before: datetime, after: datetime) -> datetime:
    """A threshold counted again that lands within a millisecond of where it was has not moved (rounding)."""
    return before if abs((after - before).total_seconds()) < 0.001 else after
