import math

import pytest
from shapely.geometry import box

from services.routing.domain.assignment import Rule, Unit, Worker, decide_owner, next_level_up
from services.routing.domain.locator import GridInfo, Locator
from services.routing.domain.registry import ancestors, check_code

DISTRICT, STREET, COMMUNITY = "320508", "320508019", "320508019044"
WEST, EAST, SCHOOL = COMMUNITY + "001", COMMUNITY + "002", COMMUNITY + "801"


def locator() -> Locator:
    return Locator([
        (GridInfo(DISTRICT, "姑苏区", "district", "territorial"), box(120.0, 31.0, 120.2, 31.2)),
        (GridInfo(STREET, "平江街道", "street", "territorial"), box(120.0, 31.0, 120.2, 31.2)),
        (GridInfo(COMMUNITY, "梅花社区", "community", "territorial"), box(120.0, 31.0, 120.2, 31.2)),
        (GridInfo(EAST, "东网格", "grid", "comprehensive"), box(120.1, 31.0, 120.2, 31.2)),
        (GridInfo(WEST, "西网格", "grid", "comprehensive"), box(120.0, 31.0, 120.1, 31.2)),
        (GridInfo(SCHOOL, "实验小学", "grid", "dedicated"), box(120.12, 31.05, 120.14, 31.07)),
    ])


def test_point_in_a_grid_returns_the_whole_hierarchy():
    located = locator().locate(120.05, 31.1)
    assert located.grid.code == WEST
    assert (located.community.code, located.street.code, located.district.code) == (COMMUNITY, STREET, DISTRICT)


def test_dedicated_grid_wins_over_the_comprehensive_grid_it_sits_in():
    assert locator().locate(120.13, 31.06).grid.code == SCHOOL


def test_point_on_a_shared_border_goes_to_the_lower_code_whatever_the_load_order():
    assert locator().locate(120.1, 31.1).grid.code == WEST


@pytest.mark.parametrize("lon, lat", [(0.0, 90.0), (121.0, 31.1), (math.nan, 31.1), (120.05, math.inf)])
def test_points_outside_every_grid_or_not_numbers_locate_nowhere(lon, lat):
    assert locator().locate(lon, lat) is None


def test_bulk_locate_agrees_with_single_locate():
    loc = locator()
    lons, lats = [120.05, 120.13, 120.15, 121.0, 120.1], [31.1, 31.06, 31.1, 31.1, 31.1]
    assert loc.locate_many(lons, lats) == [WEST, SCHOOL, EAST, None, WEST]


def test_code_rules():
    assert check_code(WEST, "grid", COMMUNITY) is None
    assert "extend" in check_code("320508019045001", "grid", COMMUNITY)
    assert "15 digits" in check_code("3205080190441", "grid", COMMUNITY)
    assert "digits only" in check_code("32050801904400A", "grid", COMMUNITY)
    assert ancestors(WEST) == {"district": DISTRICT, "street": STREET, "community": COMMUNITY, "grid": WEST}


UNITS = [Unit("g-west", "grid", "西网格", (WEST,)), Unit("c-meihua", "community", "梅花社区居委会", (COMMUNITY,)),
         Unit("s-pingjiang", "street", "平江街道办", (STREET,))]


def test_grid_worker_on_duty_owns_the_case():
    workers = [Worker("w2", "李四", "13900000002", "g-west", (WEST,), False),
               Worker("w1", "张三", "13900000001", "g-west", (WEST,), True)]
    decision = decide_owner(locator().locate(120.05, 31.1), "located by coordinates", UNITS, workers)
    assert (decision.owner.unit_id, decision.owner.worker_id) == ("g-west", "w1")
    assert decision.owner.worker_phone == "13900000001"
    assert "张三 on duty" in decision.reason


def test_no_worker_on_duty_sends_the_case_to_the_community():
    workers = [Worker("w2", "李四", "13900000002", "g-west", (WEST,), False)]
    decision = decide_owner(locator().locate(120.05, 31.1), "located", UNITS, workers)
    assert decision.owner.unit_id == "c-meihua" and decision.owner.worker_id is None
    assert "no grid worker on duty" in decision.reason


def test_missing_community_unit_falls_back_to_the_street():
    decision = decide_owner(locator().locate(120.15, 31.1), "located", [UNITS[2]], [])
    assert decision.owner.unit_id == "s-pingjiang"
    assert "no community unit" in decision.reason


def test_no_unit_at_all_leaves_no_owner_with_a_reason():
    decision = decide_owner(locator().locate(120.15, 31.1), "located", [], [])
    assert decision.owner is None and "no district unit" in decision.reason


DEPT = Unit("dept-municipal-320508", "department", "姑苏区市政局", ("320508",), "municipal")
DISTRICT_UNIT = Unit("district-320508", "district", "姑苏区综治中心", ("320508",))
SCHOOL_UNIT = Unit("g-school", "grid", "实验小学专属网格", (SCHOOL,))
ALL_UNITS = [*UNITS, DEPT, DISTRICT_UNIT, SCHOOL_UNIT]


def test_a_department_rule_routes_to_the_department_covering_the_place():
    decision = decide_owner(locator().locate(120.05, 31.1), "located", ALL_UNITS, [], Rule("dept:municipal"))
    assert decision.owner.unit_id == "dept-municipal-320508" and "department municipal" in decision.reason


def test_a_missing_department_falls_back_to_the_district():
    decision = decide_owner(locator().locate(120.05, 31.1), "located", ALL_UNITS, [], Rule("dept:water"))
    assert decision.owner.unit_id == "district-320508" and "no water department" in decision.reason


def test_a_level_rule_goes_to_that_level():
    decision = decide_owner(locator().locate(120.05, 31.1), "located", ALL_UNITS, [], Rule("street"))
    assert decision.owner.unit_id == "s-pingjiang"


def test_a_dedicated_grid_handles_territorial_rules_itself_but_not_department_ones():
    school = locator().locate(120.13, 31.06)
    workers = [Worker("t1", "周老师", "13900000099", "g-school", (SCHOOL,), True)]
    assert decide_owner(school, "located", ALL_UNITS, workers, Rule("community")).owner.worker_id == "t1"
    assert decide_owner(school, "located", ALL_UNITS, workers, Rule("dept:municipal")).owner.unit_kind == "department"


def test_a_co_owner_is_added_when_it_is_another_unit():
    decision = decide_owner(locator().locate(120.05, 31.1), "located", ALL_UNITS, [], Rule("street", "district"))
    assert decision.owner.unit_id == "s-pingjiang"
    assert [o.unit_id for o in decision.co_owners] == ["district-320508"]
    same = decide_owner(locator().locate(120.05, 31.1), "located", ALL_UNITS, [], Rule("district", "district"))
    assert same.co_owners == ()


def test_returns_escalate_one_level_and_stop_at_the_district():
    assert [next_level_up(k) for k in ("grid", "community", "street", "department", "district")] == [
        "community", "street", "district", "district", None]


def test_rules_refuse_unknown_owners():
    with pytest.raises(ValueError):
        Rule("province")
    with pytest.raises(ValueError):
        Rule("street", "dept:")
