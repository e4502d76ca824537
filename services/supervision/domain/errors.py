"""Supervision's refusals (DESIGN.md §5), each one of the shared families with the HTTP status it means."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.errors import Conflict, FieldError, Forbidden, Invalid, NotFound


class InvalidPolicy(Invalid):
    """A policy that cannot work; `index` names its place in the list given, when it came in one."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        self.reason = reason
        self.index = index
        field = "body" if index is None else f"body.{index}"
        super().__init__(reason if index is None else f"policy {index}: {reason}",
                         errors=[FieldError(field=field, message=reason, type="policy")])

    def at(self, index: int) -> InvalidPolicy:
        """The same refusal, naming the policy's place in the list given."""
        return InvalidPolicy(self.reason, index)


class InvalidSchedule(Invalid):
    """A year's schedule that lists dates outside the year, or a date both off and worked."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, type_="schedule")


class InvalidMonth(Invalid):
    """A month for the statistics that is not one (`month=YYYY-MM`)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="query.month", type_="month")


class MonthNotStarted(InvalidMonth):
    """A month whose figures do not exist yet."""


class InvalidQuarter(Invalid):
    """A quarter for the rankings that is not one (`quarter=YYYY-Qn`), or one not begun yet."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="query.quarter", type_="quarter")


class InvalidPeriod(Invalid):
    """The statistics need one period: a month or a quarter, not both, not neither."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="query", type_="period")


class NotPermitted(Forbidden):
    """The caller's role does not allow it (the same words as `shared.auth.require_role`)."""

    def __init__(self, role: str, allowed: Sequence[str]) -> None:
        super().__init__(f"role {role!r} may not do this; allowed: {', '.join(allowed)}")


class OutsideArea(Forbidden):
    """An action on a case outside the caller's area (DESIGN §5: wrong area → 403)."""

    def __init__(self) -> None:
        super().__init__("the case lies outside the caller's area")


class ClockNotVirtual(NotFound):
    """Only the virtual clock (CLOCK_MODE=virtual) can be advanced: on a real one there is nothing to move."""

    def __init__(self) -> None:
        super().__init__("the clock is real; advancing needs CLOCK_MODE=virtual")


class NoRunningClock(NotFound):
    """No running clock of the incident that the caller may see (outside one's area is as if absent)."""

    def __init__(self, incident_id: uuid.UUID) -> None:
        self.incident_id = incident_id
        super().__init__(f"no running clock for incident {incident_id}")


class LevelNotRaised(Conflict):
    """A 督办 by hand at or below the clock's level: levels are raised, never lowered."""

    def __init__(self, current_level: str) -> None:
        self.current_level = current_level
        super().__init__(f"督办 is already at {current_level}; levels are raised, never lowered",
                         current_level=current_level)


class UnknownCase(NotFound):
    """An event about a case supervision has not seen yet (the consumer retries it, then parks it)."""

    def __init__(self, incident_id: uuid.UUID, detail: str | None = None) -> None:
        self.incident_id = incident_id
        super().__init__(detail or f"unknown incident {incident_id}")


class NoPolicy(NotFound):
    """No time-limit policy for a phase, not even the '*' default (a configuration to complete)."""

    def __init__(self, category: str, urgency: str, phase: str) -> None:
        super().__init__(f"no policy for {category}/{urgency}/{phase} and no '*' default")
