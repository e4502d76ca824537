from services.routing.domain.grid_import import parse_features


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
