"""China's map datums ↔ WGS84, pure Python. The one place coordinates change datum.

Chinese map SDKs do not answer in WGS84: 高德 and 腾讯 use GCJ-02 (国测局 02, WGS84 plus a published,
deliberately non-linear offset of a few hundred metres), 百度 uses BD-09 (GCJ-02 turned and shifted once
more). The registry keeps WGS84.

- WGS84 → GCJ-02 is the published offset formula (Krasovsky 1940 ellipsoid constants).
- GCJ-02 → WGS84 has no closed form: a fixed-point iteration on the forward formula, w ← w − (gcj(w) − g),
  converges in a handful of steps (the offset changes by far less than a metre per metre moved); it stops
  when a step is below `_TOLERANCE` degrees (~0.1 mm), so the inverse is exact to sub-millimetre.
- BD-09 ↔ GCJ-02 is Baidu's published closed form and its closed inverse, the one everybody uses; that
  inverse is itself approximate, by 2e-6° (a quarter of a metre) at most.

Outside China (`out_of_china`: the usual rectangle, the one coord-convert and eviltransform use), every
function returns its input unchanged: there WGS84 is what the map SDKs send.
"""

from __future__ import annotations

from math import atan2, cos, fabs, pi, sin, sqrt

# Krasovsky 1940, as the GCJ-02 formula has it.
_A = 6378245.0                     # semi-major axis, metres
_EE = 0.00669342162296594323       # first eccentricity squared, 1 − (b/a)² with f = 1/298.3
_X_PI = pi * 3000.0 / 180.0        # BD-09's angular factor
_TOLERANCE = 1e-9                  # degrees: the inverse's stopping step (1e-9° ≈ 0.1 mm)
_MAX_ITERATIONS = 30               # it needs 3 to 6; a bound, not a budget

Point = tuple[float, float]        # (lon, lat), degrees


def out_of_china(lon: float, lat: float) -> bool:
    """True outside the rectangle that holds mainland China, where no datum offset applies."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(lon: float, lat: float) -> Point:
    """The GCJ-02 offset (dlon, dlat) in degrees at a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(fabs(x))
            + (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * sin(y * pi) + 40.0 * sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * sin(y / 12.0 * pi) + 320.0 * sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(fabs(x))
            + (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
            + (20.0 * sin(x * pi) + 40.0 * sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * sin(x / 12.0 * pi) + 300.0 * sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * sin(rad_lat) ** 2
    sqrt_magic = sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * cos(rad_lat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> Point:
    """The WGS84 point whose GCJ-02 image is (lon, lat), by iterating the forward formula."""
    if out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(_MAX_ITERATIONS):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        step_lon, step_lat = g_lon - lon, g_lat - lat
        w_lon, w_lat = w_lon - step_lon, w_lat - step_lat
        if fabs(step_lon) < _TOLERANCE and fabs(step_lat) < _TOLERANCE:
            break
    return w_lon, w_lat


def gcj02_to_bd09(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    z = sqrt(lon * lon + lat * lat) + 0.00002 * sin(lat * _X_PI)
    theta = atan2(lat, lon) + 0.000003 * cos(lon * _X_PI)
    return z * cos(theta) + 0.0065, z * sin(theta) + 0.006


def bd09_to_gcj02(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    x, y = lon - 0.0065, lat - 0.006
    z = sqrt(x * x + y * y) - 0.00002 * sin(y * _X_PI)
    theta = atan2(y, x) - 0.000003 * cos(x * _X_PI)
    return z * cos(theta), z * sin(theta)


def wgs84_to_bd09(lon: float, lat: float) -> Point:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
