"""Near-duplicate reports (DOMAIN.md §4): same category, close in space and time, while the first is open. Pure."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class DuplicatePolicy:
    """A radius or a window of 0 turns linking off (no lookup at all): with a radius of 0, two reports of one
    category at exactly the same coordinates would still be linked, which is not what "off" means to an operator."""

    radius_m: float = 50.0
    window: timedelta = timedelta(hours=24)

    @property
    def links(self) -> bool:
        return self.radius_m > 0 and self.window > timedelta(0)

    def bounding_box(self, lon: float, lat: float) -> tuple[float, float]:
        """Half-widths (degrees of lon, lat) of a box that contains the radius around the point."""
        dlat = math.degrees(self.radius_m / EARTH_RADIUS_M)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        return dlon, dlat


@dataclass(frozen=True)
class DuplicateLookup:
    """Where to look for the open case a new report may duplicate: same category, since, inside a box."""

    category: str
    since: datetime
    lon: float
    lat: float
    half_lon: float
    half_lat: float


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    lon: float
    lat: float


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine); metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def nearest_master(lon: float, lat: float, candidates: list[Candidate], policy: DuplicatePolicy) -> uuid.UUID | None:
    """The closest open case within the radius (ties: the lower id), or None."""
    within = [(distance_m(lon, lat, c.lon, c.lat), str(c.id), c.id) for c in candidates]
    within = [w for w in within if w[0] <= policy.radius_m]
    return min(within)[2] if within else None
