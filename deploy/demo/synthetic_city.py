"""A deterministic synthetic city for demos, load tests and benchmarks (网格化管理: 区 → 街道/镇 → 社区/村 → 网格).

`generate_city(CityPlan(...))` returns `(feature_collection, directory)`: a GeoJSON FeatureCollection that
`grid_import.parse_features` accepts, and the `{"units": [...], "workers": [...]}` directory that `load-city`
reads. Pure: no I/O, no global random state; the same plan always gives byte-identical JSON.

Geometry is recursive rectangular subdivision with jittered cut lines, so every level tiles its parent exactly
(shared borders, no overlap) and every polygon is valid by construction. Dedicated grids (school, hospital...)
are small polygons strictly inside one comprehensive grid of their community; no two share a host.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

Rect = tuple[float, float, float, float]  # west, south, east, north

# Rough bounding box of mainland China and its islands: every generated coordinate stays inside it.
CHINA_BBOX: Rect = (73.5, 18.0, 135.1, 53.6)
PRECISION = 7          # decimal places of every coordinate (about 1 cm)
MIN_CELL = 2e-5        # degrees (about 2 m): finer subdivisions are refused rather than rounded away
MAX_COMPREHENSIVE = 799  # grid sequence 001–799 per community; dedicated grids use 800–999
MAX_DEDICATED = 200
MAX_STREETS = 99       # 街道 001–099 and 镇 101–199 per district
MAX_COMMUNITIES = 199  # 社区 001–199 and 村 200–999 per street (GB/T 10114 style)

DEPARTMENTS: dict[str, str] = {
    "municipal": "综合行政执法局",
    "water": "水利局",
    "utilities": "公用事业服务中心",
    "gas": "燃气安全管理办公室",
    "police": "公安分局",
    "market_reg": "市场监督管理局",
    "ecology": "生态环境分局",
    "education": "教育和体育局",
    "transport": "交通运输局",
    "health": "卫生健康局",
    "hr_social": "人力资源和社会保障局",
    "emergency_mgmt": "应急管理局",
    "greening": "园林绿化服务中心",
}
DEDICATED_TYPES: tuple[str, ...] = ("school", "hospital", "enterprise", "park", "market")
DEDICATED_WEIGHTS: tuple[int, ...] = (35, 10, 25, 15, 15)

# 淄博: GB/T 2260 codes and names; further districts get generated names under the same prefix.
REAL_DISTRICTS: tuple[tuple[str, str], ...] = (
    ("370302", "淄川区"), ("370303", "张店区"), ("370304", "博山区"), ("370305", "临淄区"), ("370306", "周村区"),
    ("370321", "桓台县"), ("370322", "高青县"), ("370323", "沂源县"),
)
PLACE_HEAD = "华光兴安和平新东西南北中金永福昌盛富康乐青龙凤齐鲁杏松柳梨枣石马潘铁沣湖稷临荆傅"
PLACE_TAIL = "山河湖泉林园阳明丰桥庄苑城店峪岭营台寨埠坡沟湾口亭田源圃"
VILLAGE_TAIL = "庄峪坡沟店营寨洼"
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国红玉兰志文斌辉鹏飞宇浩然欣怡晨阳佳琪子涵梓轩雨"
         "婷雪梅海波峰丹宁凯鑫博文慧颖倩雯晓东林淑珍德胜永庆春燕秋菊")
MOBILE_PREFIXES = ("130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "147", "150", "151",
                   "152", "153", "155", "156", "157", "158", "159", "166", "173", "175", "176", "177", "178",
                   "180", "181", "182", "183", "184", "185", "186", "187", "188", "189", "191", "198", "199")
ENTERPRISE_SUFFIX = ("陶瓷有限公司", "化工有限公司", "机械厂", "纺织厂", "医药有限公司", "琉璃制品厂", "铝业有限公司",
                     "耐火材料厂", "食品有限公司", "建材有限公司")


@dataclass(frozen=True)
class CityPlan:
    seed: int = 7
    grids: int = 15_000          # comprehensive grids, exactly
    districts: int = 5
    bbox: tuple[float, float, float, float] = (117.9, 36.6, 118.3, 36.95)  # lon/lat, 淄博
    dedicated_every: int = 25    # about one dedicated grid per this many comprehensive grids; 0 for none

    def __post_init__(self) -> None:
        for name in ("seed", "grids", "districts", "dedicated_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer")
        if not 1 <= self.districts <= _district_capacity():
            raise ValueError(f"districts must be between 1 and {_district_capacity()}")
        if self.grids < self.districts:
            raise ValueError("need at least one grid per district")
        if self.dedicated_every < 0:
            raise ValueError("dedicated_every must be 0 (none) or positive")
        if len(self.bbox) != 4:
            raise ValueError("bbox is (west, south, east, north)")
        w, s, e, n = self.bbox
        cw, cs, ce, cn = CHINA_BBOX
        if not (cw <= w < e <= ce and cs <= s < n <= cn):
            raise ValueError(f"bbox must be ordered (west, south, east, north) and inside China {CHINA_BBOX}")


# ---------------------------------------------------------------------------------------------------------------
# Public API


def generate_city(plan: CityPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """(GeoJSON FeatureCollection, {"units": [...], "workers": [...]}) for the plan; deterministic."""
    return _CityBuilder(plan).build()


def sample_points(collection: dict[str, Any], n: int, seed: int) -> list[tuple[float, float]]:
    """n (lon, lat) points strictly inside comprehensive grids, picked by households; deterministic."""
    if n <= 0:
        return []
    rings: list[list[list[float]]] = []
    weights: list[int] = []
    for feature in collection.get("features", []):
        props = feature.get("properties") or {}
        if props.get("level") == "grid" and props.get("kind") == "comprehensive":
            geometry = feature["geometry"]
            ring = geometry["coordinates"][0] if geometry["type"] == "Polygon" else geometry["coordinates"][0][0]
            rings.append(ring)
            weights.append(int(props.get("households") or 1))
    if not rings:
        raise ValueError("the collection has no comprehensive grids")
    rng = random.Random(f"{seed}/points")
    cumulative: list[int] = []
    total = 0
    for w in weights:
        total += w
        cumulative.append(total)
    points: list[tuple[float, float]] = []
    for ring in rng.choices(rings, cum_weights=cumulative, k=n):
        xs = [p[0] for p in ring]
        ys = [p[1] for p in ring]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        while True:
            x = round(x0 + (x1 - x0) * rng.uniform(0.01, 0.99), 6)
            y = round(y0 + (y1 - y0) * rng.uniform(0.01, 0.99), 6)
            if _inside(ring, x, y):
                points.append((x, y))
                break
    return points


# ---------------------------------------------------------------------------------------------------------------
# Building


@dataclass
class _Node:
    code: str
    name: str
    level: str
    rect: Rect
    parent: _Node | None = None
    base: str = ""            # the name without its suffix (华光 of 华光社区), for naming what lies inside
    rural: bool = False       # 镇 / 村 rather than 街道 / 社区


class _CityBuilder:
    def __init__(self, plan: CityPlan) -> None:
        self.plan = plan
        self.rng = random.Random(f"{plan.seed}/geometry")
        self.names = random.Random(f"{plan.seed}/names")
        self.people = random.Random(f"{plan.seed}/people")
        w, s, e, n = plan.bbox
        self.centre = ((w + e) / 2, (s + n) / 2)
        self.half = ((e - w) / 2, (n - s) / 2)
        self.cos_lat = math.cos(math.radians(self.centre[1]))
        self.used_names: set[str] = set()
        self.phones: set[str] = set()
        self.features: dict[str, list[dict[str, Any]]] = {"district": [], "street": [], "community": [],
                                                          "grid": [], "dedicated": []}
        self.units: dict[str, list[dict[str, Any]]] = {"district": [], "department": [], "street": [],
                                                       "community": [], "grid": []}
        self.workers: list[dict[str, Any]] = []
        self.counters: dict[str, int] = {}

    # -- structure ------------------------------------------------------------------------------------------------

    def build(self) -> tuple[dict[str, Any], dict[str, Any]]:
        plan, rng = self.plan, self.rng
        scale = math.sqrt(plan.grids / (3000 * plan.districts))  # 1.0 at 15,000 grids in 5 districts
        streets = [_clamp(round(rng.uniform(8, 15) * scale), 1, MAX_STREETS) for _ in range(plan.districts)]
        if sum(streets) > plan.grids:
            streets = _allocate(plan.grids, [float(s) for s in streets], 1, MAX_STREETS)
        communities = [[_clamp(round(rng.uniform(6, 12) * scale), 1, MAX_COMMUNITIES) for _ in range(k)]
                       for k in streets]
        flat = [c for per_district in communities for c in per_district]
        if sum(flat) > plan.grids:
            flat = _allocate(plan.grids, [float(c) for c in flat], 1, MAX_COMMUNITIES)
            it = iter(flat)
            communities = [[next(it) for _ in per_district] for per_district in communities]
        if plan.grids > MAX_COMPREHENSIVE * sum(flat):
            raise ValueError("too many grids for the number of communities")

        district_nodes = [self._district(i, rect) for i, rect in enumerate(_split(plan.bbox, plan.districts, rng,
                                                                                  0.3, self.cos_lat))]
        community_nodes: list[_Node] = []
        for district, per_district in zip(district_nodes, communities, strict=True):
            street_rects = _split(district.rect, len(per_district), rng, 0.3, self.cos_lat)
            street_nodes = self._streets(district, street_rects)
            for street, count in zip(street_nodes, per_district, strict=True):
                community_nodes.extend(self._communities(street, _split(street.rect, count, rng, 0.3,
                                                                        self.cos_lat)))

        weights = [self._density(c.rect) * rng.uniform(0.75, 1.25) for c in community_nodes]
        per_community = _allocate(plan.grids, weights, 1, MAX_COMPREHENSIVE)
        for community, count in zip(community_nodes, per_community, strict=True):
            self._grids(community, count)

        collection = {"type": "FeatureCollection",
                      "features": [f for level in ("district", "street", "community", "grid", "dedicated")
                                   for f in self.features[level]]}
        directory = {"units": [u for kind in ("district", "department", "street", "community", "grid")
                               for u in self.units[kind]],
                     "workers": self.workers}
        return collection, directory

    def _district(self, index: int, rect: Rect) -> _Node:
        code, name = _district_code_name(index, self.names, self.used_names)
        node = _Node(code, name, "district", rect, base=name[:-1])
        self._feature(node, "territorial", None)
        self.units["district"].append(_unit(f"district-{code}", "district", f"{name}社会治理网格化服务中心", code))
        for dept, title in DEPARTMENTS.items():
            self.units["department"].append(_unit(f"dept-{dept}-{code}", "department", f"{name}{title}", code, dept))
        return node

    def _streets(self, district: _Node, rects: list[Rect]) -> list[_Node]:
        nodes = []
        urban_seq, rural_seq = 0, 100
        for rect in rects:
            d = self._distance(rect)
            p_urban = 0.95 if d < 0.4 else 0.6 if d < 0.7 else 0.2
            rural = self.rng.random() >= p_urban
            if rural:
                rural_seq += 1
                seq = rural_seq
            else:
                urban_seq += 1
                seq = urban_seq
            base = self._unique(lambda a: self._place_name(PLACE_TAIL, a))
            name = f"{base}{'镇' if rural else '街道'}"
            node = _Node(f"{district.code}{seq:03d}", name, "street", rect, district, base, rural)
            self._feature(node, "territorial", district.code)
            self.units["street"].append(_unit(f"street-{node.code}", "street",
                                              f"{name}{'人民政府' if rural else '办事处'}", node.code))
            nodes.append(node)
        return nodes

    def _communities(self, street: _Node, rects: list[Rect]) -> list[_Node]:
        nodes = []
        urban_seq, rural_seq = 0, 199
        for rect in rects:
            village = street.rural and self.rng.random() < 0.75
            if village:
                rural_seq += 1
                seq = rural_seq
                if self.names.random() < 0.4:  # 王家庄, else 西河 (and longer names once these run out)
                    base = self._unique(lambda a: f"{self.names.choice(SURNAMES)}家{self.names.choice(VILLAGE_TAIL)}"
                                        if a < 20 else self._place_name(VILLAGE_TAIL, a))
                else:
                    base = self._unique(lambda a: self._place_name(VILLAGE_TAIL + PLACE_TAIL, a))
                name = f"{base}村"
            else:
                urban_seq += 1
                seq = urban_seq
                base = self._unique(lambda a: self._place_name(PLACE_TAIL, a))
                name = f"{base}社区"
            node = _Node(f"{street.code}{seq:03d}", name, "community", rect, street, base, village)
            self._feature(node, "territorial", street.code)
            self.units["community"].append(_unit(f"community-{node.code}", "community",
                                                 f"{name}{'村民委员会' if village else '居民委员会'}", node.code))
            nodes.append(node)
        return nodes

    def _grids(self, community: _Node, count: int) -> None:
        rng = self.rng
        cells = _split(community.rect, count, rng, 0.35, self.cos_lat)
        for seq, rect in enumerate(cells, start=1):
            code = f"{community.code}{seq:03d}"
            name = f"{community.name}第{seq}网格"
            self._leaf(code, name, "comprehensive", _rect_ring(rect), community.code,
                       {"households": rng.randint(200, 450)})
        every = self.plan.dedicated_every
        if not every:
            return
        expected = count / every
        k = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        k = min(k, count, MAX_DEDICATED)
        hosts = sorted(rng.sample(range(count), k))
        for seq, host in enumerate(hosts, start=800):
            kind = rng.choices(DEDICATED_TYPES, weights=DEDICATED_WEIGHTS)[0]
            ring = _inner_ring(cells[host], kind, rng)
            code = f"{community.code}{seq:03d}"
            self._leaf(code, self._dedicated_name(kind, community), "dedicated", ring, community.code,
                       {"dedicated_type": kind})

    # -- output ---------------------------------------------------------------------------------------------------

    def _feature(self, node: _Node, kind: str, parent: str | None) -> None:
        self.features[node.level].append(_geo_feature(
            {"code": node.code, "name": node.name, "level": node.level, "kind": kind, "parent_code": parent},
            _rect_ring(node.rect)))

    def _leaf(self, code: str, name: str, kind: str, ring: list[list[float]], parent: str,
              extra: dict[str, Any]) -> None:
        props = {"code": code, "name": name, "level": "grid", "kind": kind, "parent_code": parent, **extra}
        self.features["grid" if kind == "comprehensive" else "dedicated"].append(_geo_feature(props, ring))
        unit_id = f"grid-{code}"
        self.units["grid"].append(_unit(unit_id, "grid", name, code))
        self.workers.append({"id": f"worker-{code}", "name": self._person(), "phone": self._phone(),
                             "unit_id": unit_id, "grid_codes": [code], "on_duty": self.people.random() >= 0.05})

    # -- names ----------------------------------------------------------------------------------------------------

    def _unique(self, make: Callable[[int], str]) -> str:
        """A name not used yet; `make(attempt)` should grow longer names as the attempts go up."""
        for attempt in range(1000):
            name = make(attempt)
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise ValueError("ran out of distinct place names")

    def _place_name(self, tails: str, attempt: int = 0) -> str:
        """华光, 马尚...: one head character and one tail; more heads once the short names are used up."""
        heads = 1 + min(attempt // 20, 3)
        return "".join(self.names.choice(PLACE_HEAD) for _ in range(heads)) + self.names.choice(tails)

    def _person(self) -> str:
        p = self.people
        given = p.choice(GIVEN) if p.random() < 0.3 else p.choice(GIVEN) + p.choice(GIVEN)
        return p.choice(SURNAMES) + given

    def _phone(self) -> str:
        while True:
            phone = self.people.choice(MOBILE_PREFIXES) + f"{self.people.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _count(self, key: str) -> int:
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def _dedicated_name(self, kind: str, community: _Node) -> str:
        street = community.parent
        district = street.parent if street else None
        assert street is not None and district is not None
        n = self.names
        d_short, d_name, s_base, c_base = district.base, district.name, street.base, community.base
        if kind == "school":
            choice = n.randrange(4)
            if choice == 0:
                return f"{d_short}第{_cn(self._count('middle' + district.code))}中学"
            if choice == 1:
                return f"{c_base}小学"
            if choice == 2:
                return f"{s_base}{'中心小学' if street.rural else '实验学校'}"
            return f"{c_base}幼儿园"
        if kind == "hospital":
            if self._count("hospital" + district.code) == 1:
                return f"{d_name}人民医院"
            if community.rural:
                return f"{c_base}村卫生室"
            return n.choice((f"{s_base}{'镇卫生院' if street.rural else '街道社区卫生服务中心'}",
                             f"{d_short}中医医院{_cn(self._count('tcm' + district.code))}分院"))
        if kind == "enterprise":
            if n.random() < 0.15:
                return f"齐鲁石化第{_cn(self._count('qilu'))}分厂"
            return f"{n.choice(PLACE_HEAD)}{n.choice(PLACE_TAIL)}{n.choice(ENTERPRISE_SUFFIX)}"
        if kind == "park":
            if self._count("park" + district.code) == 1:
                return f"{d_short}人民公园"
            return n.choice((f"{c_base}公园", f"{s_base}湿地公园", f"{c_base}体育公园", f"{s_base}文化广场"))
        return n.choice((f"{c_base}农贸市场", f"{s_base}综合批发市场", f"{c_base}集贸市场"))

    # -- geography ------------------------------------------------------------------------------------------------

    def _distance(self, rect: Rect) -> float:
        """Distance of the rectangle's centre from the city centre, 0 at the centre and 1 at the bbox edge."""
        x, y = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
        return math.hypot((x - self.centre[0]) / self.half[0], (y - self.centre[1]) / self.half[1])

    def _density(self, rect: Rect) -> float:
        """Households per area: dense urban core, thinning towards the towns and villages at the edge."""
        d = self._distance(rect)
        return (0.5 + math.exp(-((d / 0.4) ** 2))) * _area(rect, self.cos_lat)


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers


def _district_capacity() -> int:
    return len(REAL_DISTRICTS) + len(_extra_district_codes())


def _extra_district_codes() -> list[str]:
    real = {code for code, _ in REAL_DISTRICTS}
    return [f"3703{i:02d}" for i in range(7, 100) if f"3703{i:02d}" not in real]


def _district_code_name(index: int, rng: random.Random, used: set[str]) -> tuple[str, str]:
    if index < len(REAL_DISTRICTS):
        code, name = REAL_DISTRICTS[index]
        used.add(name[:-1])
        return code, name
    code = _extra_district_codes()[index - len(REAL_DISTRICTS)]
    for _ in range(1000):
        base = rng.choice(PLACE_HEAD) + rng.choice(PLACE_TAIL)
        if base not in used:
            used.add(base)
            return code, f"{base}区"
    raise ValueError("ran out of distinct district names")


def _split(rect: Rect, n: int, rng: random.Random, jitter: float, cos_lat: float) -> list[Rect]:
    """Exactly n rectangles tiling `rect`: columns west→east, each cut into rows north→south, jittered."""
    x0, y0, x1, y1 = rect
    width_m, height_m = (x1 - x0) * cos_lat, (y1 - y0)
    cols = _clamp(round(math.sqrt(n * width_m / height_m)), 1, n)
    rows = [n // cols] * cols
    for i in rng.sample(range(cols), n % cols):
        rows[i] += 1
    xs = _cuts(x0, x1, [r * rng.uniform(1 - jitter, 1 + jitter) for r in rows])
    cells: list[Rect] = []
    for c, r in enumerate(rows):
        ys = _cuts(y0, y1, [rng.uniform(1 - jitter, 1 + jitter) for _ in range(r)])
        for j in range(r, 0, -1):
            cells.append((xs[c], ys[j - 1], xs[c + 1], ys[j]))
    return cells


def _cuts(lo: float, hi: float, weights: list[float]) -> list[float]:
    total = sum(weights)
    cuts = [lo]
    acc = 0.0
    for w in weights[:-1]:
        acc += w
        cuts.append(round(lo + (hi - lo) * acc / total, PRECISION))
    cuts.append(hi)
    if any(b - a < MIN_CELL for a, b in zip(cuts, cuts[1:], strict=False)):
        raise ValueError("the bbox is too small for that many grids")
    return cuts


def _allocate(total: int, weights: list[float], lo: int, hi: int) -> list[int]:
    """Integers in [lo, hi] summing to `total`, proportional to the weights (largest remainder)."""
    n = len(weights)
    if not lo * n <= total <= hi * n:
        raise ValueError(f"cannot share {total} among {n} in [{lo}, {hi}]")
    scale = total / sum(weights)
    ideal = [w * scale for w in weights]
    counts = [_clamp(int(x), lo, hi) for x in ideal]
    diff = total - sum(counts)
    while diff:
        step = 1 if diff > 0 else -1
        order = sorted(range(n), key=lambda i: step * (counts[i] - ideal[i]))
        for i in order:
            if diff == 0:
                break
            if lo <= counts[i] + step <= hi:
                counts[i] += step
                diff -= step
    return counts


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _area(rect: Rect, cos_lat: float) -> float:
    return (rect[2] - rect[0]) * cos_lat * (rect[3] - rect[1])


def _rect_ring(rect: Rect) -> list[list[float]]:
    x0, y0, x1, y1 = rect
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]  # counter-clockwise, closed


def _inner_ring(host: Rect, kind: str, rng: random.Random) -> list[list[float]]:
    """A small polygon strictly inside the host rectangle: a rectangle, an octagon (parks) or an L (enterprises)."""
    hx0, hy0, hx1, hy1 = host
    hw, hh = hx1 - hx0, hy1 - hy0
    fw, fh = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6)
    ox, oy = rng.uniform(0.15, 0.85 - fw), rng.uniform(0.15, 0.85 - fh)

    def x(f: float) -> float:
        return round(hx0 + hw * (ox + fw * f), PRECISION)

    def y(f: float) -> float:
        return round(hy0 + hh * (oy + fh * f), PRECISION)

    if kind == "park":
        c = 0.25
        ring = [[x(c), y(0)], [x(1 - c), y(0)], [x(1), y(c)], [x(1), y(1 - c)],
                [x(1 - c), y(1)], [x(c), y(1)], [x(0), y(1 - c)], [x(0), y(c)]]
    elif kind == "enterprise":
        ring = [[x(0), y(0)], [x(1), y(0)], [x(1), y(0.5)], [x(0.55), y(0.5)], [x(0.55), y(1)], [x(0), y(1)]]
    else:
        ring = [[x(0), y(0)], [x(1), y(0)], [x(1), y(1)], [x(0), y(1)]]
    return [*ring, list(ring[0])]


def _geo_feature(props: dict[str, Any], ring: list[list[float]]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [ring]}}


def _unit(unit_id: str, kind: str, name: str, code: str, department: str | None = None) -> dict[str, Any]:
    return {"id": unit_id, "kind": kind, "name": name, "area": [code], "department": department}


def _inside(ring: list[list[float]], x: float, y: float) -> bool:
    """Ray casting: is (x, y) inside the closed ring (boundary points may go either way)."""
    inside = False
    for (ax, ay), (bx, by) in zip(ring, ring[1:], strict=False):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


_DIGITS = "零一二三四五六七八九"


def _cn(n: int) -> str:
    """Chinese numeral for 1–999 (三, 十二, 二十, 一百零五)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else ("零" + _DIGITS[rest] if rest < 10 else
                                 ("一" + _cn(rest) if rest < 20 else _cn(rest)))
    return _DIGITS[n // 100] + "百" + tail


def main(out: Path = typer.Option(Path(".run/city"), help="directory for grids.geojson and directory.json"),
         grids: int = typer.Option(15_000, help="comprehensive grids"), seed: int = 7, districts: int = 5) -> None:
    """Write a realistic synthetic city (DOMAIN.md §1 scale) to import with `python -m services.routing load-city`."""
    collection, directory = generate_city(CityPlan(seed=seed, grids=grids, districts=districts))
    out.mkdir(parents=True, exist_ok=True)
    (out / "grids.geojson").write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    (out / "directory.json").write_text(json.dumps(directory, ensure_ascii=False), encoding="utf-8")
    kinds = [f["properties"]["level"] for f in collection["features"]]
    typer.echo(f"{out}: {kinds.count('district')} districts, {kinds.count('street')} streets, "
               f"{kinds.count('community')} communities, {kinds.count('grid')} grids, "
               f"{len(directory['units'])} units, {len(directory['workers'])} workers")


if __name__ == "__main__":  # python -m deploy.demo.synthetic_city --grids 15000 --seed 7 --out .run/city
    typer.run(main)
