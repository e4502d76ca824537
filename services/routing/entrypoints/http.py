"""Routing's HTTP API: grid registry, locate, units, workers, rosters, rules, dispatch, assignment history.

Writes become commands on the bus; reads come from views.py (`locate` from the process's in-memory registry).
Domain refusals become problems in the one handler `create_service_app` installs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.routing.bootstrap import RoutingContainer, bootstrap
from services.routing.config import RoutingSettings
from services.routing.domain import commands as c
from services.routing.domain.assignment import Unit
from services.routing.domain.errors import GridImportTooLarge
from services.routing.domain.grid_import import exceeded_cap
from services.routing.domain.locator import GridInfo, Located
from services.routing.domain.roster import MAX_PERIODS, MAX_WEEKLY_SHIFTS, roster_as_dict
from services.routing.entrypoints.access import ACCESS
from services.routing.views import (
    assignment_history,
    browse_grids,
    dedicated_categories,
    dispatchable_units,
    grid_geojson,
    grid_row,
    list_rules,
    registry_version,
    worker_row,
)
from shared.auth import Caller, Principal, require_role
from shared.problems import Problem, problems
from shared.web import Instant, container_of, create_service_app, read_body

RoutingApp = Annotated[RoutingContainer, Depends(container_of)]
GridLevel = Literal["district", "street", "community", "grid", "micro"]
_NUMBER = r"-?\d{1,3}(\.\d{1,12})?"
BBOX_PATTERN = rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$"
MAX_SIMPLIFY = 0.01  # degrees (about 1 km): coarser would blur a district into a few lines
# The one route allowed a body past the 1 MB default (ROUTING_GRID_IMPORT_MAX_BYTES), read only once the caller is
# known to be an admin.
GRID_IMPORT = ("POST", "/v1/grids/import")
# The import's body is parsed by hand (a GeoJSON file of many MB, checked feature by feature): document it.
GEOJSON_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "a GeoJSON FeatureCollection of grids (properties: code, name, level, kind, "
                                     "parent_code, dedicated_type)"}}}}}


class UnitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["grid", "community", "street", "district", "department"]
    name: str = Field(min_length=1, max_length=200)
    area: list[Annotated[str, Field(pattern=r"^\d{0,18}$")]] = Field(default_factory=list, max_length=1000)
    department: str | None = Field(None, max_length=64)


class WorkerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(pattern=r"^(\+?86)?1[3-9]\d{9}$")
    unit_id: str | None = Field(None, max_length=100)
    grid_codes: list[Annotated[str, Field(pattern=r"^\d{15}$")]] = Field(default_factory=list, max_length=50)
    on_duty: bool = True


class WeeklyShiftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: list[int] = Field(min_length=1, max_length=7, description="ISO weekdays: 1 = Monday … 7 = Sunday")
    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM, Asia/Shanghai")
    end: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM (24:00 = midnight); at or before start: "
                                                              "the shift ends the next day")


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Instant
    end: Instant
    on_duty: bool = Field(True, description="true: an extra duty period; false: leave (请假)")
    note: str = Field("", max_length=200)


class RosterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekly: list[WeeklyShiftIn] = Field(default_factory=list, max_length=MAX_WEEKLY_SHIFTS)
    periods: list[PeriodIn] = Field(default_factory=list, max_length=MAX_PERIODS,
                                    description="override the weekly shifts while they last")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=64, description="category code or *")
    urgency: Literal["*", "normal", "urgent", "emergency"] = "*"
    owner: str = Field(description="grid | community | street | district | dept:<kind>")
    co_owner: str | None = None


class DedicatedCategoriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[Annotated[str, Field(max_length=64)]] = Field(max_length=100)


class DispatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(min_length=1, max_length=100)
    worker: str | None = Field(None, max_length=100)
    reason: str = Field(min_length=1, max_length=500)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["routing"])

    @router.post("/grids/import", responses=problems(403, 413), openapi_extra=GEOJSON_BODY)
    async def import_grids(request: Request, caller: Caller, container: RoutingApp) -> dict:
        """Import a GeoJSON grid file: all of it, or nothing (422 naming every rejected feature). The file may
        be larger than other bodies, up to ROUTING_GRID_IMPORT_MAX_BYTES, with caps on its features and
        vertices (422 naming the cap); it is read once the caller is known to be an admin, and decoded and
        checked off the event loop."""
        require_role(caller, "admin")  # before a byte of the body is read
        settings = container.settings
        raw = await read_body(request, settings.grid_import_max_bytes)
        collection = await asyncio.to_thread(_decode_grid_file, raw, settings.grid_import_max_features,
                                             settings.grid_import_max_vertices)
        del raw
        imported = await container.bus.handle(c.ImportGrids(collection))
        return {"imported": imported.imported, "registry_version": imported.registry_version}

    @router.get("/grids")
    async def grids(caller: Caller, container: RoutingApp,
                    parent: str | None = Query(None, pattern=r"^\d{6,15}$"),
                    level: Literal["district", "street", "community", "grid", "micro"] | None = None,
                    limit: int = Query(1000, ge=1, le=20000)) -> list[dict]:
        """Browse the registry by parent and level: the grids inside the caller's area (a list is filtered, never
        refused: a parent elsewhere lists nothing)."""
        area = None if "" in caller.area else tuple(caller.area)
        return await browse_grids(container.pool, parent=parent, level=level, area=area, limit=limit)

    @router.get("/grids/{code}/geojson", responses=problems(403, 404, 422))
    async def export(code: str, caller: Caller, container: RoutingApp,
                     level: Annotated[list[GridLevel] | None, Query(
                         description="keep these levels (repeat it: level=street&level=community); default: all")
                     ] = None,
                     bbox: Annotated[str | None, Query(
                         pattern=BBOX_PATTERN, description="west,south,east,north in degrees (WGS 84): only the "
                                                           "grids touching this box")] = None,
                     simplify: Annotated[float, Query(
                         ge=0, le=MAX_SIMPLIFY, description="simplify each outline by this tolerance in degrees "
                                                            "(topology kept: never invalid, never empty); 0: as "
                                                            "stored")] = 0.0,
                     precision: Annotated[int, Query(ge=3, le=7, description="decimals of each coordinate")] = 7,
                     if_none_match: Annotated[str | None, Header()] = None) -> Response:
        """The grid (district, street, …) and everything under it as GeoJSON, cut to what a map's view needs:
        `level` keeps those levels, `bbox` what touches the view, `simplify` and `precision` make outlines
        lighter. A district, street or community carries `grids`, the number of grids in it. Revalidated by its
        ETag (the registry's version and the query): 304 while no import changed the registry."""
        if await grid_row(container.pool, code) is None or not caller.sees(code):
            raise Problem(404, f"no grid {code}")  # another area's is as if absent
        box = _bbox(bbox)
        version = await registry_version(container.pool)
        tag = hashlib.sha256(json.dumps([version, code, sorted(set(level or [])), box, simplify, precision])
                             .encode()).hexdigest()[:24]
        headers = {"ETag": f'W/"{tag}"', "Cache-Control": "private, no-cache"}
        if if_none_match and any(t.strip().removeprefix("W/").strip('"') in (tag, "*")
                                 for t in if_none_match.split(",")):
            return Response(status_code=304, headers=headers)
        collection = await grid_geojson(container.pool, code, level, simplify=simplify, precision=precision, bbox=box)
        return Response(collection, media_type="application/geo+json", headers=headers)

    @router.get("/grids/{code}", responses=problems(404))
    async def get_grid(code: str, caller: Caller, container: RoutingApp) -> dict:
        row = await grid_row(container.pool, code)
        # Inside the caller's area, or one of the areas above it (a grid worker reads its community's record).
        if row is None or not (caller.sees(code) or any(prefix.startswith(code) for prefix in caller.area)):
            raise Problem(404, f"no grid {code}")  # elsewhere: as if absent
        return row

    @router.get("/locate", responses=problems(404))
    async def locate(caller: Caller, container: RoutingApp, lon: float | None = Query(None),
                     lat: float | None = Query(None),
                     address: str | None = Query(None, min_length=1, max_length=500,
                                                 description="instead of lon/lat: match registry names")) -> dict:
        """The grid and its community, street and district of a point, or of an address (which may name
        only a community, street or district: `grid` is then null)."""
        locator = await container.registry.locator()
        if lon is None and lat is None and address is not None:
            located, match = locator.match_address(address)
            if located is None:
                raise Problem(404, f"no place for {address!r}: {match.note}")
            return {**_hierarchy_body(located), "matched": list(match.matched), "note": match.note}
        if lon is None or lat is None or address is not None:
            raise Problem(422, "give lon and lat, or address", errors=[
                {"field": "lon,lat,address", "message": "either lon and lat, or address", "type": "value_error"}])
        if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise Problem(422, "lon and lat must be finite WGS84 degrees",
                          errors=[{"field": "lon,lat", "message": "out of range", "type": "value_error"}])
        located = locator.locate(lon, lat)
        if located is None or located.grid is None:
            raise Problem(404, f"({lon}, {lat}) is outside every grid")
        return _hierarchy_body(located)

    @router.get("/units")
    async def units(caller: Caller, container: RoutingApp,
                    kind: Literal["grid", "community", "street", "district", "department"] | None = None,
                    under: str | None = Query(None, pattern=r"^\d{1,18}$",
                                              description="units with a code of their area under this one"),
                    limit: int = Query(1000, ge=1, le=5000)) -> list[dict]:
        """The units the caller may dispatch a case to (改派): those working inside its area, every code of their
        area in it (a city-wide unit: the city's callers only); the levels from the top, then by id."""
        return await dispatchable_units(container.pool, caller=caller, kind=kind, under=under, limit=limit)

    @router.put("/units/{unit_id}", responses=problems(403))
    async def put_unit(unit_id: str, body: UnitIn, caller: Caller, container: RoutingApp) -> dict:
        require_role(caller, "admin")
        await container.bus.handle(c.PutUnit(Unit(unit_id, body.kind, body.name, tuple(body.area), body.department)))
        return {"id": unit_id, **body.model_dump()}

    @router.put("/workers/{worker_id}", responses=problems(403))
    async def put_worker(worker_id: str, body: WorkerIn, caller: Caller, container: RoutingApp) -> dict:
        """Create or replace a worker (its roster, if any, is kept); a `unit_id` that names no unit: 422."""
        require_role(caller, "admin")
        await container.bus.handle(c.PutWorker(worker_id, body.name, body.phone, body.unit_id,
                                               tuple(body.grid_codes), body.on_duty))
        return {"id": worker_id, **body.model_dump()}

    @router.put("/workers/{worker_id}/roster", responses=problems(403, 404))
    async def put_roster(worker_id: str, body: RosterIn, caller: Caller, container: RoutingApp) -> dict:
        """Replace the worker's duty roster (排班)."""
        require_role(caller, "admin")
        roster = await container.bus.handle(c.PutRoster(worker_id, tuple(s.model_dump() for s in body.weekly),
                                                         tuple(p.model_dump() for p in body.periods)))
        return {"worker_id": worker_id, **roster_as_dict(roster)}

    @router.get("/workers/{worker_id}/roster", responses=problems(403, 404))
    async def get_roster(worker_id: str, caller: Caller, container: RoutingApp) -> dict:
        """The roster (null: the on_duty switch alone decides) and whether the worker is on duty now."""
        found = await worker_row(container.pool, worker_id)
        worker, updated_at = found if found is not None else (None, None)
        # Another area's worker is as if absent; one placed in no grid (a department's) belongs to no area: the
        # city's callers and the worker alone see it.
        if worker is None or not (caller.sub == worker_id or any(caller.sees(code) for code in worker.grid_codes)
                                  or "" in caller.area):
            raise Problem(404, f"no worker {worker_id!r}")
        now = container.clock.now()
        return {"worker_id": worker_id, "on_duty": worker.on_duty,
                "roster": roster_as_dict(worker.roster) if worker.roster else None, "updated_at": updated_at,
                "now": now, "on_duty_now": worker.on_duty_at(now)}

    @router.delete("/workers/{worker_id}/roster", status_code=204, responses=problems(403, 404))
    async def delete_roster(worker_id: str, caller: Caller, container: RoutingApp) -> Response:
        require_role(caller, "admin")
        await container.bus.handle(c.DeleteRoster(worker_id))
        return Response(status_code=204)

    @router.get("/rules", responses=problems(403))
    async def rules(caller: Caller, container: RoutingApp) -> list[dict]:
        require_role(caller, "admin", "supervisor", "leader")
        return await list_rules(container.pool)

    @router.put("/rules", responses=problems(403))
    async def put_rules(body: list[RuleIn], caller: Caller, container: RoutingApp) -> dict:
        require_role(caller, "admin")
        updated = await container.bus.handle(c.PutRules(tuple(
            c.RuleEntry(r.category, r.urgency, r.owner, r.co_owner) for r in body)))
        return {"updated": updated}

    @router.get("/dedicated-types")
    async def dedicated_types(caller: Caller, container: RoutingApp) -> dict[str, list[str]]:
        """What each kind of dedicated grid (school, hospital, ...) handles itself; other categories reported
        inside one go to the comprehensive grid beneath it."""
        return await dedicated_categories(container.pool)

    @router.put("/dedicated-types/{dedicated_type}", responses=problems(403))
    async def put_dedicated_type(dedicated_type: Annotated[str, Path(pattern=r"^[a-z][a-z_]{0,39}$")],
                                 body: DedicatedCategoriesIn, caller: Caller, container: RoutingApp) -> dict:
        require_role(caller, "admin")
        categories = await container.bus.handle(c.PutDedicatedCategories(dedicated_type, tuple(body.categories)))
        return {"dedicated_type": dedicated_type, "categories": categories}

    @router.post("/assignments/{incident_id}/dispatch", responses=problems(403, 404, 409))
    async def dispatch(incident_id: uuid.UUID, body: DispatchIn, caller: Caller, container: RoutingApp) -> dict:
        require_role(caller, "supervisor", "leader", "admin")
        owner = await container.bus.handle(c.DispatchIncident(incident_id, body.unit, body.worker, body.reason,
                                                              caller))
        return {"incident_id": str(incident_id), "owner": owner.model_dump()}

    @router.get("/assignments/{incident_id}", responses=problems(404))
    async def assignments(incident_id: uuid.UUID, caller: Caller, container: RoutingApp) -> dict:
        history = await assignment_history(container.pool, incident_id)
        if not history or not _sees_history(caller, history):
            raise Problem(404, f"no routing decision for {incident_id} yet")  # another area's is as if absent
        current = next((h for h in reversed(history) if h["unit_id"]), None)
        return {"incident_id": str(incident_id), "current": current, "history": history}

    return router


def _sees_history(caller: Principal, history: list[dict]) -> bool:
    """A case's routing is for the callers whose area holds its place now, and for the units it was given to (a
    case not yet placed: city-wide callers only)."""
    place = next((h["place_code"] for h in reversed(history) if h["place_code"]), None)
    if caller.sees(place):
        return True
    return caller.unit is not None and any(h["unit_id"] == caller.unit for h in history)



def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """`west,south,east,north` in degrees, each inside its range and west < east, south < north; else 422."""
    if text is None:
        return None
    west, south, east, north = (float(part) for part in text.split(","))
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise Problem(422, "bbox is west,south,east,north in degrees, west < east and south < north",
                      errors=[{"field": "query.bbox", "message": "not a box on the globe", "type": "value_error"}])
    return west, south, east, north


def _decode_grid_file(raw: bytes, max_features: int, max_vertices: int) -> Any:
    """The grid file's JSON, within the import's caps (run in a worker thread: a city's file is MBs of JSON)."""
    try:
        collection = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(422, f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise Problem(422, "body is not a GeoJSON file: its arrays are nested too deep") from exc
    if cap := exceeded_cap(collection, max_features, max_vertices):
        raise GridImportTooLarge(*cap)
    return collection


def _hierarchy_body(located: Located) -> dict:
    def pick(g: GridInfo | None) -> dict[str, str] | None:
        return {"code": g.code, "name": g.name} if g else None

    grid = located.grid
    return {"grid": {"code": grid.code, "name": grid.name, "kind": grid.kind} if grid else None,
            "community": pick(located.community), "street": pick(located.street), "district": pick(located.district)}


def create_app(settings: RoutingSettings | None = None, container: RoutingContainer | None = None) -> FastAPI:
    settings = settings or RoutingSettings()

    async def start() -> RoutingContainer:
        return container or await bootstrap(settings)

    return create_service_app("routing", "Routing: who owns a case", start, [build_router()],
                              jwt_secret=settings.auth_jwt_secret.get_secret_value(), access=ACCESS,
                              larger_bodies={GRID_IMPORT: settings.grid_import_max_bytes})
