"""GCJ-02 / BD-09 ↔ WGS84 (services/intake/domain/coordinates.py).

The reference values were computed with coord-convert 0.2.1 (the library this module replaced) before it was
removed: its forward formulas are the same published ones, so they agree to 1e-12°; its GCJ-02 inverse stops
at a 1e-6° step, ours at 1e-9°, so the inverses agree to 1e-8° (a millimetre).
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.intake.domain.coordinates import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from services.intake.domain.duplicates import distance_m
from services.intake.domain.hotline import to_wgs84

# (lon, lat) WGS84 → its GCJ-02 and BD-09 images, by coord-convert 0.2.1 (wgs2gcj, wgs2bd).
FORWARD = {
    "苏州": ((120.61, 31.31), (120.61417185116869, 31.307819520279452), (120.6205910943564, 31.31408324026006)),
    "天安门": ((116.391278, 39.907333), (116.3975191487855, 39.90873425834408),
              (116.40389207712843, 39.91507764466519)),
    "外滩": ((121.490317, 31.241701), (121.49478401849832, 31.23971630256491),
             (121.5013911805164, 31.24536967664268)),
    "广州": ((113.264385, 23.129112), (113.26971458288735, 23.126435336538538),
             (113.27613576798366, 23.132723116471205)),
    "成都": ((104.066541, 30.572269), (104.06904597951714, 30.569814587450697),
             (104.0755222119776, 30.575824539969044)),
    "乌鲁木齐": ((87.617733, 43.792818), (87.62058226041898, 43.79404257315041),
                 (87.62701457775465, 43.80016425959228)),
    "拉萨": ((91.1145, 29.644), (91.11606241841984, 29.641293377674156), (91.12259146062036, 29.647208477917424)),
    "哈尔滨": ((126.534967, 45.803775), (126.54100746726697, 45.80575661491464),
               (126.54762634924138, 45.811370879732934)),
    "三亚": ((109.511909, 18.252847), (109.51599327140339, 18.251141748703045),
             (109.52254078980954, 18.25692363216166)),
    "喀什": ((75.989755, 39.4704), (75.99270984163799, 39.470626891188154), (75.99921822129137, 39.476590307638844)),
}

# The same inputs read as GCJ-02 and as BD-09 → WGS84, by coord-convert 0.2.1 (gcj2wgs, bd2wgs).
INVERSE = {
    "苏州": ((120.61, 31.31), (120.60582909368549, 31.312181482757904), (120.59943635070795, 31.30583328113488)),
    "天安门": ((116.391278, 39.907333), (116.38504128044464, 39.90593557532377),
              (116.37863336856914, 39.89969773221562)),
    "外滩": ((121.490317, 31.241701), (121.48583397023846, 31.243671594905038),
             (121.4792311450338, 31.23789169542295)),
    "广州": ((113.264385, 23.129112), (113.25905824689168, 23.131789980188024),
             (113.25260697928748, 23.125661339298283)),
    "成都": ((104.066541, 30.572269), (104.06404064679825, 30.574726186882206),
             (104.057618951202, 30.56858897252498)),
    "乌鲁木齐": ((87.617733, 43.792818), (87.61488664164197, 43.791594980281914),
                 (87.60851246772809, 43.78538245525703)),
    "拉萨": ((91.1145, 29.644), (91.11293643109182, 29.64670496874826), (91.10644451382258, 29.64067535462861)),
    "哈尔滨": ((126.534967, 45.803775), (126.52890388172655, 45.801777189398365),
               (126.52228024813706, 45.796075417558015)),
    "三亚": ((109.511909, 18.252847), (109.50781292561611, 18.254540620927695),
             (109.50123470328764, 18.248833080063218)),
    "喀什": ((75.989755, 39.4704), (75.98680983865742, 39.47018196364487), (75.9803845688986, 39.46413061820158)),
}

OUTSIDE = {"东京": (139.6917, 35.6895), "伦敦": (-0.1276, 51.5072), "纽约": (-74.006, 40.7128),
           "悉尼": (151.2093, -33.8688)}

FORWARD_TOLERANCE = 1e-12   # degrees: the same formula, only the order of the float operations may differ
INVERSE_TOLERANCE = 1e-8    # degrees, about a millimetre: coord-convert's inverse stops earlier than ours
BD_ROUND_TRIP = 5e-6        # degrees, half a metre: Baidu's closed-form BD-09 → GCJ-02 is itself approximate


def close(got: tuple[float, float], want: tuple[float, float], tolerance: float) -> bool:
    return abs(got[0] - want[0]) <= tolerance and abs(got[1] - want[1]) <= tolerance


@pytest.mark.parametrize("place", FORWARD)
def test_wgs84_to_gcj02_and_bd09_match_the_reference(place):
    wgs, gcj, bd = FORWARD[place]
    assert close(wgs84_to_gcj02(*wgs), gcj, FORWARD_TOLERANCE)
    assert close(wgs84_to_bd09(*wgs), bd, FORWARD_TOLERANCE)


@pytest.mark.parametrize("place", INVERSE)
def test_gcj02_and_bd09_to_wgs84_match_the_reference(place):
    given_point, from_gcj, from_bd = INVERSE[place]
    assert close(gcj02_to_wgs84(*given_point), from_gcj, INVERSE_TOLERANCE)
    assert close(bd09_to_wgs84(*given_point), from_bd, INVERSE_TOLERANCE)


@pytest.mark.parametrize("place", FORWARD)
def test_the_gcj02_inverse_undoes_the_reference_forward_to_a_tenth_of_a_millimetre(place):
    wgs, gcj, _ = FORWARD[place]
    assert close(gcj02_to_wgs84(*gcj), wgs, 1e-9)


def test_the_offsets_are_the_known_few_hundred_metres():
    wgs, gcj, _ = FORWARD["苏州"]
    assert 0.001 < abs(gcj[0] - wgs[0]) < 0.01 and 0.001 < abs(gcj[1] - wgs[1]) < 0.01


@pytest.mark.parametrize("place", OUTSIDE)
def test_points_outside_china_stay_unchanged(place):
    point = OUTSIDE[place]
    assert out_of_china(*point)
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84, gcj02_to_bd09, bd09_to_gcj02):
        assert convert(*point) == point
    assert to_wgs84(*point, "gcj02") == point and to_wgs84(*point, "bd09") == point


def test_the_china_rectangle():
    assert not out_of_china(120.61, 31.31)
    assert not out_of_china(72.004, 0.8293) and not out_of_china(137.8347, 55.8271)  # edges are inside
    assert out_of_china(72.003, 30.0) and out_of_china(137.835, 30.0)
    assert out_of_china(100.0, 0.8292) and out_of_china(100.0, 55.8272)


def test_to_wgs84_converts_by_coord_sys_and_rounds_to_7_decimals():
    wgs, gcj, bd = FORWARD["苏州"]
    assert to_wgs84(*wgs, "wgs84") == wgs
    assert to_wgs84(*gcj, "gcj02") == wgs
    back = to_wgs84(*bd, "bd09")
    assert close(back, wgs, BD_ROUND_TRIP) and back == (round(back[0], 7), round(back[1], 7))


# Mainland China and a margin inside the rectangle (the intake schemas accept lon 73–135.5, lat 3–54).
china_lon = st.floats(min_value=73.0, max_value=135.5, allow_nan=False)
china_lat = st.floats(min_value=3.0, max_value=54.0, allow_nan=False)


@settings(max_examples=500, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_is_sub_millimetre(lon, lat):
    assert close(gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), (lon, lat), 1e-8)


@settings(max_examples=500, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip_is_sub_metre(lon, lat):
    assert close(bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), (lon, lat), BD_ROUND_TRIP)
    assert close(bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), (lon, lat), BD_ROUND_TRIP)


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
@example(131.125, 54.0)  # the far north-east: 710 m of offset, past 0.01° of longitude there
def test_the_inverse_lands_where_the_forward_formula_maps_back_onto_the_input(lon, lat):
    wgs = gcj02_to_wgs84(lon, lat)
    assert close(wgs84_to_gcj02(*wgs), (lon, lat), 1e-8)
    # And the offset stays a few hundred metres: in metres, since in the far north-east a degree of longitude is
    # 65 km, not 111, and the same few hundred metres pass 0.01°.
    assert distance_m(*wgs, lon, lat) < 1_000


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-180.0, max_value=180.0, allow_nan=False),
       st.floats(min_value=-90.0, max_value=90.0, allow_nan=False))
def test_outside_china_every_conversion_is_the_identity(lon, lat):
    if not out_of_china(lon, lat):
        return
    for convert in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        assert convert(lon, lat) == (lon, lat)
