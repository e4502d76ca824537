"""Point → grid, in memory (shapely STRtree); PostGIS stays the source of truth.

A dedicated grid (school, hospital...) wins over the comprehensive grid it sits in. A point on the
border shared by two grids goes to the lower code, so the answer never depends on load order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from services.routing.domain.registry import ancestors


@dataclass(frozen=True)
class GridInfo:
    code: str
    name: str
    level: str
    kind: str


@dataclass(frozen=True)
class Located:
    grid: GridInfo
    community: GridInfo | None
    street: GridInfo | None
    district: GridInfo | None


class Locator:
    def __init__(self, grids: list[tuple[GridInfo, BaseGeometry]], version: int = 0) -> None:
        self.version = version
        self._info: dict[str, GridInfo] = {g.code: g for g, _ in grids}
        leaves = [(g, geom) for g, geom in grids if g.level == "grid"]
        # Dedicated first, then by code: the first covering candidate is the answer.
        leaves.sort(key=lambda item: (item[0].kind != "dedicated", item[0].code))
        self._leaves = [g for g, _ in leaves]
        self._codes = [g.code for g in self._leaves]
        geoms = [geom for _, geom in leaves]
        for geom in geoms:
            shapely.prepare(geom)
        self._geoms = geoms
        self._tree = STRtree(geoms)

    def __len__(self) -> int:
        return len(self._leaves)

    def info(self, code: str) -> GridInfo | None:
        return self._info.get(code)

    def locate(self, lon: float, lat: float) -> Located | None:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        point = shapely.Point(lon, lat)
        candidates = self._tree.query(point, predicate="intersects")
        if len(candidates) == 0:
            return None
        return self._located(self._leaves[int(min(candidates))])

    def locate_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        """Bulk: the grid code for each point (None outside every grid), vectorised."""
        point_idx, tree_idx = self._tree.query(shapely.points(lons, lats), predicate="intersects")
        # Per point, the candidate with the lowest index wins (dedicated first, then lower code).
        order = np.lexsort((tree_idx, point_idx))
        points_hit, first = np.unique(point_idx[order], return_index=True)
        winners = tree_idx[order][first]
        codes: list[str | None] = [None] * len(lons)
        for p, t in zip(points_hit.tolist(), winners.tolist(), strict=True):
            codes[p] = self._codes[t]
        return codes

    def located_code(self, code: str) -> Located | None:
        """The hierarchy of a known grid code (used when a report names its grid)."""
        grid = self._info.get(code[:15])
        return self._located(grid) if grid and grid.level == "grid" else None

    def _located(self, grid: GridInfo) -> Located:
        up = ancestors(grid.code)
        return Located(grid=grid, community=self._info.get(up["community"]),
                       street=self._info.get(up["street"]), district=self._info.get(up["district"]))
