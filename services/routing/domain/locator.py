"""Point → grid, in memory (shapely STRtree); PostGIS stays the source of truth. Also where a reported
grid code or an address places a case (`place`, `match_address`), from the same loaded registry.

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

from services.routing.domain.address import AddressIndex, AddressMatch, Named
from services.routing.domain.registry import LEVEL_LENGTH, ancestors


@dataclass(frozen=True)
class GridInfo:
    code: str
    name: str
    level: str
    kind: str
    dedicated_type: str | None = None  # school, hospital, ... for a dedicated grid


@dataclass(frozen=True)
class Located:
    """Where a case is: its grid and the levels above; an address may name only a community, street or
    district, and then `grid` (and what lies below the named level) is None."""

    grid: GridInfo | None
    community: GridInfo | None
    street: GridInfo | None
    district: GridInfo | None
    beneath: GridInfo | None = None  # for a dedicated grid: the comprehensive grid it sits in, when known

    def outside_dedicated(self) -> Located:
        """The case as the territory sees it when the dedicated grid does not handle its category: the
        comprehensive grid beneath, or (none known) the community and the levels above."""
        return Located(self.beneath, self.community, self.street, self.district)

    @property
    def place(self) -> GridInfo:
        """The most specific level known."""
        place = self.grid or self.community or self.street or self.district
        assert place is not None, "a Located knows at least its district"
        return place


class Locator:
    def __init__(self, grids: list[tuple[GridInfo, BaseGeometry]], version: int = 0) -> None:
        self.version = version
        self._info: dict[str, GridInfo] = {g.code: g for g, _ in grids}
        leaves = [(g, geom) for g, geom in grids if g.level == "grid"]
        # Dedicated first, then by code: the first covering candidate is the answer.
        leaves.sort(key=lambda item: (item[0].kind != "dedicated", item[0].code))
        self._leaves = [g for g, _ in leaves]
        self._code_array = np.array([g.code for g in self._leaves], dtype=object)
        geoms = [geom for _, geom in leaves]
        for geom in geoms:
            shapely.prepare(geom)
        self._geoms = geoms
        self._tree = STRtree(geoms)
        self._build_buckets()
        self._addresses = AddressIndex(Named(g.code, g.name, g.level) for g in self._info.values())

    def _build_buckets(self) -> None:
        """A uniform grid of buckets over the city, each listing the grids whose box touches it (in priority
        order): a single lookup then tests one or two prepared polygons instead of walking the tree."""
        self._buckets: list[list[int]] = []
        if not self._geoms:
            return
        bounds = shapely.bounds(self._geoms)
        self._minx, self._miny = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        maxx, maxy = float(bounds[:, 2].max()), float(bounds[:, 3].max())
        self._n = max(1, int(math.sqrt(len(self._geoms)) * 2))
        self._dx = (maxx - self._minx) / self._n or 1e-9
        self._dy = (maxy - self._miny) / self._n or 1e-9
        self._buckets = [[] for _ in range(self._n * self._n)]
        for index, (x0, y0, x1, y1) in enumerate(bounds.tolist()):
            for j in range(self._cell(y0, self._miny, self._dy), self._cell(y1, self._miny, self._dy) + 1):
                for i in range(self._cell(x0, self._minx, self._dx), self._cell(x1, self._minx, self._dx) + 1):
                    self._buckets[j * self._n + i].append(index)

    def _cell(self, value: float, origin: float, step: float) -> int:
        return min(self._n - 1, max(0, int((value - origin) / step)))

    def __len__(self) -> int:
        return len(self._leaves)

    def info(self, code: str) -> GridInfo | None:
        return self._info.get(code)

    def locate(self, lon: float, lat: float) -> Located | None:
        if not (math.isfinite(lon) and math.isfinite(lat)):
            return None
        if not self._buckets:
            return None
        i, j = int((lon - self._minx) / self._dx), int((lat - self._miny) / self._dy)
        if not (0 <= i <= self._n and 0 <= j <= self._n):
            return None
        # A point on the far edge of the box falls in the last bucket.
        found: GridInfo | None = None
        for index in self._buckets[min(j, self._n - 1) * self._n + min(i, self._n - 1)]:
            if shapely.intersects_xy(self._geoms[index], lon, lat):
                leaf = self._leaves[index]
                if found is None and leaf.kind != "dedicated":
                    return self._located(leaf)
                if found is None:
                    found = leaf  # dedicated: it wins, and the comprehensive grid beneath is kept
                elif leaf.kind != "dedicated":
                    return self._located(found, beneath=leaf)
        return self._located(found) if found else None

    def locate_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        """Bulk: the grid code for each point (None outside every grid), vectorised."""
        point_idx, tree_idx = self._tree.query(shapely.points(lons, lats), predicate="intersects")
        # Per point, the candidate with the lowest index wins (dedicated first, then lower code).
        order = np.lexsort((tree_idx, point_idx))
        points_hit, first = np.unique(point_idx[order], return_index=True)
        codes = np.full(len(lons), None, dtype=object)
        codes[points_hit] = self._code_array[tree_idx[order][first]]
        return codes.tolist()

    def located_code(self, code: str) -> Located | None:
        """The hierarchy of a known grid code (used when a report names its grid; a micro grid's code
        places the case at its grid)."""
        grid = self._info.get(code[:LEVEL_LENGTH["grid"]])
        return self._located(grid) if grid and grid.level == "grid" else None

    def place(self, code: str) -> Located | None:
        """The hierarchy of any known district, street, community or grid code."""
        info = self._info.get(code)
        if info is None or info.level == "micro":
            return self.located_code(code)
        return self._located(info)

    def match_address(self, address: str) -> tuple[Located | None, AddressMatch]:
        match = self._addresses.match(address)
        return (self.place(match.code) if match.code else None), match

    def _located(self, place: GridInfo, beneath: GridInfo | None = None) -> Located:
        up = ancestors(place.code)
        return Located(grid=place if place.level == "grid" else None,
                       community=self._info.get(up.get("community", "")),
                       street=self._info.get(up.get("street", "")), district=self._info.get(up["district"]),
                       beneath=beneath)
