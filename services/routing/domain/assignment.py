"""Who owns a located case (DOMAIN.md §2 属地管理): the grid's worker on duty, else the territorial
unit one level up at a time (community, street, district: 属地兜底). Pure: inputs in, decision out."""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.domain.locator import Located
from shared.events.routing import Owner

TERRITORIAL_LEVELS = ("grid", "community", "street", "district")


@dataclass(frozen=True)
class Unit:
    id: str
    kind: str
    name: str
    area: tuple[str, ...]


@dataclass(frozen=True)
class Worker:
    id: str
    name: str
    phone: str
    unit_id: str | None
    grid_codes: tuple[str, ...]
    on_duty: bool


@dataclass(frozen=True)
class Decision:
    owner: Owner | None
    reason: str


def territorial_unit(units: list[Unit], level: str, code: str) -> Unit | None:
    """The unit of `level` whose area names exactly this code (lowest id if several)."""
    matching = sorted((u for u in units if u.kind == level and code in u.area), key=lambda u: u.id)
    return matching[0] if matching else None


def decide_owner(located: Located, found_by: str, units: list[Unit], workers: list[Worker]) -> Decision:
    grid = located.grid
    where = f"{found_by} in grid {grid.code} {grid.name}"
    on_duty = sorted((w for w in workers if w.on_duty and grid.code in w.grid_codes), key=lambda w: w.id)
    grid_unit = territorial_unit(units, "grid", grid.code)
    if on_duty and grid_unit:
        worker = on_duty[0]
        return Decision(_owner(grid_unit, worker), f"{where}; grid worker {worker.name} on duty")
    missing = "no grid worker on duty" if grid_unit else "the grid has no unit"
    for level, info in (("community", located.community), ("street", located.street),
                        ("district", located.district)):
        if info is None:
            continue
        unit = territorial_unit(units, level, info.code)
        if unit:
            return Decision(_owner(unit), f"{where}; {missing}: {level} {unit.name} takes it (属地兜底)")
        missing = f"{missing}, no {level} unit"
    return Decision(None, f"{where}; {missing}")


def _owner(unit: Unit, worker: Worker | None = None) -> Owner:
    return Owner(unit_id=unit.id, unit_name=unit.name, unit_kind=unit.kind,
                 worker_id=worker.id if worker else None, worker_name=worker.name if worker else None,
                 worker_phone=worker.phone if worker else None)
