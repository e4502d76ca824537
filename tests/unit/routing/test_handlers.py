"""Routing's handlers through its bus, on fakes: who an incident goes to, returns escalating, the centre's
dispatch, and the refusals of its commands (with the domain error that answers them, and nothing written)."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from typing import Any

import pytest
from shapely.geometry import box

from services.routing.domain import commands as c
from services.routing.domain.assignment import Rule, Unit, Worker
from services.routing.domain.errors import (
    CaseClosed,
    DispatchRefused,
    InvalidGridFile,
    InvalidRule,
    NoRoster,
    OutsideArea,
    RosterRefused,
    UnknownIncident,
    UnknownUnit,
    UnknownWorker,
)
from services.routing.domain.locator import GridInfo, Locator
from services.routing.domain.roster import build_roster
from shared.errors import Invalid, NotFound
from shared.events import intake as ev
from shared.events.intake import Point
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable
from tests.support import handle
from tests.unit.routing.fakes import NOW, FakeRegistry, RoutingStore, fake_bus

DISTRICT, STREET, COMMUNITY = "320508", "320508019", "320508019044"
WEST, EAST = COMMUNITY + "001", COMMUNITY + "002"
IN_WEST, IN_EAST, NOWHERE = Point(lon=120.05, lat=31.1), Point(lon=120.15, lat=31.1), Point(lon=100.0, lat=30.0)
UNITS = (Unit("grid-west", "grid", "西网格", (WEST,)), Unit("grid-east", "grid", "东网格", (EAST,)),
         Unit("community", "community", "梅花社区居委会", (COMMUNITY,)),
         Unit("street", "street", "平江街道办", (STREET,)), Unit("district", "district", "姑苏区", (DISTRICT,)))
WORKERS = (Worker("w-west", "张伟", "13800000001", "grid-west", (WEST,), True),
           Worker("w-community", "李娜", "13800000002", "community", (), True))
ACTOR = c.Actor("sup", "supervisor", ("",))


def city_grids() -> list[tuple[GridInfo, Any]]:
    return [(GridInfo(DISTRICT, "姑苏区", "district", "territorial"), box(120.0, 31.0, 120.2, 31.2)),
            (GridInfo(STREET, "平江街道", "street", "territorial"), box(120.0, 31.0, 120.2, 31.2)),
            (GridInfo(COMMUNITY, "梅花社区", "community", "territorial"), box(120.0, 31.0, 120.2, 31.2)),
            (GridInfo(WEST, "西网格", "grid", "comprehensive"), box(120.0, 31.0, 120.1, 31.2)),
            (GridInfo(EAST, "东网格", "grid", "comprehensive"), box(120.1, 31.0, 120.2, 31.2))]


def city() -> Locator:
    return Locator(city_grids())


@pytest.fixture
def store() -> RoutingStore:
    return RoutingStore()


@pytest.fixture
async def bus(store):
    bus = fake_bus(store, FakeRegistry(city()))
    await bus.handle(c.LoadDirectory(UNITS, WORKERS))
    return bus


def received(location: Point | None = IN_WEST, category: str = "city.ads", **more) -> ev.IncidentReceived:
    return ev.IncidentReceived(incident_id=uuid.uuid4(), at=NOW, source="gridworker", category=category,
                               urgency=more.pop("urgency", "normal"), title="x", location=location, reported_at=NOW,
                               **more)


def returned(case: ev.IncidentReceived, count: int, unit_id: str = "grid-west") -> ev.IncidentReturned:
    return ev.IncidentReturned(incident_id=case.incident_id, at=NOW, reason="非本单位职责", unit_id=unit_id,
                               return_count=count)


# ---- intake's events -------------------------------------------------------------------------------------

async def test_an_incident_in_a_grid_goes_to_its_worker_on_duty(bus, store):
    case = received(IN_WEST)
    await handle(bus, case)
    [assigned] = store.events()
    assert isinstance(assigned, IncidentAssigned)
    assert (assigned.owner.unit_id, assigned.owner.worker_id, assigned.owner.worker_phone) == (
        "grid-west", "w-west", "13800000001")
    assert (assigned.grid_code, assigned.community_code, assigned.district_code) == (WEST, COMMUNITY, DISTRICT)
    assert assigned.reason.startswith("located by coordinates in grid " + WEST)
    [decision] = store.assignments.of(case.incident_id)
    assert (decision.kind, decision.unit_id, decision.worker_id, decision.place_code) == (
        "assigned", "grid-west", "w-west", WEST)


async def test_a_grid_without_a_worker_on_duty_goes_to_its_community_and_rules_pick_the_level(bus, store):
    await bus.handle(c.PutRules((c.RuleEntry("dispute.family", "*", "street"),)))
    await handle(bus, received(IN_EAST))
    await handle(bus, received(IN_WEST, "dispute.family"))
    owners = [e.owner.unit_id for e in store.events() if isinstance(e, IncidentAssigned)]
    assert owners == ["community", "street"]


async def test_an_emergency_gets_the_district_as_co_owner(bus, store):
    await handle(bus, received(IN_WEST, urgency="emergency"))
    [assigned] = store.events()
    assert isinstance(assigned, IncidentAssigned)
    assert [o.unit_id for o in assigned.co_owners] == ["district"]


async def test_an_incident_placed_nowhere_goes_to_the_centres_queue_and_is_recorded(bus, store):
    case = received(NOWHERE)
    await handle(bus, case)
    [unroutable] = store.events()
    assert isinstance(unroutable, IncidentUnroutable)
    assert "outside every grid" in unroutable.reason and "command centre's queue" in unroutable.reason
    assert unroutable.queue == "unplaced"
    [decision] = store.assignments.of(case.incident_id)
    assert (decision.kind, decision.unit_id, decision.place_code) == ("unroutable", None, None)


async def test_a_duplicate_is_recorded_but_not_routed(bus, store):
    master = uuid.uuid4()
    case = received(IN_WEST, duplicate_of=master, grid_code=WEST)
    await handle(bus, case)
    assert store.events() == []
    [decision] = store.assignments.of(case.incident_id)
    assert decision.kind == "unroutable" and decision.reason.startswith(f"duplicate of {master}")
    assert store.assignments.incidents[case.incident_id].current_unit_id is None


async def test_an_incident_is_routed_once_even_if_its_event_comes_again(bus, store):
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, case)  # re-published with a new envelope: the inbox does not know it, routing does
    assert len(store.events()) == 1 and len(store.assignments.of(case.incident_id)) == 1


async def test_a_return_escalates_one_level_from_the_unit_that_returned_it(bus, store):
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, returned(case, 1))
    reassigned = store.events()[-1]
    assert isinstance(reassigned, IncidentReassigned)
    assert (reassigned.owner.unit_id, reassigned.owner.worker_id, reassigned.previous_unit_id) == (
        "community", None, "grid-west")
    assert reassigned.grid_code == WEST and reassigned.reason.startswith("returned by grid-west (非本单位职责)")
    await handle(bus, returned(case, 1, "community"))  # the community returns it in turn: the street
    assert store.events()[-1].owner.unit_id == "street"
    assert [d.kind for d in store.assignments.of(case.incident_id)] == ["assigned", "reassigned", "reassigned"]


async def test_the_second_return_goes_to_the_centre_for_a_final_dispatch(bus, store):
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, returned(case, 2))
    unroutable = store.events()[-1]
    assert isinstance(unroutable, IncidentUnroutable) and "终审" in unroutable.reason
    assert unroutable.queue == "final_dispatch"  # notifications' 二次退单 alert
    assert store.assignments.of(case.incident_id)[-1].kind == "unroutable"


async def test_a_return_of_an_incident_routing_never_saw_fails_and_writes_nothing(bus, store):
    with pytest.raises(UnknownIncident):
        await handle(bus, returned(received(), 1))
    assert store.events() == [] and store.assignments.history == []


# ---- the command centre's dispatch ----------------------------------------------------------------------

async def test_a_dispatch_names_the_new_owner_and_says_who_dispatched(bus, store):
    case = received(IN_WEST)
    await handle(bus, case)
    owner = await bus.handle(c.DispatchIncident(case.incident_id, "community", "w-community", "社区牵头", ACTOR))
    assert (owner.unit_id, owner.worker_id, owner.worker_name) == ("community", "w-community", "李娜")
    dispatched = store.events()[-1]
    assert isinstance(dispatched, IncidentReassigned)
    assert dispatched.owner == owner and dispatched.previous_unit_id == "grid-west"
    assert dispatched.reason == "dispatched by sup: 社区牵头" and dispatched.grid_code == WEST
    assert store.assignments.of(case.incident_id)[-1].kind == "dispatched"
    assert store.assignments.incidents[case.incident_id].current_unit_id == "community"


@pytest.mark.parametrize("unit, worker, error, field", [
    ("no-such-unit", None, DispatchRefused, "unit"),
    ("community", "w-west", DispatchRefused, "worker"),       # a worker of another unit
    ("community", "nobody", DispatchRefused, "worker"),
])
async def test_a_dispatch_to_a_unit_or_worker_that_does_not_fit_is_refused_and_changes_nothing(
        bus, store, unit, worker, error, field):
    case = received(IN_WEST)
    await handle(bus, case)
    before = (len(store.published), copy.deepcopy(store.assignments.history))
    with pytest.raises(error) as refused:
        await bus.handle(c.DispatchIncident(case.incident_id, unit, worker, "x", ACTOR))
    assert isinstance(refused.value, Invalid) and refused.value.status == 422
    assert [e["field"] for e in refused.value.errors or []] == [field]
    assert (len(store.published), store.assignments.history) == before
    assert store.assignments.incidents[case.incident_id].current_unit_id == "grid-west"


async def test_a_dispatch_of_an_incident_routing_never_saw_is_not_found(bus, store):
    with pytest.raises(UnknownIncident) as refused:
        await bus.handle(c.DispatchIncident(uuid.uuid4(), "community", None, "x", ACTOR))
    assert isinstance(refused.value, NotFound) and refused.value.status == 404
    assert store.published == [] and store.assignments.history == []


async def test_a_dispatch_is_for_callers_whose_area_covers_both_the_case_and_the_unit(bus, store):
    """DOMAIN §4 改派: the centre, or a supervisor whose area covers the case and the unit it goes to."""
    case = received(IN_WEST)
    await handle(bus, case)
    other_district = c.Actor("sup-x", "supervisor", ("320509",))
    with pytest.raises(OutsideArea) as elsewhere:  # an action on a case outside the caller's area (DESIGN §5)
        await bus.handle(c.DispatchIncident(case.incident_id, "community", None, "x", other_district))
    assert elsewhere.value.status == 403
    street_supervisor = c.Actor("sup-street", "supervisor", (STREET,))
    with pytest.raises(OutsideArea) as refused:  # the district's unit works beyond the street
        await bus.handle(c.DispatchIncident(case.incident_id, "district", None, "x", street_supervisor))
    assert refused.value.status == 403
    assert store.assignments.incidents[case.incident_id].current_unit_id == "grid-west"
    owner = await bus.handle(c.DispatchIncident(case.incident_id, "community", None, "社区处理", street_supervisor))
    assert owner.unit_id == "community"


async def test_a_closed_merged_or_rejected_case_is_not_dispatched_until_reopened(bus, store):
    """DOMAIN §4: 改派 at any open state; a finished case has no owner to change (重办 reopens it)."""
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, ev.IncidentClosed(incident_id=case.incident_id, at=NOW))
    with pytest.raises(CaseClosed) as refused:
        await bus.handle(c.DispatchIncident(case.incident_id, "community", None, "x", ACTOR))
    assert refused.value.status == 409 and len(store.assignments.of(case.incident_id)) == 1
    await handle(bus, ev.IncidentReopened(incident_id=case.incident_id, at=NOW, reason="市民不满意"))
    assert (await bus.handle(c.DispatchIncident(case.incident_id, "community", None, "x", ACTOR))).unit_id \
        == "community"


async def test_co_owners_stay_with_the_case_across_returns_and_dispatches(bus, store):
    """DOMAIN §4 协办: the district co-owner of an emergency is kept when the lead owner changes."""
    case = received(IN_WEST, urgency="emergency")
    await handle(bus, case)
    await handle(bus, returned(case, 1))
    escalated = store.events()[-1]
    assert isinstance(escalated, IncidentReassigned) and [o.unit_id for o in escalated.co_owners] == ["district"]
    await bus.handle(c.DispatchIncident(case.incident_id, "grid-east", None, "x", ACTOR))
    dispatched = store.events()[-1]
    assert isinstance(dispatched, IncidentReassigned) and [o.unit_id for o in dispatched.co_owners] == ["district"]


async def test_a_case_in_the_centres_queue_keeps_its_place_for_the_districts_fallback_queue(bus, store):
    """DESIGN §6: district supervisors work the fallback queue of their district, so the case keeps its place."""
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, returned(case, 2))
    assert isinstance(store.events()[-1], IncidentUnroutable)
    assert store.assignments.incidents[case.incident_id].place_code == WEST
    assert store.events()[-1].grid_code == WEST


# ---- units, workers, rosters ----------------------------------------------------------------------------

async def test_a_worker_put_under_a_unit_that_does_not_exist_is_refused_and_nothing_changes(bus, store):
    before = store.workers.rows["w-west"]
    with pytest.raises(UnknownUnit) as refused:
        await bus.handle(c.PutWorker("w-west", "张伟", "13800000009", "no-such-unit", (WEST,)))
    assert refused.value.status == 422
    assert refused.value.errors == [{"field": "unit_id", "message": "no unit 'no-such-unit'", "type": "unknown_unit"}]
    with pytest.raises(UnknownUnit):
        await bus.handle(c.PutWorker("w-new", "王芳", "13800000003", "no-such-unit"))
    assert store.workers.rows["w-west"] == before and "w-new" not in store.workers.rows


async def test_a_worker_put_again_keeps_the_roster_and_may_have_no_unit(bus, store):
    roster = await bus.handle(c.PutRoster("w-west", ({"days": [1, 2, 3], "start": "08:00", "end": "17:00"},)))
    await bus.handle(c.PutWorker("w-west", "张伟", "13800000009", "grid-east", (EAST,), on_duty=False))
    await bus.handle(c.PutWorker("w-free", "王芳", "13800000003"))
    assert store.workers.rows["w-west"] == Worker("w-west", "张伟", "13800000009", "grid-east", (EAST,), False, roster)
    assert store.workers.rows["w-free"].unit_id is None


async def test_a_unit_is_put_whole(bus, store):
    await bus.handle(c.PutUnit(Unit("community", "community", "新名字", (COMMUNITY, EAST))))
    assert store.units.rows["community"] == Unit("community", "community", "新名字", (COMMUNITY, EAST))


async def test_a_wrong_roster_names_every_field_in_the_shared_shape_and_nothing_is_stored(bus, store):
    start = NOW + timedelta(days=1)
    with pytest.raises(RosterRefused) as refused:
        await bus.handle(c.PutRoster("w-west", ({"days": [1, 9], "start": "08:00", "end": "12:00"},),
                                     ({"start": start, "end": start - timedelta(hours=1)},)))
    assert refused.value.status == 422 and refused.value.detail == "the roster is refused; nothing changed"
    assert [(e["field"], e["type"]) for e in refused.value.errors or []] == [("weekly[0].days", "roster"),
                                                                          ("periods[0]", "roster")]
    assert all(set(e) == {"field", "message", "type"} for e in refused.value.errors or [])
    assert store.workers.rows["w-west"].roster is None


async def test_a_roster_for_a_worker_that_does_not_exist_is_not_found(bus, store):
    with pytest.raises(UnknownWorker) as refused:
        await bus.handle(c.PutRoster("nobody", ({"days": [1], "start": "08:00", "end": "12:00"},)))
    assert refused.value.status == 404 and "nobody" not in store.workers.rows


async def test_deleting_a_roster_goes_back_to_the_switch_and_a_second_delete_is_not_found(bus, store):
    await bus.handle(c.PutRoster("w-west", ({"days": [1], "start": "08:00", "end": "12:00"},)))
    await bus.handle(c.DeleteRoster("w-west"))
    assert store.workers.rows["w-west"].roster is None
    with pytest.raises(NoRoster) as refused:
        await bus.handle(c.DeleteRoster("w-west"))
    assert refused.value.status == 404


async def test_a_directory_naming_a_unit_that_exists_nowhere_is_refused_whole(store):
    bus = fake_bus(store, FakeRegistry(city()))
    roster = build_roster([{"days": [1], "start": "08:00", "end": "12:00"}], [])
    with pytest.raises(UnknownUnit) as refused:
        await bus.handle(c.LoadDirectory(UNITS[:1], (
            Worker("w1", "甲", "13800000001", "grid-west", (WEST,), True, roster),
            Worker("w2", "乙", "13800000002", "gone", (EAST,), True))))
    assert [e["field"] for e in refused.value.errors or []] == ["workers.1.unit_id"]
    assert store.units.rows == {} and store.workers.rows == {}
    await bus.handle(c.LoadDirectory(UNITS[:1], (Worker("w1", "甲", "13800000001", "grid-west", (WEST,), True,
                                                        roster),)))
    assert store.workers.rows["w1"].roster == roster


# ---- rules, grids ----------------------------------------------------------------------------------------

async def test_rules_with_an_owner_that_is_no_level_nor_department_are_refused_all(bus, store):
    with pytest.raises(InvalidRule) as refused:
        await bus.handle(c.PutRules((c.RuleEntry("city.ads", "*", "street"),
                                     c.RuleEntry("city.garbage", "*", "mayor"))))
    assert refused.value.status == 422 and "not 'mayor'" in refused.value.detail
    assert [e["field"] for e in refused.value.errors or []] == ["1.owner"]
    with pytest.raises(InvalidRule) as co_owner:
        await bus.handle(c.PutRules((c.RuleEntry("city.ads", "*", "street", "dept:"),)))
    assert [e["field"] for e in co_owner.value.errors or []] == ["0.co_owner"]
    assert store.rules.rows == {}
    assert await bus.handle(c.PutRules((c.RuleEntry("city.ads", "urgent", "dept:municipal", "street"),))) == 1
    assert store.rules.rows == {("city.ads", "urgent"): Rule("dept:municipal", "street")}


def grid(code: str, x0: float, size: float = 0.001) -> dict:
    ring = [[x0, 31.0], [x0 + size, 31.0], [x0 + size, 31.0 + size], [x0, 31.0 + size], [x0, 31.0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"code": code, "name": f"网格{code[-3:]}", "level": "grid", "parent_code": code[:12]}}


def territory(code: str, level: str, parent: str | None) -> dict:
    ring = [[120.0, 31.0], [120.1, 31.0], [120.1, 31.1], [120.0, 31.1], [120.0, 31.0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"code": code, "name": code, "level": level, "parent_code": parent}}


async def test_a_grid_file_is_imported_whole_or_refused_naming_each_feature(bus, store):
    imported = await bus.handle(c.ImportGrids({"type": "FeatureCollection", "features": [
        territory(DISTRICT, "district", None), territory(STREET, "street", DISTRICT),
        territory(COMMUNITY, "community", STREET), grid(WEST, 120.0)]}))
    assert (imported.imported, imported.registry_version) == (4, 1)
    with pytest.raises(InvalidGridFile) as refused:
        await bus.handle(c.ImportGrids({"type": "FeatureCollection", "features": [
            grid(EAST, 120.0005),                      # half over the registered WEST
            grid(COMMUNITY + "003", 120.01, 0.001),    # fine alone
            grid("320508019099004", 120.02)]}))        # unknown parent
    errors = refused.value.errors or []
    assert refused.value.status == 422 and refused.value.detail == "2 feature(s) rejected; nothing imported"
    assert [(e["field"], e["type"], e["feature"], e["code"]) for e in errors] == [
        ("features.0", "grid_feature", 0, EAST), ("features.2", "grid_feature", 2, "320508019099004")]
    assert errors[0]["message"].startswith(f"comprehensive grid overlaps comprehensive grid {WEST}")
    assert "unknown parent '320508019099'" in errors[1]["message"]
    assert set(store.grids.rows) == {DISTRICT, STREET, COMMUNITY, WEST} and store.grids.version == 1


async def test_a_body_that_is_no_feature_collection_is_refused_as_a_whole(bus, store):
    with pytest.raises(InvalidGridFile) as refused:
        await bus.handle(c.ImportGrids([1, 2]))
    assert [(e["field"], e["feature"]) for e in refused.value.errors or []] == [("body", -1)]


# ---- dedicated grids (DOMAIN §2: a dedicated grid handles what is its own) --------------------------------

SCHOOL = COMMUNITY + "801"
IN_SCHOOL = Point(lon=120.05, lat=31.1)


async def school_bus(store: RoutingStore):
    """The test city with a school inside the west grid, its own unit and security guard."""
    school = GridInfo(SCHOOL, "实验小学", "grid", "dedicated", "school")
    with_school = Locator([*city_grids(), (school, box(120.04, 31.09, 120.06, 31.11))])
    bus = fake_bus(store, FakeRegistry(with_school))
    await bus.handle(c.LoadDirectory(UNITS + (Unit("grid-school", "grid", "实验小学", (SCHOOL,)),),
                                     WORKERS + (Worker("w-school", "门卫老王", "13800000009", "grid-school", (SCHOOL,),
                                                       True),)))
    return bus


async def test_a_dedicated_grid_takes_its_own_categories(store):
    bus = await school_bus(store)
    await handle(bus, received(IN_SCHOOL, category="safety.campus"))
    [assigned] = store.events()
    assert isinstance(assigned, IncidentAssigned) and assigned.owner.unit_id == "grid-school"


async def test_another_category_inside_a_dedicated_grid_goes_to_the_comprehensive_grid_beneath(store):
    """A 征地拆迁 dispute inside a school is not the school's: the territorial grid's worker takes it."""
    bus = await school_bus(store)
    await handle(bus, received(IN_SCHOOL, category="dispute.demolition"))
    [assigned] = store.events()
    assert isinstance(assigned, IncidentAssigned)
    assert (assigned.owner.unit_id, assigned.owner.worker_id, assigned.grid_code) == ("grid-west", "w-west", WEST)
    assert "not for the school grid" in assigned.reason


async def test_a_return_from_inside_a_dedicated_grid_goes_up_not_back_to_the_same_unit(store):
    """DOMAIN §4 退单 one level up: the community's return of a school case reaches the street."""
    bus = await school_bus(store)
    case = received(IN_SCHOOL, category="safety.campus")
    await handle(bus, case)
    await bus.handle(c.DispatchIncident(case.incident_id, "community", None, "社区协调", ACTOR))
    await handle(bus, returned(case, 1, unit_id="community"))
    escalated = store.events()[-1]
    assert isinstance(escalated, IncidentReassigned) and escalated.owner.unit_id == "street"


async def test_what_a_dedicated_grid_handles_is_a_list_per_type_refused_whole_with_an_unknown_category(store):
    bus = await school_bus(store)
    assert await bus.handle(c.PutDedicatedCategories("school", ("safety.campus", "dispute.demolition"))) == [
        "dispute.demolition", "safety.campus"]
    with pytest.raises(Invalid):
        await bus.handle(c.PutDedicatedCategories("school", ("safety.campus", "no.such")))
    assert store.dedicated_categories.rows["school"] == {"safety.campus", "dispute.demolition"}
    await handle(bus, received(IN_SCHOOL, category="dispute.demolition"))
    assert store.events()[-1].owner.unit_id == "grid-school"


# ---- returns by their reason, and 上报 (DOMAIN §4) ---------------------------------------------------------

def returned_for(case: ev.IncidentReceived, kind: str, unit_id: str, count: int = 1) -> ev.IncidentReturned:
    return ev.IncidentReturned(incident_id=case.incident_id, at=NOW, reason="退单", unit_id=unit_id,
                               return_count=count, kind=kind)


async def test_a_not_our_area_return_is_placed_again_by_where_the_case_is(bus, store):
    """非本辖区: sideways, to the unit whose area the report's place lies in."""
    case = received(IN_WEST)
    await handle(bus, case)
    await bus.handle(c.DispatchIncident(case.incident_id, "grid-east", None, "误派", ACTOR))
    await handle(bus, returned_for(case, "not_our_area", "grid-east"))
    sideways = store.events()[-1]
    assert isinstance(sideways, IncidentReassigned)
    assert (sideways.owner.unit_id, sideways.previous_unit_id) == ("grid-west", "grid-east")
    assert "placed again" in sideways.reason


async def test_a_not_our_area_return_of_a_case_in_the_units_own_area_goes_to_the_centre(bus, store):
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, returned_for(case, "not_our_area", "grid-west"))
    queued = store.events()[-1]
    assert isinstance(queued, IncidentUnroutable) and "its own area" in queued.reason
    assert queued.grid_code == WEST  # it keeps its place in the district's queue


async def test_a_not_our_duty_return_goes_to_the_department_the_rule_names_else_to_the_dispatcher(bus, store):
    """非本单位职责: the category's rule decides whose duty it is; without a department in it, the centre."""
    await bus.handle(c.PutUnit(Unit("dept-municipal", "department", "姑苏区市政局", (DISTRICT,), "municipal")))
    await bus.handle(c.PutRules((c.RuleEntry("infra.manhole", "*", "dept:municipal"),)))
    manhole = received(IN_WEST, category="infra.manhole")
    await handle(bus, manhole)
    await bus.handle(c.DispatchIncident(manhole.incident_id, "grid-west", None, "先派网格", ACTOR))
    await handle(bus, returned_for(manhole, "not_our_duty", "grid-west"))
    to_department = store.events()[-1]
    assert isinstance(to_department, IncidentReassigned) and to_department.owner.unit_id == "dept-municipal"

    garbage = received(IN_WEST, category="city.garbage")
    await handle(bus, garbage)
    await handle(bus, returned_for(garbage, "not_our_duty", "grid-west"))
    queued = store.events()[-1]
    assert isinstance(queued, IncidentUnroutable) and "dispatcher decides" in queued.reason


@pytest.mark.parametrize("kind, task, queue", [("incomplete", "to complete it", "to_complete"),
                                               ("duplicate", "to merge it", "to_merge")])
async def test_incomplete_and_duplicate_returns_go_to_the_centre(bus, store, kind, task, queue):
    case = received(IN_WEST)
    await handle(bus, case)
    await handle(bus, returned_for(case, kind, "grid-west"))
    queued = store.events()[-1]
    assert isinstance(queued, IncidentUnroutable) and task in queued.reason and queued.queue == queue


async def test_a_12345_order_given_back_is_open_again_with_its_unit_or_in_the_centres_queue(bus, store):
    """DOMAIN §7: 12345 refused our 退单 (the order we rejected): the unit that had it has it again (intake and
    supervision take it from there); an order that had no unit waits for the dispatcher."""
    owned = received(IN_WEST)
    await handle(bus, owned)
    await handle(bus, ev.IncidentRejected(incident_id=owned.incident_id, at=NOW, reason="不予立案"))
    events_before = len(store.events())
    await handle(bus, ev.IncidentRestored(incident_id=owned.incident_id, at=NOW, actor="12345",
                                          unit_id="grid-west"))
    assert len(store.events()) == events_before  # nothing to route: the unit has it
    assert (await bus.handle(c.DispatchIncident(owned.incident_id, "community", None, "x", ACTOR))).unit_id \
        == "community"  # open again: it may be dispatched

    lost = received(NOWHERE)
    await handle(bus, lost)
    await handle(bus, ev.IncidentRejected(incident_id=lost.incident_id, at=NOW, reason="不予立案"))
    await handle(bus, ev.IncidentRestored(incident_id=lost.incident_id, at=NOW, actor="12345", unit_id=None))
    queued = store.events()[-1]
    assert isinstance(queued, IncidentUnroutable) and queued.incident_id == lost.incident_id
    assert queued.queue == "dispatch" and "12345" in queued.reason


async def test_referring_up_goes_one_level_up_each_time_with_no_return_limit(bus, store):
    """上报 is not a 退单: grid → community → street → district, never the centre's 终审 queue."""
    case = received(IN_WEST)
    await handle(bus, case)
    owners = []
    for _ in range(3):
        await handle(bus, ev.IncidentReferred(incident_id=case.incident_id, at=NOW, reason="需上级协调"))
        referred = store.events()[-1]
        assert isinstance(referred, IncidentReassigned)
        owners.append(referred.owner.unit_id)
    assert owners == ["community", "street", "district"]
