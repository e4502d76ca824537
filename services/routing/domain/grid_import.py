"""Validation of a GeoJSON grid file before anything is written: all or nothing.

Each error names the feature index and the reason, so an administrator can fix the file.

Comprehensive grids (综合网格) tile their community without overlap (DOMAIN.md §2): two of them, in the
same community or anywhere, may share a border but not overlap by more than a tolerance, which
absorbs the slivers that boundaries digitised by different hands always leave. Micro grids (微网格, a
building or a block) tile in the same way among themselves, with a tolerance to their scale. Dedicated
and micro grids lie inside comprehensive ones by design and are not checked against them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from services.routing.domain.registry import LEVEL_LENGTH, check_code

KINDS = {"territorial", "comprehensive", "dedicated", "micro"}
# A 0.5 m sliver along a 200 m border: what two careful surveys of the same street still disagree by.
DEFAULT_OVERLAP_TOLERANCE_M2 = 100.0
# A 0.5 m sliver along a 20 m wall: the same allowance at a building's scale.
MICRO_OVERLAP_TOLERANCE_M2 = 10.0
METRES_PER_DEGREE = 111_320.0
# As PUT /v1/dedicated-types/{dedicated_type} takes it: the registry's types and the category lists must match.
DEDICATED_TYPE = re.compile(r"[a-z][a-z_]{0,39}")


@dataclass(frozen=True)
class GridFeature:
    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    dedicated_type: str | None
    geometry: MultiPolygon
    index: int = -1  # position in the imported file, for error messages

    @property
    def is_comprehensive(self) -> bool:
        return self.level == "grid" and self.kind == "comprehensive"

    @property
    def layer(self) -> str | None:
        """The tiling it belongs to (its kind must not overlap its kind): comprehensive, micro, or none."""
        if self.is_comprehensive:
            return "comprehensive"
        return "micro" if self.level == "micro" else None


@dataclass(frozen=True)
class FeatureError:
    index: int
    code: str | None
    reason: str


@dataclass(frozen=True)
class ImportedGrids:
    """What an import did: how many grids it wrote, and the registry version every locator reloads to."""

    imported: int
    registry_version: int


def parse_features(collection: Any, known_codes: set[str]) -> tuple[list[GridFeature], list[FeatureError]]:
    """The grids of the file and the reasons to refuse features one by one (shape, codes, parents); the
    overlap of tiling grids, which needs the registry's grids too, is `overlapping_grids`."""
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        return [], [FeatureError(-1, None, "the body must be a GeoJSON FeatureCollection")]
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        return [], [FeatureError(-1, None, "the FeatureCollection has no features")]
    parsed: list[GridFeature] = []
    errors: list[FeatureError] = []
    seen: set[str] = set()
    for index, feature in enumerate(features):
        result = _parse_one(index, feature)
        if isinstance(result, FeatureError):
            errors.append(result)
            continue
        if result.code in seen:
            errors.append(FeatureError(index, result.code, "code appears twice in the file"))
            continue
        seen.add(result.code)
        parsed.append(result)
    available = known_codes | seen
    for grid in parsed:
        if grid.parent_code and grid.parent_code not in available:
            errors.append(FeatureError(grid.index, grid.code, f"unknown parent {grid.parent_code!r}"))
    return parsed, errors


def tiling_bounds(grids: Sequence[GridFeature]) -> tuple[float, float, float, float] | None:
    """The box around the file's tiling grids: only registry grids inside it can overlap them."""
    boxes = [g.geometry.bounds for g in grids if g.layer]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def overlapping_grids(grids: Sequence[GridFeature], registered: Sequence[tuple[str, str, BaseGeometry]] = (),
                      tolerance_m2: float = DEFAULT_OVERLAP_TOLERANCE_M2,
                      micro_tolerance_m2: float = MICRO_OVERLAP_TOLERANCE_M2) -> list[FeatureError]:
    """One error per pair of grids of one tiling (comprehensive with comprehensive, micro with micro) whose
    interiors overlap by more than that tiling's tolerance: two of the file, or one of the file and one of
    `registered` (code, layer, geometry: the registry's that the file does not replace)."""
    errors = []
    for layer, tolerance in (("comprehensive", tolerance_m2), ("micro", micro_tolerance_m2)):
        mine = [g for g in grids if g.layer == layer]
        theirs = [(code, geom) for code, their_layer, geom in registered if their_layer == layer]
        errors += _overlaps(layer, mine, theirs, tolerance)
    return sorted(errors, key=lambda e: e.index)


def _overlaps(layer: str, mine: list[GridFeature], registered: list[tuple[str, BaseGeometry]],
              tolerance_m2: float) -> list[FeatureError]:
    """The STRtree gives the pairs whose boxes meet; pairs that only touch (a shared border) are dropped
    before any intersection is computed, so a tiled city of 15,000 grids costs a few hundred ms."""
    if not mine:
        return []
    geoms = np.array([g.geometry for g in mine] + [geom for _, geom in registered], dtype=object)
    tree = STRtree(geoms)
    left, right = tree.query(geoms[:len(mine)], predicate="intersects")
    # Each pair inside the file comes twice (i, j) and (j, i): keep one; a registry grid only once.
    keep = left < right
    left, right = left[keep], right[keep]
    interiors_meet = ~shapely.touches(geoms[left], geoms[right])
    left, right = left[interiors_meet], right[interiors_meet]
    if len(left) == 0:
        return []
    shared = shapely.intersection(geoms[left], geoms[right])
    latitudes = shapely.get_y(shapely.centroid(shared))
    areas_m2 = shapely.area(shared) * METRES_PER_DEGREE ** 2 * np.cos(np.radians(latitudes))
    errors = []
    for i, j, area in zip(left.tolist(), right.tolist(), areas_m2.tolist(), strict=True):
        if area <= tolerance_m2:
            continue
        grid = mine[i]
        if j < len(mine):
            other = mine[j]
            # Named on the later feature of the two, pointing back at the earlier one.
            first, second = sorted((grid, other), key=lambda g: g.index)
            errors.append(FeatureError(second.index, second.code,
                                       f"{layer} grid overlaps {layer} grid {first.code} "
                                       f"(feature {first.index}) by about {area:,.0f} m² "
                                       f"(tolerance {tolerance_m2:,.0f} m²; shared borders are fine)"))
        else:
            code = registered[j - len(mine)][0]
            errors.append(FeatureError(grid.index, grid.code,
                                       f"{layer} grid overlaps {layer} grid {code} already in the "
                                       f"registry by about {area:,.0f} m² (tolerance {tolerance_m2:,.0f} m²)"))
    return errors


def exceeded_cap(collection: Any, max_features: int, max_vertices: int) -> tuple[str, int] | None:
    """The cap a decoded grid file passes ("features" or "vertices", and its limit), or None. Vertices are the
    positions of every ring of every feature's geometry, counted whatever their shape (a malformed geometry is
    refused later, feature by feature); the count stops as soon as it passes the cap."""
    if not isinstance(collection, dict) or not isinstance(features := collection.get("features"), list):
        return None
    if len(features) > max_features:
        return "features", max_features
    vertices = 0
    for feature in features:
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        stack = [geometry.get("coordinates")] if isinstance(geometry, dict) else []
        while stack:  # iterative: a deeply nested array costs no recursion
            node = stack.pop()
            if not isinstance(node, list):
                continue
            if node and not isinstance(node[0], list):  # a position [lon, lat]
                vertices += 1
                if vertices > max_vertices:
                    return "vertices", max_vertices
            else:
                stack.extend(node)
    return None


def _parse_one(index: int, feature: Any) -> GridFeature | FeatureError:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return FeatureError(index, None, "not a GeoJSON Feature")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        return FeatureError(index, None, "properties must be an object")
    code = props.get("code")
    if not isinstance(code, str):
        return FeatureError(index, None, "properties.code must be a string (codes keep leading zeros)")
    # Every property of the wrong JSON type is named here (a list is not even hashable: `in` would raise).
    for field in ("level", "kind", "parent_code", "name", "dedicated_type"):
        if props.get(field) is not None and not isinstance(props[field], str):
            return FeatureError(index, code, f"properties.{field} must be a string, not {_json_type(props[field])}")
    level = props.get("level")
    if level not in LEVEL_LENGTH:
        return FeatureError(index, code, f"properties.level must be one of {', '.join(LEVEL_LENGTH)}")
    kind = props.get("kind") or ("comprehensive" if level == "grid" else
                                 "micro" if level == "micro" else "territorial")
    if kind not in KINDS:
        return FeatureError(index, code, f"properties.kind must be one of {', '.join(sorted(KINDS))}")
    parent = props.get("parent_code")
    dedicated_type = props.get("dedicated_type") or None
    if dedicated_type is not None and not DEDICATED_TYPE.fullmatch(dedicated_type):
        return FeatureError(index, code, "properties.dedicated_type must be lower-case letters and _ "
                                         "(school, hospital, …), at most 40")
    if reason := check_code(code, level, parent):
        return FeatureError(index, code, reason)
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        return FeatureError(index, code, "properties.name is required")
    geometry = _geometry(feature.get("geometry"))
    if isinstance(geometry, str):
        return FeatureError(index, code, geometry)
    return GridFeature(code=code, name=name.strip(), level=level, kind=kind, parent_code=parent or None,
                       dedicated_type=dedicated_type, geometry=geometry, index=index)


def _json_type(value: Any) -> str:
    """A value's JSON type, as the file's author wrote it."""
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", list: "an array", dict: "an object"}.get(type(value), "a value")


def _geometry(raw: Any) -> MultiPolygon | str:
    if not isinstance(raw, dict) or raw.get("type") not in ("Polygon", "MultiPolygon"):
        return "geometry must be a Polygon or MultiPolygon"
    try:
        geom: BaseGeometry = shape(raw)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        return f"unreadable geometry: {exc}"
    if geom.is_empty:
        return "geometry is empty"
    if not shapely.is_valid(geom):
        return f"invalid ring: {explain_validity(geom)}"
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        return "coordinates must be WGS84 longitude/latitude"
    return MultiPolygon([geom]) if isinstance(geom, Polygon) else geom
