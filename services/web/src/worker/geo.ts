// Which of my grids holds a point, from their outlines (routing's GeoJSON, kept on the device): what the report
// page uses to fill in grid_code when routing's /v1/locate cannot be asked (offline). Plain ray casting: the
// grids are small and few.

import type { Geometry, Position } from "geojson";

import type { GridCollection } from "../api/types";

function inRing(lon: number, lat: number, ring: Position[]): boolean {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inPolygon(lon: number, lat: number, rings: Position[][]): boolean {
  return rings.length > 0 && inRing(lon, lat, rings[0]) && !rings.slice(1).some((hole) => inRing(lon, lat, hole));
}

export function contains(geometry: Geometry | null, lon: number, lat: number): boolean {
  if (!geometry) return false;
  switch (geometry.type) {
    case "Polygon":
      return inPolygon(lon, lat, geometry.coordinates);
    case "MultiPolygon":
      return geometry.coordinates.some((rings) => inPolygon(lon, lat, rings));
    case "GeometryCollection":
      return geometry.geometries.some((g) => contains(g, lon, lat));
    default:
      return false;
  }
}

/** The finest grid (grid or micro level) of the collection holding the point, if any. */
export function gridAt(grids: GridCollection, lon: number, lat: number): { code: string; name: string } | null {
  const holding = grids.features.filter(
    (f) => (f.properties.level === "grid" || f.properties.level === "micro") && contains(f.geometry, lon, lat),
  );
  // A micro grid (a school, a market) lies inside a grid; a grid worker reports in the grid (the level routing
  // assigns a grid worker by), so prefer the grid level.
  const found = holding.find((f) => f.properties.level === "grid") ?? holding[0];
  return found ? { code: found.properties.code, name: found.properties.name } : null;
}

/** A point inside the collection's first grid, to centre the map when the phone gives no position. */
export function centreOf(grids: GridCollection): { lon: number; lat: number } | null {
  let minLon = Infinity;
  let minLat = Infinity;
  let maxLon = -Infinity;
  let maxLat = -Infinity;
  const visit = (positions: Position[]) => {
    for (const [lon, lat] of positions) {
      minLon = Math.min(minLon, lon);
      maxLon = Math.max(maxLon, lon);
      minLat = Math.min(minLat, lat);
      maxLat = Math.max(maxLat, lat);
    }
  };
  for (const feature of grids.features) {
    const g = feature.geometry;
    if (g?.type === "Polygon") g.coordinates.forEach(visit);
    else if (g?.type === "MultiPolygon") g.coordinates.forEach((rings) => rings.forEach(visit));
  }
  return Number.isFinite(minLon) ? { lon: (minLon + maxLon) / 2, lat: (minLat + maxLat) / 2 } : null;
}
