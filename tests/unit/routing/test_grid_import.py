from shapely.geometry import shape

from services.routing.domain.grid_import import overlapping_grids, parse_features


def feature(code, level, parent, coords, kind=None, name="格"):
    props = {"code": code, "name": name, "level": level, "parent_code": parent}
    if kind:
        props["kind"] = kind
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [coords]}}


SQUARE = [[120.0, 31.0], [120.1, 31.0], [120.1, 31.1], [120.0, 31.1], [120.0, 31.0]]
BOWTIE = [[120.0, 31.0], [120.1, 31.1], [120.1, 31.0], [120.0, 31.1], [120.0, 31.0]]


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def test_a_valid_hierarchy_parses_with_parents_from_the_file_or_the_registry():
    grids, errors = parse_features(collection(
        feature("320508019044", "community", "320508019", SQUARE),
        feature("320508019044001", "grid", "320508019044", SQUARE),
    ), known_codes={"320508019"})
    assert errors == []
    assert [g.code for g in grids] == ["320508019044", "320508019044001"]
    assert grids[1].kind == "comprehensive"


def test_errors_name_the_feature_and_the_reason():
    grids, errors = parse_features(collection(
        feature("320508019044001", "grid", "320508019044", SQUARE),   # unknown parent
        feature("320508019044002", "grid", "320508019044", BOWTIE),   # self-intersecting
        feature("320508019045003", "grid", "320508019044", SQUARE),   # does not extend parent
        {"type": "Feature", "properties": {"code": 320508019044004, "level": "grid"}, "geometry": None},
    ), known_codes=set())
    reasons = {e.index: e.reason for e in errors}
    assert "unknown parent" in reasons[0]
    assert "invalid ring" in reasons[1] and "Self-intersection" in reasons[1]
    assert "does not extend" in reasons[2]
    assert "must be a string" in reasons[3]


def test_not_a_feature_collection():
    _, errors = parse_features({"type": "Feature"}, set())
    assert errors and errors[0].index == -1


# Overlap of comprehensive grids. At 31° N a 0.001° square is about 95 m × 111 m.
def square(x0, y0, size=0.001):
    return [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]


def parsed(*features):
    grids, errors = parse_features(collection(feature("320508019044", "community", "320508019", SQUARE),
                                              feature("320508019045", "community", "320508019", SQUARE),
                                              *features), known_codes={"320508019"})
    assert errors == []
    return grids


def test_comprehensive_grids_sharing_a_border_or_a_corner_do_not_overlap():
    grids = parsed(feature("320508019044001", "grid", "320508019044", square(120.0, 31.0)),
                   feature("320508019044002", "grid", "320508019044", square(120.001, 31.0)),
                   feature("320508019045001", "grid", "320508019045", square(120.001, 31.001)))
    assert overlapping_grids(grids) == []


def test_overlapping_comprehensive_grids_are_named_with_both_features_even_across_communities():
    grids = parsed(feature("320508019044001", "grid", "320508019044", square(120.0, 31.0)),
                   feature("320508019044002", "grid", "320508019044", square(120.001, 31.0)),
                   feature("320508019045001", "grid", "320508019045", square(120.0005, 31.0)))  # over both
    errors = overlapping_grids(grids)
    assert [(e.index, e.code) for e in errors] == [(4, "320508019045001"), (4, "320508019045001")]
    others = sorted(e.reason.split("comprehensive grid ")[2].split(" by")[0] for e in errors)
    assert others == ["320508019044001 (feature 2)", "320508019044002 (feature 3)"]
    assert all("m²" in e.reason for e in errors)


def test_a_sliver_within_the_tolerance_is_accepted_and_a_larger_overlap_refused():
    # The second grid reaches 0.00001° (about 1 m) into the first along a 111 m border: about 106 m².
    grids = parsed(feature("320508019044001", "grid", "320508019044", square(120.0, 31.0)),
                   feature("320508019044002", "grid", "320508019044", square(120.00099, 31.0)))
    assert overlapping_grids(grids, tolerance_m2=150) == []
    [error] = overlapping_grids(grids, tolerance_m2=50)
    assert error.index == 3 and "about 106 m²" in error.reason


def test_dedicated_and_micro_grids_may_lie_inside_comprehensive_ones():
    grids = parsed(feature("320508019044001", "grid", "320508019044", square(120.0, 31.0)),
                   feature("320508019044801", "grid", "320508019044", square(120.0002, 31.0002, 0.0003),
                           kind="dedicated"),
                   feature("320508019044001001", "micro", "320508019044001", square(120.0, 31.0, 0.0005)))
    assert overlapping_grids(grids) == []


def test_a_grid_overlapping_one_already_in_the_registry_is_refused():
    grids = parsed(feature("320508019044002", "grid", "320508019044", square(120.0005, 31.0)))
    registered = [("320508019044001", "comprehensive",
                   shape({"type": "Polygon", "coordinates": [square(120.0, 31.0)]}))]
    [error] = overlapping_grids(grids, registered)
    assert error.index == 2 and "320508019044001 already in the registry" in error.reason


def test_the_synthetic_city_has_no_overlapping_comprehensive_grids_and_a_shifted_grid_is_caught():
    from deploy.demo.synthetic_city import CityPlan, generate_city

    city, _ = generate_city(CityPlan(grids=400, districts=2))
    grids, errors = parse_features(city, set())
    assert errors == [] and overlapping_grids(grids) == []
    first = next(f for f in city["features"] if f["properties"].get("kind") == "comprehensive")
    ring = first["geometry"]["coordinates"][0]
    width = max(p[0] for p in ring) - min(p[0] for p in ring)
    first["geometry"]["coordinates"][0] = [[x + width / 2, y] for x, y in ring]  # half onto its neighbour
    grids, _ = parse_features(city, set())
    overlaps = overlapping_grids(grids)
    assert overlaps and all(first["properties"]["code"] in (e.code + e.reason) for e in overlaps)


# Micro grids (a building, a block) tile among themselves: at 31° N a 0.0002° square is about 19 m × 22 m.
def test_micro_grids_may_share_a_wall_but_not_overlap_each_other():
    grids = parsed(feature("320508019044001", "grid", "320508019044", square(120.0, 31.0)),
                   feature("320508019044001001", "micro", "320508019044001", square(120.0, 31.0, 0.0002)),
                   feature("320508019044001002", "micro", "320508019044001", square(120.0002, 31.0, 0.0002)),
                   feature("320508019044001003", "micro", "320508019044001", square(120.0003, 31.0001, 0.0002)))
    [error] = overlapping_grids(grids)
    assert (error.index, error.code) == (5, "320508019044001003")
    assert "micro grid overlaps micro grid 320508019044001002 (feature 4)" in error.reason
    assert "tolerance 10 m²" in error.reason


def test_a_micro_grid_overlapping_one_in_the_registry_is_refused_but_a_comprehensive_one_is_not_its_peer():
    grids = parsed(feature("320508019044001", "grid", "320508019044", square(120.0, 31.0)),
                   feature("320508019044001002", "micro", "320508019044001", square(120.0001, 31.0, 0.0002)))
    wall = shape({"type": "Polygon", "coordinates": [square(120.0, 31.0, 0.0002)]})
    [error] = overlapping_grids(grids, [("320508019044001001", "micro", wall)])
    assert error.code == "320508019044001002" and "320508019044001001 already in the registry" in error.reason
    # The same shape registered as a comprehensive grid is another layer: no quarrel with a micro grid.
    assert overlapping_grids(grids[3:], [("320508019044009", "comprehensive", wall)]) == []


def test_the_caps_count_features_and_every_ring_position_whatever_the_shape():
    from services.routing.domain.grid_import import exceeded_cap

    holed = {"type": "Polygon", "coordinates": [SQUARE, SQUARE[:4] + [SQUARE[0]]]}           # 5 + 5
    multi = {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]}                     # 5 + 5
    file = collection({"type": "Feature", "geometry": holed}, {"type": "Feature", "geometry": multi},
                      {"type": "Feature", "geometry": {"coordinates": "junk"}}, "not a feature")
    assert exceeded_cap(file, max_features=4, max_vertices=20) is None
    assert exceeded_cap(file, max_features=3, max_vertices=20) == ("features", 3)
    assert exceeded_cap(file, max_features=4, max_vertices=19) == ("vertices", 19)
    assert exceeded_cap([1, 2], max_features=1, max_vertices=1) is None  # not a collection: the import says so


def test_a_property_of_the_wrong_json_type_is_named_never_raised():
    for props, message in (({"dedicated_type": 5}, "properties.dedicated_type must be a string, not a number"),
                           ({"level": ["grid"]}, "properties.level must be a string, not an array"),
                           ({"kind": {}}, "properties.kind must be a string, not an object")):
        item = feature("320508019044001", "grid", "320508019044", SQUARE)
        item["properties"].update(props)
        _, errors = parse_features(collection(item), known_codes={"320508019044"})
        assert [e.reason for e in errors] == [message]
    _, errors = parse_features(collection({"type": "Feature", "properties": [1], "geometry": None}), set())
    assert errors[0].reason == "properties must be an object"
