"""Validation of a GeoJSON grid file before anything is written: all or nothing.

Each error names the feature index and the reason, so an administrator can fix the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from services.routing.domain.registry import LEVEL_LENGTH, check_code

KINDS = {"territorial", "comprehensive", "dedicated", "micro"}


@dataclass(frozen=True)
class GridFeature:
    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    dedicated_type: str | None
    geometry: MultiPolygon


@dataclass(frozen=True)
class FeatureError:
    index: int
    code: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.index, "code": self.code, "message": self.reason}


def parse_features(collection: Any, known_codes: set[str]) -> tuple[list[GridFeature], list[FeatureError]]:
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
    for index, grid in enumerate(parsed):
        if grid.parent_code and grid.parent_code not in available:
            errors.append(FeatureError(_index_of(features, grid.code, index), grid.code,
                                       f"unknown parent {grid.parent_code!r}"))
    return parsed, errors


def _index_of(features: list[Any], code: str, default: int) -> int:
    for i, f in enumerate(features):
        if isinstance(f, dict) and str((f.get("properties") or {}).get("code")) == code:
            return i
    return default


def _parse_one(index: int, feature: Any) -> GridFeature | FeatureError:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return FeatureError(index, None, "not a GeoJSON Feature")
    props = feature.get("properties") or {}
    code = props.get("code")
    if not isinstance(code, str):
        return FeatureError(index, None, "properties.code must be a string (codes keep leading zeros)")
    level = props.get("level")
    if level not in LEVEL_LENGTH:
        return FeatureError(index, code, f"properties.level must be one of {', '.join(LEVEL_LENGTH)}")
    kind = props.get("kind") or ("comprehensive" if level == "grid" else
                                 "micro" if level == "micro" else "territorial")
    if kind not in KINDS:
        return FeatureError(index, code, f"properties.kind must be one of {', '.join(sorted(KINDS))}")
    parent = props.get("parent_code")
    if parent is not None and not isinstance(parent, str):
        return FeatureError(index, code, "properties.parent_code must be a string")
    if reason := check_code(code, level, parent):
        return FeatureError(index, code, reason)
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        return FeatureError(index, code, "properties.name is required")
    geometry = _geometry(feature.get("geometry"))
    if isinstance(geometry, str):
        return FeatureError(index, code, geometry)
    return GridFeature(code=code, name=name.strip(), level=level, kind=kind, parent_code=parent or None,
                       dedicated_type=props.get("dedicated_type"), geometry=geometry)


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
