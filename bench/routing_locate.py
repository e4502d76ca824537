"""Routing: points located among a 15,000-grid synthetic city, in bulk and one at a time, through the
service's locator, beside raw shapely STRtree and PostGIS ST_Contains measured in the same run."""

from __future__ import annotations

import asyncio
import statistics
import time

import shapely
from shapely import STRtree
from shapely.geometry import shape

from bench.common import Figure, create_database, drop_database
from deploy.demo.synthetic_city import CityPlan, generate_city, sample_points
from services.routing.domain.locator import GridInfo, Locator
from shared.db.migrate import migrate
from shared.db.pool import create_pool

BULK_POINTS = 300_000
SINGLE_POINTS = 30_000
POSTGIS_POINTS = 20_000


def run(seconds: int = 15, grids: int = 15_000) -> list[Figure]:
    collection, _ = generate_city(CityPlan(grids=grids))
    features = collection["features"]
    locator = Locator([(GridInfo(f["properties"]["code"], f["properties"]["name"], f["properties"]["level"],
                                 f["properties"]["kind"]), shape(f["geometry"])) for f in features])
    points = sample_points(collection, BULK_POINTS, seed=11)
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    leaf_geoms = [shape(f["geometry"]) for f in features if f["properties"]["level"] == "grid"]
    raw_tree = STRtree(leaf_geoms)

    bulk = _best_rate(lambda: locator.locate_many(lons, lats), len(points))
    raw_bulk = _best_rate(lambda: raw_tree.query(shapely.points(lons, lats), predicate="intersects"), len(points))
    single = _latencies(lambda lon, lat: locator.locate(lon, lat), points[:SINGLE_POINTS])
    raw_single = _latencies(lambda lon, lat: raw_tree.query(shapely.Point(lon, lat), predicate="intersects"),
                            points[:SINGLE_POINTS])
    postgis_rate = asyncio.run(_postgis_rate(collection, points[:POSTGIS_POINTS]))
    located = sum(code is not None for code in locator.locate_many(lons, lats))
    notes = {"grids": len(locator), "points": len(points), "located": located, "cores_used": 1}
    return [
        Figure("routing.locate", "bulk", bulk, "points/s", raw_bulk, "raw shapely STRtree",
               "≥ 300,000 points/s/core", notes),
        Figure("routing.locate", "bulk vs PostGIS", bulk, "points/s", postgis_rate, "PostGIS ST_Contains (bulk)"),
        Figure("routing.locate", "single p50", single[0], "µs", raw_single[0], "raw shapely STRtree"),
        Figure("routing.locate", "single p99", single[1], "µs", raw_single[1], "raw shapely STRtree", "≤ 50 µs"),
    ]


def _best_rate(work, count: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def _latencies(call, points) -> tuple[float, float]:
    samples = []
    for lon, lat in points:
        started = time.perf_counter_ns()
        call(lon, lat)
        samples.append((time.perf_counter_ns() - started) / 1000)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[98]


async def _postgis_rate(collection: dict, points: list[tuple[float, float]]) -> float:
    from services.routing.adapters.repository import GridRepository
    from services.routing.domain.grid_import import parse_features

    name, dsn = await create_database("routing")
    try:
        await migrate(dsn, __import__("pathlib").Path(__file__).resolve().parent.parent / "services" / "routing")
        pool = await create_pool(dsn, 1, 2)
        grids, errors = parse_features(collection, set())
        assert not errors, errors[:3]
        async with pool.acquire() as conn, conn.transaction():
            await GridRepository(conn).put(grids)
        await pool.execute("ANALYZE grid")
        query = """SELECT count(g.code) FROM unnest($1::float8[], $2::float8[]) AS p(lon, lat)
                   LEFT JOIN LATERAL (SELECT code FROM grid WHERE level = 'grid'
                                       AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
                                     ORDER BY kind <> 'dedicated', code LIMIT 1) g ON true"""
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        started = time.perf_counter()
        await pool.fetchval(query, lons, lats)
        elapsed = time.perf_counter() - started
        await pool.close()
        return len(points) / elapsed
    finally:
        await drop_database(name)
