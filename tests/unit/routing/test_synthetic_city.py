import json
import re
from collections import Counter, defaultdict

import pytest
import shapely
from shapely import STRtree
from shapely.geometry import LinearRing, Point, box, shape

from deploy.demo.synthetic_city import DEPARTMENTS, CityPlan, generate_city, sample_points
from services.routing.domain.grid_import import parse_features

SMALL = CityPlan(grids=600)
LENGTH = {"district": 6, "street": 9, "community": 12, "grid": 15}
PARENT_LEVEL = {"street": "district", "community": "street", "grid": "community"}
CHINESE = re.compile(r"^[\u4e00-\u9fff0-9]+$")
PHONE = re.compile(r"^1[3-9]\d{9}$")
PLANS = [SMALL, CityPlan(seed=3, grids=7), CityPlan(seed=11, grids=1500, districts=10, dedicated_every=10)]


@pytest.fixture(scope="module")
def city():
    return generate_city(SMALL)


@pytest.fixture(scope="module", params=PLANS, ids=lambda p: f"seed{p.seed}-grids{p.grids}-d{p.districts}")
def any_city(request):
    return request.param, *generate_city(request.param)


def props(collection):
    return [f["properties"] for f in collection["features"]]


def by_code(collection):
    return {f["properties"]["code"]: f for f in collection["features"]}


def geoms(collection):
    return {f["properties"]["code"]: shape(f["geometry"]) for f in collection["features"]}


def comprehensive(p):
    return p["level"] == "grid" and p["kind"] == "comprehensive"


def test_the_comprehensive_grid_count_is_exactly_the_plan(any_city):
    plan, collection, _ = any_city
    assert sum(comprehensive(p) for p in props(collection)) == plan.grids
    assert sum(p["level"] == "district" for p in props(collection)) == plan.districts


def test_the_project_validator_accepts_the_file(any_city):
    _, collection, _ = any_city
    grids, errors = parse_features(collection, set())
    assert errors == []
    assert len(grids) == len(collection["features"])


def test_codes_are_digit_strings_of_the_level_length_extending_an_existing_parent(any_city):
    _, collection, _ = any_city
    known = by_code(collection)
    assert len(known) == len(collection["features"]), "codes are unique"
    for p in props(collection):
        code = p["code"]
        assert isinstance(code, str) and code.isdigit() and len(code) == LENGTH[p["level"]], p
        if p["level"] == "district":
            assert p["parent_code"] is None and code.startswith("3703")
            continue
        parent = p["parent_code"]
        assert parent in known and code.startswith(parent) and len(code) == len(parent) + 3
        assert known[parent]["properties"]["level"] == PARENT_LEVEL[p["level"]]


def test_sequences_follow_the_code_ranges_and_kinds_match_levels(any_city):
    _, collection, _ = any_city
    for p in props(collection):
        seq = int(p["code"][-3:])
        if p["level"] == "street":
            assert p["kind"] == "territorial"
            assert (1 <= seq <= 99 and p["name"].endswith("街道")) or (101 <= seq <= 199 and p["name"].endswith("镇"))
        elif p["level"] == "community":
            assert p["kind"] == "territorial"
            assert (1 <= seq <= 199 and p["name"].endswith("社区")) or (200 <= seq <= 999 and p["name"].endswith("村"))
        elif p["level"] == "grid" and p["kind"] == "comprehensive":
            assert 1 <= seq <= 799 and 200 <= p["households"] <= 450 and "dedicated_type" not in p
        elif p["level"] == "grid":
            assert p["kind"] == "dedicated" and 800 <= seq <= 999 and "households" not in p
            assert p["dedicated_type"] in {"school", "hospital", "enterprise", "park", "market"}
        else:
            assert p["level"] == "district" and p["kind"] == "territorial"
        assert CHINESE.match(p["name"]), p["name"]


def test_every_geometry_is_a_valid_closed_counter_clockwise_ring_inside_the_bbox_in_china(any_city):
    plan, collection, _ = any_city
    west, south, east, north = plan.bbox
    for f in collection["features"]:
        assert f["geometry"]["type"] == "Polygon" and len(f["geometry"]["coordinates"]) == 1
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 5
        assert LinearRing(ring).is_ccw
        assert shape(f["geometry"]).is_valid
        for lon, lat in ring:
            assert west <= lon <= east and south <= lat <= north
            assert 73 < lon < 136 and 18 < lat < 54


def _assert_tiles(children, parent, what):
    tree = STRtree(children)
    left, right = tree.query(children, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(
        [children[i] for i in left[pairs]], [children[j] for j in right[pairs]])).sum() if pairs.any() else 0.0
    assert overlap < 1e-12 * parent.area, f"{what}: children overlap"
    union = shapely.union_all(children)
    assert abs(union.area - parent.area) < 1e-9 * parent.area, f"{what}: children do not cover the parent"
    assert parent.symmetric_difference(union).area < 1e-9 * parent.area, f"{what}: children spill out"


def test_each_level_tiles_its_parent_and_districts_tile_the_city(any_city):
    plan, collection, _ = any_city
    shapes = geoms(collection)
    children = defaultdict(list)
    districts = []
    for p in props(collection):
        if p["level"] == "district":
            districts.append(shapes[p["code"]])
        elif p["kind"] != "dedicated":
            children[p["parent_code"]].append(shapes[p["code"]])
    _assert_tiles(districts, box(*plan.bbox), "city")
    for p in props(collection):
        if p["level"] != "grid":
            assert children[p["code"]], f"{p['code']} has no children"
            _assert_tiles(children[p["code"]], shapes[p["code"]], p["code"])


def test_dedicated_grids_sit_strictly_inside_a_comprehensive_grid_of_their_community_and_apart(any_city):
    _, collection, _ = any_city
    shapes = geoms(collection)
    comp_by_community = defaultdict(list)
    dedicated = []
    for p in props(collection):
        if comprehensive(p):
            comp_by_community[p["parent_code"]].append(shapes[p["code"]])
        elif p["kind"] == "dedicated":
            dedicated.append(p)
    for p in dedicated:
        inside = shapes[p["code"]]
        assert any(host.contains_properly(inside) for host in comp_by_community[p["parent_code"]]), p["code"]
    pieces = [shapes[p["code"]] for p in dedicated]
    if pieces:
        left, right = STRtree(pieces).query(pieces, predicate="intersects")
        assert (left == right).all(), "dedicated grids overlap each other"


def test_about_one_dedicated_grid_per_plan_ratio(city):
    collection, _ = city
    dedicated = sum(p["kind"] == "dedicated" for p in props(collection))
    assert 600 / 25 * 0.5 <= dedicated <= 600 / 25 * 1.5
    none, _ = generate_city(CityPlan(grids=600, dedicated_every=0))
    assert not any(p["kind"] == "dedicated" for p in props(none))


def test_the_same_plan_gives_identical_json_and_another_seed_differs(city):
    collection, directory = city
    again = generate_city(SMALL)
    dump = json.dumps(city, sort_keys=True, ensure_ascii=False)
    assert json.dumps(again, sort_keys=True, ensure_ascii=False) == dump
    assert json.dumps(generate_city(CityPlan(seed=8, grids=600)), sort_keys=True) != json.dumps(city, sort_keys=True)
    assert json.loads(dump) == [collection, directory], "plain JSON types only"


def test_one_worker_per_grid_with_unique_valid_phones(any_city):
    _, collection, directory = any_city
    workers = directory["workers"]
    grid_codes = sorted(p["code"] for p in props(collection) if p["level"] == "grid")
    assert sorted(code for w in workers for code in w["grid_codes"]) == grid_codes
    assert all(len(w["grid_codes"]) == 1 and w["unit_id"] == f"grid-{w['grid_codes'][0]}" for w in workers)
    phones = [w["phone"] for w in workers]
    assert len(set(phones)) == len(phones) and all(PHONE.match(phone) for phone in phones)
    assert len({w["id"] for w in workers}) == len(workers)
    assert all(CHINESE.match(w["name"]) and 2 <= len(w["name"]) <= 3 for w in workers)
    assert all(isinstance(w["on_duty"], bool) for w in workers)
    unit_ids = {u["id"] for u in directory["units"]}
    assert all(w["unit_id"] in unit_ids for w in workers)


def test_units_cover_every_territory_grid_and_district_department(any_city):
    plan, collection, directory = any_city
    units = directory["units"]
    codes = by_code(collection)
    assert len({u["id"] for u in units}) == len(units)
    for u in units:
        assert set(u) == {"id", "kind", "name", "area", "department"}
        assert u["area"] and all(code in codes for code in u["area"]), u
        assert u["name"].strip()
    expected = {f"{'grid' if p['level'] == 'grid' else p['level']}-{p['code']}" for p in props(collection)}
    territorial = {u["id"] for u in units if u["kind"] != "department"}
    assert territorial == expected
    for u in units:
        if u["kind"] == "department":
            assert u["department"] in DEPARTMENTS and u["id"] == f"dept-{u['department']}-{u['area'][0]}"
            assert codes[u["area"][0]]["properties"]["level"] == "district"
        else:
            assert u["department"] is None and u["area"] == [u["id"].split("-", 1)[1]]
            assert codes[u["area"][0]]["properties"]["level"] == u["kind"]
    assert sum(u["kind"] == "department" for u in units) == len(DEPARTMENTS) * plan.districts


def test_sample_points_fall_inside_comprehensive_grids_deterministically(city):
    collection, _ = city
    points = sample_points(collection, 2000, seed=5)
    assert len(points) == 2000 and points == sample_points(collection, 2000, seed=5)
    assert points != sample_points(collection, 2000, seed=6)
    grids = [shape(f["geometry"]) for f in collection["features"] if comprehensive(f["properties"])]
    hits, _ = STRtree(grids).query([Point(p) for p in points], predicate="within")
    assert set(hits.tolist()) == set(range(len(points)))
    assert sample_points(collection, 0, seed=5) == []


@pytest.mark.parametrize("kwargs", [
    {"grids": 3, "districts": 5},
    {"bbox": (10.0, 50.0, 11.0, 51.0)},
    {"bbox": (118.3, 36.6, 117.9, 36.95)},
    {"districts": 0},
    {"dedicated_every": -1},
    {"grids": 10.5},
])
def test_impossible_plans_are_refused(kwargs):
    with pytest.raises(ValueError):
        CityPlan(**kwargs)


def test_the_default_plan_at_full_scale():
    plan = CityPlan()
    collection, directory = generate_city(plan)
    levels = Counter(p["level"] if p["level"] != "grid" else p["kind"] for p in props(collection))
    assert levels["comprehensive"] == 15_000
    assert levels["district"] == 5
    assert 5 * 8 <= levels["street"] <= 5 * 15
    assert levels["street"] * 6 <= levels["community"] <= levels["street"] * 12
    assert 15_000 / 25 * 0.8 <= levels["dedicated"] <= 15_000 / 25 * 1.2
    codes = [p["code"] for p in props(collection)]
    assert len(set(codes)) == len(codes)
    grids = levels["comprehensive"] + levels["dedicated"]
    workers = directory["workers"]
    assert len(workers) == grids
    assert len({w["phone"] for w in workers}) == grids
    assert 0.03 * grids <= sum(not w["on_duty"] for w in workers) <= 0.07 * grids
    assert len(directory["units"]) == len(codes) + len(DEPARTMENTS) * 5
    parsed, errors = parse_features(collection, set())
    assert errors == [] and len(parsed) == len(codes)
