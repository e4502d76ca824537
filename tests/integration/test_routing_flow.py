"""Routing on a real PostGIS database: the built-in city, rules, returns escalating, the centre's dispatch."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.routing.adapters.repository import RegistryCache
from services.routing.bootstrap import pg_message_bus
from services.routing.domain import commands as c
from services.routing.domain.assignment import Unit, Worker
from services.routing.domain.errors import DispatchRefused
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.events import intake as ev
from shared.events.envelope import Envelope
from shared.events.intake import Point
from shared.messaging.consumer import EventProcessor, Incoming
from tests.support import ROOT, SERVICE_DIRS, FixedClock, serving

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
IN_GRID_1 = Point(lon=120.612, lat=31.31)
SUPERVISOR = c.Actor("sup", "supervisor", ("",))


@pytest.fixture
async def routing(fresh_database):
    dsn = await fresh_database("routing")
    await migrate(dsn, SERVICE_DIRS["routing"])
    pool = await create_pool(dsn, 1, 4)
    bus = pg_message_bus(pool, FixedClock(NOW), RegistryCache(pool, check_seconds=0))
    city = json.loads((ROOT / "deploy/demo/small-city.geojson").read_text())
    people = json.loads((ROOT / "deploy/demo/small-city-people.json").read_text())
    await bus.handle(c.ImportGrids(city))
    units = [Unit(u["id"], u["kind"], u["name"], tuple(u["area"]), u.get("department")) for u in people["units"]]
    units.append(Unit("dept-municipal-320508", "department", "姑苏区市政局", ("320508",), "municipal"))
    workers = [Worker(w["id"], w["name"], w["phone"], w["unit_id"], tuple(w["grid_codes"]), w["on_duty"])
               for w in people["workers"]]
    await bus.handle(c.LoadDirectory(tuple(units), tuple(workers)))
    processor = EventProcessor("routing", bus.event_handlers, bus.uow, pool, max_attempts=1)
    yield pool, bus, processor, dsn
    await pool.close()


async def feed(processor, event, offset=[0]) -> str:  # noqa: B006 - a running offset for fake records
    offset[0] += 1
    env = Envelope.wrap(event, source="/intake", time=event.at)
    return await processor.process(Incoming("t", 0, offset[0], env.subject, env.model_dump_json()))


def report(category="city.ads", urgency="normal", location=IN_GRID_1, grid_code=None, address=None):
    return ev.IncidentReceived(incident_id=uuid.uuid4(), at=NOW, source="gridworker", category=category,
                               urgency=urgency, title="x", location=location, grid_code=grid_code, reported_at=NOW,
                               address=address)


async def published(pool) -> list[dict]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [json.loads(r["payload"]) for r in rows]


async def test_rules_decide_the_owner_and_emergencies_get_the_district_as_co_owner(routing):
    pool, bus, processor, dsn = routing
    await feed(processor, report("city.ads"))                          # rule: grid
    await feed(processor, report("infra.facility"))                    # rule: dept:municipal
    await feed(processor, report("dispute.family"))                    # rule: community
    await feed(processor, report("safety.fire", "emergency"))          # rule: community + district 协办
    events = await published(pool)
    owners = [(e["data"]["owner"]["unit_id"], [c["unit_id"] for c in e["data"]["co_owners"]]) for e in events]
    assert owners == [("grid-320508019044001", []), ("dept-municipal-320508", []),
                      ("community-320508019044", []), ("community-320508019044", ["district-320508"])]
    assert all(e["type"] == "routing.incident.assigned" and e["data"]["reason"] for e in events)


async def test_a_rule_naming_two_departments_finds_each_among_the_districts_others(routing):
    """Of the district's departments a decision reads only those its rule names (decision_contexts): the owner's
    and the co-owner's are each found among several, and a department the city lacks falls to the district."""
    pool, bus, processor, dsn = routing
    await bus.handle(c.LoadDirectory(units=tuple(
        Unit(f"dept-{kind}-320508", "department", name, ("320508",), kind)
        for kind, name in (("water", "姑苏区水务局"), ("health", "姑苏区卫健委"), ("police", "姑苏区公安分局")))))
    await bus.handle(c.PutRules((c.RuleEntry("infra.drainage", "urgent", "dept:water", "dept:municipal"),
                                 c.RuleEntry("safety.gas", "*", "dept:gas", "dept:health"))))
    await feed(processor, report("infra.drainage", "urgent"))
    await feed(processor, report("safety.gas"))  # no gas department in the district
    drainage, gas = (e["data"] for e in await published(pool))
    assert (drainage["owner"]["unit_id"], [c["unit_id"] for c in drainage["co_owners"]]) == (
        "dept-water-320508", ["dept-municipal-320508"])
    assert (gas["owner"]["unit_id"], [c["unit_id"] for c in gas["co_owners"]]) == (
        "district-320508", ["dept-health-320508"])
    assert "no gas department here" in gas["reason"]


async def test_a_case_and_its_first_decision_are_written_once_even_if_its_event_comes_again(routing):
    """Routing's copy of a case and its first decision go in one statement (record_first_assignment), and only
    for a case routing has not seen: a re-published IncidentReceived (a new event id, past the inbox) changes
    nothing and emits nothing, routed or not."""
    pool, bus, processor, dsn = routing
    routed, lost = report("safety.fire", "emergency", address="十全街"), report(location=None)
    for event in (routed, lost, routed, lost):
        assert await feed(processor, event) == "applied"
    assert [e["type"] for e in await published(pool)] == ["routing.incident.assigned", "routing.incident.unroutable"]
    rows = {r["incident_id"]: r for r in await pool.fetch(
        "SELECT incident_id, category, urgency, lon, lat, address, received_at, current_unit_id, place_code,"
        " co_owners::text AS co_owners, (SELECT count(*) FROM assignment a WHERE a.incident_id = r.incident_id)"
        " AS decisions FROM routed_incident r")}
    case = rows[routed.incident_id]
    assert (case["category"], case["urgency"], case["lon"], case["lat"], case["address"], case["received_at"]) == (
        "safety.fire", "emergency", IN_GRID_1.lon, IN_GRID_1.lat, "十全街", NOW)
    assert (case["current_unit_id"], case["place_code"], case["decisions"]) == (
        "community-320508019044", "320508019044001", 1)
    assert json.loads(case["co_owners"])[0]["unit_id"] == "district-320508"
    nowhere = rows[lost.incident_id]
    assert (nowhere["current_unit_id"], nowhere["place_code"], nowhere["co_owners"], nowhere["decisions"]) == (
        None, None, "[]", 1)


async def test_no_location_and_no_grid_goes_to_the_centres_queue_never_dropped(routing):
    pool, bus, processor, dsn = routing
    await feed(processor, report(location=None))
    await feed(processor, report(location=Point(lon=100.0, lat=30.0)))  # in China, outside every grid
    await feed(processor, report(location=None, grid_code="320508019045004"))  # by grid code
    events = await published(pool)
    assert [e["type"] for e in events] == ["routing.incident.unroutable", "routing.incident.unroutable",
                                           "routing.incident.assigned"]
    assert events[2]["data"]["owner"]["unit_id"] == "community-320508019045"  # its worker is off duty


async def test_returns_escalate_then_the_centre_dispatches(routing):
    pool, bus, processor, dsn = routing
    case = report("city.ads")
    await feed(processor, case)
    for count, expected in ((1, "community-320508019044"),):
        await feed(processor, ev.IncidentReturned(incident_id=case.incident_id, at=NOW, reason="非本单位职责",
                                                  unit_id="grid-320508019044001", return_count=count))
        last = (await published(pool))[-1]
        assert last["type"] == "routing.incident.reassigned" and last["data"]["owner"]["unit_id"] == expected
        assert last["data"]["previous_unit_id"] == "grid-320508019044001"
    await feed(processor, ev.IncidentReturned(incident_id=case.incident_id, at=NOW, reason="非本辖区",
                                              unit_id="community-320508019044", return_count=2))
    assert (await published(pool))[-1]["type"] == "routing.incident.unroutable"
    owner = await bus.handle(c.DispatchIncident(case.incident_id, "street-320508019", None, "街道牵头处理", SUPERVISOR))
    assert owner.unit_id == "street-320508019"
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM assignment WHERE incident_id = $1 ORDER BY id",
                                                 case.incident_id)]
    assert kinds == ["assigned", "reassigned", "unroutable", "dispatched"]
    with pytest.raises(DispatchRefused):
        await bus.handle(c.DispatchIncident(case.incident_id, "no-such-unit", None, "x", SUPERVISOR))


async def test_browse_export_and_locate_over_http(routing):
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    pool, bus, processor, dsn = routing
    app = create_app(RoutingSettings(database_url=dsn))
    admin = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'a', 'admin', [''])}"}
    community = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'c', 'community', ['320508019044'])}"}
    async with serving(app) as client:
        grids = (await client.get("/v1/grids", params={"parent": "320508019044"}, headers=admin)).json()
        assert [g["code"] for g in grids] == ["320508019044001", "320508019044002", "320508019044003",
                                              "320508019044004", "320508019044801"]
        mine = (await client.get("/v1/grids", params={"level": "grid"}, headers=community)).json()
        assert {g["code"][:12] for g in mine} == {"320508019044"}
        other = await client.get("/v1/grids", params={"parent": "320508019045"}, headers=community)
        assert other.status_code == 200 and other.json() == []  # a list is filtered to the caller's area
        export = await client.get("/v1/grids/320508019044/geojson", headers=admin)
        assert export.headers["content-type"] == "application/geo+json"
        features = export.json()["features"]
        assert [f["properties"]["code"] for f in features][:2] == ["320508019044", "320508019044001"]
        assert features[1]["geometry"]["type"] == "MultiPolygon"
        only_grids = (await client.get("/v1/grids/320508/geojson", params={"level": "grid"},
                                       headers=admin)).json()["features"]
        assert len(only_grids) == 9
        located = (await client.get("/v1/locate", params={"lon": 120.612, "lat": 31.31}, headers=admin)).json()
        assert located["grid"]["code"] == "320508019044001" and located["district"]["name"] == "姑苏区"
        assert (await client.get("/v1/locate", params={"lon": 0, "lat": 90}, headers=admin)).status_code == 404
        assert (await client.get("/v1/locate", params={"lon": "nan", "lat": 31}, headers=admin)).status_code == 422
        by_address = (await client.get("/v1/locate", params={"address": "桃坞社区居委会对面"}, headers=admin)).json()
        assert by_address["grid"] is None and by_address["community"]["code"] == "320508019045"
        assert by_address["matched"] == ["桃坞社区"]
        nowhere = await client.get("/v1/locate", params={"address": "人民路1号"}, headers=admin)
        assert nowhere.status_code == 404 and "no registry name" in nowhere.json()["detail"]
        assert (await client.get("/v1/locate", headers=admin)).status_code == 422
        assert (await client.get("/v1/locate", params={"lon": 120.6}, headers=admin)).status_code == 422


async def test_the_geojson_export_gives_a_map_what_its_view_needs_inside_the_callers_area(routing):
    """Issue 16, item 6: levels, a bounding box, simplified outlines with fewer decimals, grid counts on the areas,
    and an ETag that holds until the registry changes; another area's grid stays as if absent."""
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    def bearer(role: str, area: list[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'm', role, area)}"}

    def codes(response) -> list[str]:
        assert response.status_code == 200, response.text
        return [f["properties"]["code"] for f in response.json()["features"]]

    pool, bus, processor, dsn = routing
    admin, district = bearer("admin", [""]), bearer("supervisor", ["320508"])
    meihua = bearer("community", ["320508019044"])
    async with serving(create_app(RoutingSettings(database_url=dsn))) as client:
        export = "/v1/grids/320508/geojson"
        # Levels (repeated) and the grid count of every district, street and community.
        areas = (await client.get(export, params={"level": ["street", "community"]}, headers=district)).json()
        assert {f["properties"]["code"]: f["properties"]["grids"] for f in areas["features"]} == {
            "320508019": 9, "320508019044": 5, "320508019045": 4}  # 梅花's 4 grids and its school
        assert "grids" not in (await client.get(export, params={"level": "grid"}, headers=district)).json()[
            "features"][0]["properties"]
        # A bounding box (west,south,east,north): the grids touching it, through the GiST index.
        box = {"level": "grid", "bbox": "120.601,31.301,120.612,31.31"}
        assert codes(await client.get(export, params=box, headers=district)) == ["320508019044001", "320508019044801"]
        assert codes(await client.get(export, params={**box, "bbox": "0,0,1,1"}, headers=district)) == []
        # Fewer decimals; simplified outlines stay valid MultiPolygons, however coarse the tolerance.
        light = (await client.get(export, params={"level": "grid", "precision": 3, "simplify": 0.01},
                                  headers=district)).json()["features"]
        assert len(light) == 9 and all(f["geometry"]["type"] == "MultiPolygon" for f in light)
        points = [xy for f in light for polygon in f["geometry"]["coordinates"] for ring in polygon for xy in ring]
        assert all(round(v, 3) == v for xy in points for v in xy) and len(points) >= 9 * 4
        for refused in ({"bbox": "120.7,31.3,120.6,31.4"}, {"bbox": "120.6,31.3,120.7"}, {"bbox": "0,95,1,96"},
                        {"precision": 9}, {"simplify": 1}, {"simplify": -0.1}, {"level": "block"}):
            answer = await client.get(export, params=refused, headers=district)
            assert answer.status_code == 422, (refused, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"

        # Inside the caller's area only: another area's grid is as if absent, whatever the box; its own export
        # never reaches past it, even with a box covering the neighbour.
        everywhere = {"bbox": "120.5,31.2,120.7,31.4"}
        assert (await client.get("/v1/grids/320508019045/geojson", params=everywhere,
                                 headers=meihua)).status_code == 404
        assert (await client.get(export, params=everywhere, headers=meihua)).status_code == 404
        mine = codes(await client.get("/v1/grids/320508019044/geojson", params=everywhere, headers=meihua))
        assert mine and all(code.startswith("320508019044") for code in mine)

        # Revalidation: the same query keeps its ETag (304, no body) until an import changes the registry.
        first = await client.get(export, params=box, headers=district)
        tag = first.headers["etag"]
        assert tag.startswith('W/"') and first.headers["cache-control"] == "private, no-cache"
        again = await client.get(export, params=box, headers={**district, "If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
        other = await client.get(export, params={**box, "precision": 5}, headers={**district, "If-None-Match": tag})
        assert other.status_code == 200 and other.headers["etag"] != tag
        elsewhere = await client.get("/v1/grids/320508019045/geojson", headers={**meihua, "If-None-Match": "*"})
        assert elsewhere.status_code == 404  # the area is checked before the cache
        await bus.handle(c.ImportGrids(json.loads((ROOT / "deploy/demo/small-city.geojson").read_text())))
        changed = await client.get(export, params=box, headers={**admin, "If-None-Match": tag})
        assert changed.status_code == 200 and changed.headers["etag"] != tag


def _grid_feature(code: str, ring: list[list[float]], kind: str = "comprehensive") -> dict:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"code": code, "name": f"网格{code[-3:]}", "level": "grid", "kind": kind,
                           "parent_code": code[:12]}}


def _square(x0: float, y0: float, size: float = 0.001) -> list[list[float]]:
    return [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]


async def test_an_import_with_overlapping_comprehensive_grids_is_refused_whole_naming_the_features(routing):
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    pool, bus, processor, dsn = routing
    app = create_app(RoutingSettings(database_url=dsn))
    admin = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'a', 'admin', [''])}"}
    before = await pool.fetchval("SELECT count(*) FROM grid")
    version = await pool.fetchval("SELECT version FROM registry_version")
    # 梅花社区第1网格 covers [120.6, 120.615] × [31.3, 31.32] in the built-in city.
    async with serving(app) as client:
        refused = await client.post("/v1/grids/import", headers=admin, json={"type": "FeatureCollection", "features": [
            _grid_feature("320508019045901", _square(121.0, 32.0)),         # fine alone
            _grid_feature("320508019045902", _square(121.0005, 32.0)),      # half over the first
            _grid_feature("320508019044905", _square(120.611, 31.306)),     # inside a registered grid
            _grid_feature("320508019044906", _square(120.6112, 31.3062, 0.0002), "dedicated"),  # allowed
        ]})
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        errors = refused.json()["errors"]
        assert [(e["feature"], e["code"]) for e in errors] == [(1, "320508019045902"), (2, "320508019044905")]
        assert [(e["field"], e["type"]) for e in errors] == [("features.1", "grid_feature"),
                                                             ("features.2", "grid_feature")]
        assert "320508019045901 (feature 0)" in errors[0]["message"]
        assert "320508019044001 already in the registry" in errors[1]["message"]
        assert await pool.fetchval("SELECT count(*) FROM grid") == before
        assert await pool.fetchval("SELECT version FROM registry_version") == version

        # Micro grids (buildings) of 梅花社区第1网格: one is registered, a second drawn half over it is refused.
        def micro(code: str, x0: float) -> dict:
            return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_square(x0, 31.306, 0.0002)]},
                    "properties": {"code": code, "name": f"{code[-1]}号楼", "level": "micro",
                                   "parent_code": "320508019044001"}}

        first_building = await client.post("/v1/grids/import", headers=admin, json={
            "type": "FeatureCollection", "features": [micro("320508019044001001", 120.611)]})
        assert first_building.status_code == 200, first_building.text
        overlapping = await client.post("/v1/grids/import", headers=admin, json={
            "type": "FeatureCollection", "features": [micro("320508019044001002", 120.6111)]})
        assert overlapping.status_code == 422
        [error] = overlapping.json()["errors"]
        assert "micro grid overlaps micro grid 320508019044001001 already in the registry" in error["message"]
        assert await pool.fetchval("SELECT count(*) FROM grid WHERE level = 'micro'") == 1

        # Redrawing a registered grid replaces it: its old shape is not an overlap with its new one.
        redrawn = await client.post("/v1/grids/import", headers=admin, json={"type": "FeatureCollection", "features": [
            _grid_feature("320508019044001", _square(120.6105, 31.3055, 0.004))]})
        assert redrawn.status_code == 200, redrawn.text


async def test_location_else_address_else_grid_code_else_the_centre_and_the_reason_says_which(routing):
    pool, bus, processor, dsn = routing
    cases = [
        report(address="桃坞社区"),                                               # coordinates win
        report(location=None, address="姑苏区平江街道梅花社区第二网格东侧"),        # 第二 = 第2
        report("safety.campus", location=Point(lon=100.0, lat=30.0), address="平江实验学校南门"),  # dedicated grid
        report(location=None, address="桃坞社区居委会"),                           # community only
        report(location=None, address="人民路1号", grid_code="320508019045001"),
        report(location=None, address="人民路1号"),
    ]
    for case in cases:
        await feed(processor, case)
    events = [e["data"] for e in await published(pool)]
    owners = [e["owner"]["unit_id"] if "owner" in e else None for e in events]
    assert owners == ["grid-320508019044001", "grid-320508019044002", "grid-320508019044801",
                      "community-320508019045", "grid-320508019045001", None]
    reasons = [e["reason"] for e in events]
    assert reasons[0].startswith("located by coordinates in grid 320508019044001")
    assert reasons[1].startswith("placed by address (matched 姑苏区、平江街道、梅花社区第2网格) "
                                 "in grid 320508019044002")
    assert reasons[2].startswith("coordinates (100.0, 30.0) are outside every grid; placed by address "
                                 "(matched 平江实验学校) in grid 320508019044801")
    assert "in community 320508019045 桃坞社区; no grid known for the place: community" in reasons[3]
    assert reasons[4].startswith("address '人民路1号': no registry name in the address; by the reported grid code")
    assert "address '人民路1号'" in reasons[5] and "command centre's queue" in reasons[5]
    assert (events[3]["grid_code"], events[3]["community_code"], events[3]["district_code"]) == (
        None, "320508019045", "320508")
    history = await pool.fetchrow("SELECT grid_code, place_code FROM assignment WHERE incident_id = $1",
                                  cases[3].incident_id)
    assert (history["grid_code"], history["place_code"]) == (None, "320508019045")


async def test_a_case_placed_at_a_community_by_address_escalates_from_there_when_returned(routing):
    pool, bus, processor, dsn = routing
    case = report("dispute.family", location=None, address="桃坞社区")
    await feed(processor, case)
    await feed(processor, ev.IncidentReturned(incident_id=case.incident_id, at=NOW, reason="非本单位职责",
                                              unit_id="community-320508019045", return_count=1))
    last = (await published(pool))[-1]
    assert last["type"] == "routing.incident.reassigned"
    assert last["data"]["owner"]["unit_id"] == "street-320508019"
    assert last["data"]["community_code"] == "320508019045" and last["data"]["grid_code"] is None


async def test_rosters_are_kept_validated_over_http_and_decide_who_is_on_duty(routing):
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    pool, bus, processor, dsn = routing
    app = create_app(RoutingSettings(database_url=dsn))
    admin = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'a', 'admin', [''])}"}
    elsewhere = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'c', 'community', ['320508019045'])}"}
    worker = "/v1/workers/gw-320508019044001/roster"
    # Night shifts every day; NOW (2026-11-23 01:00 UTC) is 09:00 on a Monday in Shanghai.
    night = {"weekly": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "17:30", "end": "08:30"}], "periods": []}
    async with serving(app) as client:
        put = await client.put(worker, headers=admin, json=night)
        assert put.status_code == 200 and put.json()["weekly"][0]["end"] == "08:30"
        refused = await client.put(worker, headers=admin, json={"weekly": [
            {"days": [1, 9], "start": "08:00", "end": "12:00"}, {"days": [2], "start": "12:00", "end": "12:00"}],
            "periods": [{"start": "2026-11-24T08:00:00+08:00", "end": "2026-11-24T07:00:00+08:00"}]})
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == ["weekly[0].days", "weekly[1]", "periods[0]"]
        naive = await client.put(worker, headers=admin, json={"periods": [
            {"start": "2026-11-24T08:00:00", "end": "2026-11-24T09:00:00"}]})
        assert naive.status_code == 422
        assert (await client.put("/v1/workers/nobody/roster", headers=admin, json=night)).status_code == 404
        assert (await client.put(worker, headers=elsewhere, json=night)).status_code == 403
        kept = (await client.get(worker, headers=admin)).json()
        assert kept["roster"] == {"weekly": night["weekly"], "periods": []}   # the refused puts changed nothing
        assert (await client.get(worker, headers=elsewhere)).status_code == 404   # a read elsewhere: as if absent
        # A worker placed in no grid (a department's) belongs to no area: the city and the worker see it.
        assert (await client.put("/v1/workers/dept-w1", headers=admin,
                                 json={"name": "水务巡查员", "phone": "13900000777"})).status_code == 200
        assert (await client.get("/v1/workers/dept-w1/roster", headers=elsewhere)).status_code == 404
        assert (await client.get("/v1/workers/dept-w1/roster", headers=admin)).status_code == 200
        themself = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'dept-w1', 'department', ['320508'])}"}
        assert (await client.get("/v1/workers/dept-w1/roster", headers=themself)).status_code == 200

        case = report("city.ads")  # in grid 320508019044001, at 09:00: its worker is off by the roster
        await feed(processor, case)
        assigned = (await published(pool))[-1]["data"]
        assert assigned["owner"]["unit_id"] == "community-320508019044"
        assert "no grid worker on duty at 2026-11-23 09:00 (张伟 off by the roster)" in assigned["reason"]

        # The same grid at 20:00 local: on duty by the roster.
        evening = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        late_bus = pg_message_bus(pool, FixedClock(evening), RegistryCache(pool, 0))
        late = EventProcessor("routing", late_bus.event_handlers, late_bus.uow, pool, max_attempts=1)
        await feed(late, report("city.ads"))
        assert (await published(pool))[-1]["data"]["owner"]["worker_id"] == "gw-320508019044001"

        # Whether the worker is on duty now follows the service's clock: leave around now takes them off.
        now = datetime.now(UTC)
        always = {"weekly": [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}]}
        await client.put(worker, headers=admin, json=always)
        assert (await client.get(worker, headers=admin)).json()["on_duty_now"] is True
        leave = {**always, "periods": [{"start": (now - timedelta(hours=1)).isoformat(),
                                        "end": (now + timedelta(hours=1)).isoformat(), "on_duty": False,
                                        "note": "请假"}]}
        await client.put(worker, headers=admin, json=leave)
        assert (await client.get(worker, headers=admin)).json()["on_duty_now"] is False
        assert (await client.delete(worker, headers=admin)).status_code == 204
        assert (await client.get(worker, headers=admin)).json()["roster"] is None
        assert (await client.delete(worker, headers=admin)).status_code == 404


async def test_units_workers_rules_and_dispatch_over_http_refuse_what_does_not_fit_and_change_nothing(routing):
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    pool, bus, processor, dsn = routing
    app = create_app(RoutingSettings(database_url=dsn))
    admin = {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'a', 'admin', [''])}"}
    worker = "/v1/workers/gw-320508019044001"
    before = dict(await pool.fetchrow("SELECT name, phone, unit_id, grid_codes FROM worker WHERE id = $1",
                                      "gw-320508019044001"))
    async with serving(app) as client:
        # Was a 500 (foreign key violation): a worker under a unit that does not exist.
        refused = await client.put(worker, headers=admin, json={"name": "张伟", "phone": "13800000000",
                                                                "unit_id": "no-such-unit"})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"] == [{"field": "unit_id", "message": "no unit 'no-such-unit'",
                                             "type": "unknown_unit"}]
        assert dict(await pool.fetchrow("SELECT name, phone, unit_id, grid_codes FROM worker WHERE id = $1",
                                        "gw-320508019044001")) == before
        put_unit = await client.put("/v1/units/grid-new", headers=admin, json={
            "kind": "grid", "name": "新网格", "area": ["320508019044004"]})
        assert put_unit.status_code == 200 and put_unit.json()["id"] == "grid-new"
        moved = await client.put(worker, headers=admin, json={"name": "张伟", "phone": "13800000000",
                                                              "unit_id": "grid-new", "grid_codes": ["320508019044004"]})
        assert moved.status_code == 200 and moved.json()["unit_id"] == "grid-new"
        assert await pool.fetchval("SELECT unit_id FROM worker WHERE id = $1", "gw-320508019044001") == "grid-new"

        bad_rules = await client.put("/v1/rules", headers=admin, json=[
            {"category": "city.ads", "owner": "street"}, {"category": "city.garbage", "owner": "mayor"}])
        assert bad_rules.status_code == 422 and [e["field"] for e in bad_rules.json()["errors"]] == ["1.owner"]
        assert await pool.fetchval("SELECT owner FROM routing_rule WHERE category = 'city.ads'") == "grid"
        rules = await client.put("/v1/rules", headers=admin, json=[{"category": "city.ads", "owner": "street"}])
        assert rules.json() == {"updated": 1}

        nobody = await client.post(f"/v1/assignments/{uuid.uuid4()}/dispatch", headers=admin,
                                   json={"unit": "street-320508019", "reason": "x"})
        assert nobody.status_code == 404
        case = report("city.ads")
        await feed(processor, case)
        no_unit = await client.post(f"/v1/assignments/{case.incident_id}/dispatch", headers=admin,
                                    json={"unit": "no-such-unit", "reason": "x"})
        assert no_unit.status_code == 422 and no_unit.json()["errors"][0]["field"] == "unit"
        dispatched = await client.post(f"/v1/assignments/{case.incident_id}/dispatch", headers=admin,
                                       json={"unit": "street-320508019", "reason": "街道牵头"})
        assert dispatched.status_code == 200 and dispatched.json()["owner"]["unit_id"] == "street-320508019"
        history = (await client.get(f"/v1/assignments/{case.incident_id}", headers=admin)).json()
        assert [h["kind"] for h in history["history"]] == ["assigned", "dispatched"]
        assert history["current"]["reason"] == "dispatched by a: 街道牵头"


async def test_a_cases_routing_grids_and_rules_are_read_only_inside_the_callers_area(routing):
    """Issue 15: the assignment history is for the case's area and the units it went to; a grid record for its
    area and the areas above; the rules for the centre's roles."""
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    def bearer(sub: str, role: str, area: list[str], unit: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, sub, role, area, unit)}"}

    pool, bus, processor, dsn = routing
    case = report()
    await feed(processor, case)
    path = f"/v1/assignments/{case.incident_id}"
    async with serving(create_app(RoutingSettings(database_url=dsn))) as client:
        assert (await client.get(path, headers=bearer("sup", "supervisor", ["320508"]))).status_code == 200
        assert (await client.get(path, headers=bearer("sup9", "supervisor", ["310101"]))).status_code == 404
        owner = (await client.get(path, headers=bearer("sup", "supervisor", [""]))).json()["current"]["unit_id"]
        elsewhere_owner = bearer("w", "gridworker", ["310101001001001"], unit=owner)
        assert (await client.get(path, headers=elsewhere_owner)).status_code == 200  # the unit it went to
        worker = bearer("w1", "gridworker", ["320508019044001"])
        assert (await client.get("/v1/grids/320508019044001", headers=worker)).status_code == 200
        assert (await client.get("/v1/grids/320508019", headers=worker)).status_code == 200  # its street
        assert (await client.get("/v1/grids/320508019044002", headers=worker)).status_code == 404
        assert (await client.get("/v1/rules", headers=worker)).status_code == 403
        assert (await client.get("/v1/rules", headers=bearer("sup", "supervisor", ["320508"]))).status_code == 200


async def test_the_units_a_supervisor_may_dispatch_to_are_those_inside_its_area(routing):
    """Issue 16 (the case page's 改派): GET /v1/units lists the units working inside the caller's area, every code
    of their area in it (Actor.covers, what the dispatch checks): a community's supervisor gets its community and
    grids, not the street or the district above; a kind and a code narrow it; the centre's roles only."""
    from services.routing.config import RoutingSettings
    from services.routing.entrypoints.http import create_app
    from shared.auth import issue_token
    from shared.settings import DEV_JWT_SECRET

    def bearer(role: str, area: list[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, 'x', role, area)}"}

    _, _, _, dsn = routing
    async with serving(create_app(RoutingSettings(database_url=dsn))) as client:
        async def ids(headers: dict[str, str], **params: str) -> list[str]:
            response = await client.get("/v1/units", params=params, headers=headers)
            assert response.status_code == 200, response.text
            return [u["id"] for u in response.json()]

        meihua = bearer("supervisor", ["320508019044"])
        assert await ids(meihua) == ["community-320508019044", *(f"grid-320508019044{n}" for n in
                                                                 ("001", "002", "003", "004", "801"))]
        district = await ids(bearer("leader", ["320508"]))
        assert district[:2] == ["district-320508", "street-320508019"] and "dept-municipal-320508" in district
        assert await ids(bearer("supervisor", ["320508"]), kind="community") == [
            "community-320508019044", "community-320508019045"]
        assert await ids(bearer("supervisor", ["320508"]), under="320508019045", kind="grid") == [
            f"grid-320508019045{n}" for n in ("001", "002", "003", "004")]
        assert await ids(meihua, under="320508019045") == []
        assert await ids(bearer("supervisor", ["310101"])) == []
        [first] = (await client.get("/v1/units", params={"limit": 1}, headers=meihua)).json()
        assert first == {"id": "community-320508019044", "kind": "community", "name": "梅花社区居委会",
                         "area": ["320508019044"], "department": None}
        assert (await client.get("/v1/units", headers=bearer("gridworker", ["320508019044001"]))).status_code == 403


async def test_a_run_of_received_cases_routed_at_once_writes_and_emits_what_one_by_one_does(routing):
    """The consumer hands a run of IncidentReceived to route_incidents (two statements for the run): every row and
    every emitted event is the same as routing the same cases one by one, in the same order. The run mixes every
    path: rules, the dedicated grid and a category it does not handle, address and grid-code placement, the centre's
    queue, a linked duplicate, a case already known (re-published with a new id) and a case twice in the run."""
    pool, bus, processor, dsn = routing
    batched = EventProcessor("routing", bus.event_handlers, bus.uow, pool, max_attempts=1,
                             batch_handlers=bus.batch_handlers)

    master = uuid.uuid4()

    def run() -> list[ev.IncidentReceived]:
        known = report("dispute.family")
        twice = report("safety.fire", "emergency", address="十全街")
        linked = report()
        linked = linked.model_copy(update={"duplicate_of": master})
        return [known, report("city.ads"), report("infra.facility"), twice,
                report("safety.campus", location=Point(lon=100.0, lat=30.0), address="平江实验学校南门"),
                report("dispute.land", location=None, address="平江实验学校"),
                report(location=None, address="桃坞社区居委会"),
                report(location=None, address="人民路1号", grid_code="320508019045001"),
                report(location=Point(lon=100.0, lat=30.0)), linked, known.model_copy(), twice.model_copy()]

    async def apply(events, by) -> tuple[list, list]:
        positions = {e.incident_id: n for n, e in reversed(list(enumerate(events)))}
        await feed(processor, events[0])  # the known case, routed before the run
        envelopes = [Envelope.wrap(e, source="/intake", time=e.at) for e in events]
        records = [Incoming("t", 0, 100 + n, env.subject, env.model_dump_json()) for n, env in enumerate(envelopes)]
        outcomes = await by(records)
        assert outcomes == ["applied"] * len(records)
        rows = await pool.fetch(
            "SELECT r.incident_id, category, urgency, lon, lat, address, r.grid_code, received_at, current_unit_id,"
            " r.place_code, co_owners::text AS co_owners, a.at, a.kind, a.unit_id, a.worker_id,"
            " a.grid_code AS decided_grid, a.place_code AS decided_place, a.reason"
            " FROM routed_incident r JOIN assignment a USING (incident_id) ORDER BY a.id")
        cases = [(positions[r["incident_id"]], *[r[k] for k in list(r.keys())[1:]]) for r in rows]
        emitted = [(positions[uuid.UUID(e["subject"])], e["type"],
                    {k: v for k, v in e["data"].items() if k != "incident_id"}) for e in await published(pool)]
        await pool.execute("TRUNCATE routed_incident, assignment, outbox, inbox")
        return cases, emitted

    async def one_by_one(records):
        return [await processor.process(record) for record in records]

    calls: list[int] = []
    original = batched.batch_handlers[ev.IncidentReceived.type]

    async def counted(events, uow):
        await original(events, uow)
        calls.append(len(events))  # counted once it has done its work

    async def no_fallback(record):
        raise AssertionError("the batch fell back to one by one: route_incidents failed")

    batched.batch_handlers = {ev.IncidentReceived.type: counted}
    batched.process = no_fallback
    expected = await apply(run(), one_by_one)
    got = await apply(run(), batched.process_many)
    assert calls == [10, 2]  # the run in one call, up to a case's second event (a re-published one)
    assert got == expected
    kinds = [kind for _, kind, *_ in expected[1]]
    assert kinds.count("routing.incident.assigned") == 8 and kinds.count("routing.incident.unroutable") == 1
