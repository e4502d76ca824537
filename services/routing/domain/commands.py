"""What callers ask routing to do (imperative names): every write of its API and of its `load-city` CLI.

Routing's other writes are its answers to intake's events (service_layer/handlers.py: route_incident,
reassign_returned), which the consumer applies through the same bus.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.routing.domain.assignment import Unit, Worker
from services.routing.domain.grid_import import ImportedGrids
from services.routing.domain.roster import Roster
from shared.actor import Actor
from shared.events.routing import Owner
from shared.messagebus import Command


@dataclass(frozen=True)
class ImportGrids(Command[ImportedGrids]):
    """A GeoJSON FeatureCollection of grids into the registry: all of it, or none of it (InvalidGridFile)."""

    collection: Any  # the decoded JSON as sent: checking its shape is the import's job


@dataclass(frozen=True)
class PutUnit(Command[None]):
    """Create or replace a unit (its kind, name, area and department)."""

    unit: Unit


@dataclass(frozen=True)
class PutWorker(Command[None]):
    """Create or replace a worker; the roster, if any, is kept (PutRoster changes it)."""

    worker_id: str
    name: str
    phone: str
    unit_id: str | None = None
    grid_codes: tuple[str, ...] = ()
    on_duty: bool = True


@dataclass(frozen=True)
class PutRoster(Command[Roster]):
    """Replace a worker's duty roster (排班): weekly shifts and explicit periods, as plain values (days, "HH:MM";
    aware start/end date-times); returns the roster stored."""

    worker_id: str
    weekly: tuple[Mapping[str, object], ...] = ()
    periods: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class DeleteRoster(Command[None]):
    """Back to the on_duty switch alone."""

    worker_id: str


@dataclass(frozen=True)
class PutDedicatedCategories(Command[list[str]]):
    """The categories a kind of dedicated grid handles itself, in place of the current list (returned sorted)."""

    dedicated_type: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class RuleEntry:
    """One line of PutRules, as given: `owner` and `co_owner` are checked by the handler."""

    category: str  # a category code or *
    urgency: str   # normal | urgent | emergency | *
    owner: str
    co_owner: str | None = None


@dataclass(frozen=True)
class PutRules(Command[int]):
    """Set the owner (and co-owner) of category × urgency pairs, all or none; returns how many."""

    rules: tuple[RuleEntry, ...]


@dataclass(frozen=True)
class DispatchIncident(Command[Owner]):
    """派遣/改派 by hand: the command centre's word, also final after two returns; returns the new owner."""

    incident_id: uuid.UUID
    unit_id: str
    worker_id: str | None
    reason: str
    actor: Actor


@dataclass(frozen=True)
class LoadDirectory(Command[None]):
    """A city's units and workers at once (`load-city`). A worker's roster, when given, replaces the stored one;
    a worker without one keeps what it had."""

    units: tuple[Unit, ...] = ()
    workers: tuple[Worker, ...] = ()
