"""What callers ask supervision to do (imperative names): every write of its API, CLI and ticker."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from services.supervision.domain.model import PhaseClock, Policy
from services.supervision.domain.statistics import UnitFigures
from shared.actor import Actor
from shared.messagebus import Command

ManualLevel = Literal["reminder", "yellow_card", "red_card", "leader"]


@dataclass(frozen=True)
class AdvanceClock(Command[datetime]):
    """Move the stack's virtual clock forward (demo and tests); returns the new now."""

    seconds: float
    actor: Actor


@dataclass(frozen=True)
class EscalateClock(Command[PhaseClock]):
    """A supervisor's or leader's 督办 on the incident's running clock; returns the clock as it left it."""

    incident_id: uuid.UUID
    level: ManualLevel
    actor: Actor
    note: str = ""  # 领导批示


@dataclass(frozen=True)
class PutPolicies(Command[int]):
    """Store time-limit policies, all or none; returns how many were stored."""

    policies: tuple[Policy, ...]


@dataclass(frozen=True)
class OverrideCalendarDay(Command[int]):
    """One date worked or not (and why); returns how many running clocks were counted again."""

    day: date
    workday: bool
    note: str | None = None


@dataclass(frozen=True)
class ImportCalendarYear(Command[int]):
    """A year's schedule as the State Council publishes it; returns how many running clocks were counted again."""

    year: int
    holidays: Mapping[date, str]  # each day off, with its holiday's name
    workdays: frozenset[date] = field(default_factory=frozenset)  # 调休 make-up working days
    source: str | None = None


@dataclass(frozen=True)
class FireDueClocks(Command[list[datetime]]):
    """The ticker's pass: fire the thresholds of up to `batch` due clocks; returns when each was due."""

    batch: int
    floor: datetime | None = None  # none is due before it (entrypoints/ticker.py); None: look from the start


@dataclass(frozen=True)
class FreezeMonth(Command[None]):
    """Store a month's figures as of its freeze, once: later events (a late 重办, a calendar change) no longer
    move a published month. A second writer's figures are dropped."""

    month: date
    group_by: str
    frozen_at: datetime
    units: tuple[UnitFigures, ...]
