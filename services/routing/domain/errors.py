"""Routing's refusals (DESIGN.md §5), each one of the shared families with the HTTP status it means."""

from __future__ import annotations

import uuid

from services.routing.domain.grid_import import FeatureError
from shared.errors import Conflict, FieldError, Forbidden, Invalid, NotFound


class FeatureFieldError(FieldError):
    """A rejected feature of a grid file: the shared shape, plus the feature's index and code (which
    administrators' tools read to point at the feature in the file)."""

    feature: int
    code: str | None


class InvalidGridFile(Invalid):
    """A grid file refused whole: one error per rejected feature, nothing imported."""

    def __init__(self, features: list[FeatureError]) -> None:
        self.features = features
        super().__init__(f"{len(features)} feature(s) rejected; nothing imported",
                         errors=[_feature_error(e) for e in features])


def _feature_error(error: FeatureError) -> FieldError:
    # A file-wide reason (not a FeatureCollection, no features) has no feature to name: index -1.
    field = f"features.{error.index}" if error.index >= 0 else "body"
    return FeatureFieldError(field=field, message=error.reason, type="grid_feature", feature=error.index,
                             code=error.code)


class GridImportTooLarge(Invalid):
    """A grid file past a cap of the import (features or vertices): refused before any feature is checked."""

    def __init__(self, cap: str, limit: int) -> None:
        setting = f"ROUTING_GRID_IMPORT_MAX_{cap.upper()}"
        super().__init__(f"the file has more than {limit:,} {cap} (the import's cap, {setting}); split it by "
                         "district", field="features" if cap == "features" else "body", type_="grid_import_cap",
                         cap=cap, limit=limit)


class RosterRefused(Invalid):
    """A roster that cannot be right; `errors` name every wrong field and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("the roster is refused; nothing changed", errors=errors)


class InvalidRule(Invalid):
    """A routing rule whose owner or co-owner is neither a territorial level nor `dept:<kind>`."""

    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason, field=field, type_="rule")


class UnknownUnit(Invalid):
    """A worker put under a unit that does not exist (the body names it: 422, not 404)."""

    def __init__(self, unit_id: str, field: str = "unit_id") -> None:
        self.unit_id = unit_id
        super().__init__(f"no unit {unit_id!r}", field=field, type_="unknown_unit")


class DispatchRefused(Invalid):
    """The supervisor's dispatch names a unit or worker that does not exist or does not fit."""

    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail, field=field, type_="dispatch")


class UnknownWorker(NotFound):
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        super().__init__(f"no worker {worker_id!r}")


class NoRoster(NotFound):
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        super().__init__(f"worker {worker_id!r} has no roster")


class UnknownIncident(NotFound):
    def __init__(self, incident_id: uuid.UUID) -> None:
        self.incident_id = incident_id
        super().__init__(f"routing never saw incident {incident_id}")


class UnknownPlace(NotFound):
    """A case's place left the registry between its routing and its return (a consumer error: retried, parked)."""

    def __init__(self, place_code: str) -> None:
        super().__init__(f"place {place_code} is no longer in the registry")


class CaseClosed(Conflict):
    """A closed, merged or rejected case is dispatched to no one (reopen it first: 重办)."""

    def __init__(self, incident_id: uuid.UUID) -> None:
        super().__init__(f"incident {incident_id} is closed; nothing to dispatch")


class OutsideArea(Forbidden):
    """A dispatch to a unit working outside the caller's area."""
