"""A city's year for bench/history.py, generated inside Postgres (INSERT ... SELECT over generate_series).

Case n (0 ≤ n < history + current) is a pure function of n: its id, time, grid, category, urgency, source,
texts and the whole lifecycle (assignment, 退单 and 改派, 签收, 办结, 返工, 核查, 结案, 回访, merge or
rejection) come from hashes of n, so the four services' databases, each filled on its own, tell the same story.
Cases 0 … history-1 fall in the twelve months before CURRENT_START (all finished: closed, visited, merged,
rejected); cases from history on fall in the current month up to NOW at the same daily rate, the youngest still
open. The young set of databases holds only the current month (the same rows); the loaded set holds both.

Places come from the 15,000-grid synthetic city (deploy/demo/synthetic_city.py, seed 7: 5 districts, 61 streets,
544 communities, 15,594 grids), cases picked by households; categories from intake's table with a city's mix.

Each database gets a scratch schema `bench_gen` (the city, the category mix, and one UNLOGGED row per case with
its derived attributes), dropped at the end. Bulk loading drops the tables' indexes and constraints first and
builds them again after (one sort per index instead of millions of inserts), so the indexes come out packed; a
database that lived its year would hold some bloat on top.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from bench.common import ROOT
from deploy.demo.synthetic_city import PLACE_HEAD, PLACE_TAIL, SURNAMES
from deploy.demo.synthetic_city import main as write_city

CITY = ROOT / ".run" / "city-15000-7"
# The year: 2025-11-01 … 2026-10-31 (Asia/Shanghai), then the current month up to NOW (Monday 16 November 2026,
# 10:00 in Shanghai): the live month the 红黑榜 is computed for, in its second half (October is frozen by then).
HISTORY_START = datetime(2025, 10, 31, 16, 0, tzinfo=UTC)
CURRENT_START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
YEAR_DAYS = 365
CURRENT_DAYS = 15.25  # 1 November 00:00 → 16 November 10:00 (cases arrive 06:00–22:00)


def current_cases(history: int) -> int:
    """How many cases the current month holds by NOW at the year's daily rate."""
    return int(history * CURRENT_DAYS / YEAR_DAYS)


# A city's mix of categories (weights), with the phrases residents use (titles; also what text search finds).
CATEGORY_MIX: dict[str, tuple[float, tuple[str, ...]]] = {
    "city.garbage": (12, ("暴露垃圾", "道路不洁", "垃圾桶满溢", "建筑垃圾乱倒")),
    "city.vending": (8, ("占道经营", "流动摊贩", "夜市油烟占道")),
    "city.ads": (6, ("小广告乱张贴", "电线杆乱张贴", "违规广告牌")),
    "city.illegal_building": (3, ("违法搭建", "私搭乱建彩钢房", "楼顶加盖")),
    "city.parking": (8, ("车辆乱停放", "占用消防通道停车", "共享单车乱停")),
    "city.greenery": (2, ("绿化带损毁", "毁绿种菜", "树木倒伏")),
    "infra.facility": (7, ("路灯不亮", "道路破损", "护栏损坏", "人行道砖松动")),
    "infra.manhole": (1, ("井盖缺失", "井盖破损")),
    "infra.drainage": (3, ("路面积水", "下水道堵塞", "雨水井冒水")),
    "infra.utility": (4, ("停水", "停电", "燃气中断", "暖气不热")),
    "safety.fire": (4, ("楼道堆放杂物", "飞线充电", "消防通道堵塞")),
    "safety.gas": (1, ("燃气泄漏", "闻到煤气味")),
    "safety.building": (1, ("危房", "墙体开裂")),
    "safety.workplace": (1, ("安全生产隐患", "工地无防护")),
    "safety.equipment": (1, ("电梯故障", "电梯困人")),
    "safety.food": (1, ("食品过期", "无证餐饮")),
    "safety.campus": (1, ("校门口车辆乱停", "学校周边摊贩")),
    "safety.rental": (2, ("出租房群租", "出租屋隐患")),
    "order.public": (2, ("聚众喧哗", "酒后滋事")),
    "dispute.neighbour": (6, ("楼上漏水", "邻里纠纷", "噪音扰民邻居")),
    "dispute.family": (2, ("家庭纠纷", "赡养纠纷")),
    "dispute.property": (4, ("物业不作为", "物业费纠纷", "电梯维修费纠纷")),
    "dispute.land": (1, ("宅基地纠纷", "土地承包纠纷")),
    "dispute.wages": (2, ("拖欠工资", "欠薪讨薪")),
    "dispute.demolition": (0.5, ("拆迁补偿纠纷",)),
    "dispute.medical": (0.5, ("医患纠纷",)),
    "dispute.consumer": (2, ("消费纠纷", "预付卡退费")),
    "env.noise": (6, ("噪声扰民", "夜间施工噪音", "广场舞噪音")),
    "env.pollution": (3, ("油烟扰民", "污水直排", "焚烧垃圾")),
    "service.assistance": (3, ("困难救助", "独居老人帮扶", "残疾人补贴")),
    "service.errand": (3, ("代办社保认证", "代办居住证")),
    "service.education": (1, ("入学咨询",)),
    "service.transport": (2, ("公交站牌损坏", "红绿灯故障")),
    "info.sentiment": (2, ("社情民意", "群众建议")),
    "emergency.event": (0.3, ("突发火情", "道路塌陷")),
    "triage.unknown": (0.5, ("其他问题",)),
}
COMPLAINTS = ("居民反映多次未解决", "请尽快处理", "影响居民出行", "存在安全隐患", "已持续一周", "夜间尤其严重",
              "老人小孩经过危险", "希望有关部门尽快处理", "周边群众意见很大", "请派人现场查看")
GIVEN_NAMES = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国红玉兰志文斌辉鹏飞宇浩然欣怡晨阳佳琪"
GRID_SLOTS = 65_536
CATEGORY_SLOTS = 1_024

# Tables each service's load writes, in the order they are filled (children after parents).
TABLES = {
    "intake": ("incident", "incident_text", "timeline_entry", "inbox"),
    "routing": ("routed_incident", "assignment", "inbox"),
    "supervision": ("supervised_case", "assignment_fact", "phase_clock", "verification_fact", "closure_fact",
                    "visit_fact", "clock_alert", "inbox"),
    "notifications": ("case_owner", "delivery", "alert", "hotline_case", "case_link", "inbox"),
}


# ---- the scratch schema: the city, the category mix, one row per case ------------------------------------------

def _city() -> tuple[list[tuple], list[tuple]]:
    """(grids, units) of the synthetic city, written under .run/ the first time (as bench/stack_e2e.py does)."""
    if not (CITY / "directory.json").exists():
        write_city(CITY, grids=15_000, seed=7)
    features = json.loads((CITY / "grids.geojson").read_text(encoding="utf-8"))["features"]
    directory = json.loads((CITY / "directory.json").read_text(encoding="utf-8"))
    names = {f["properties"]["code"]: f["properties"]["name"] for f in features}
    workers = {w["unit_id"]: w for w in directory["workers"]}
    grids = []
    for feature in features:
        p = feature["properties"]
        if p["level"] != "grid":
            continue
        ring = feature["geometry"]["coordinates"][0]
        if feature["geometry"]["type"] == "MultiPolygon":
            ring = ring[0]
        xs, ys = [c[0] for c in ring], [c[1] for c in ring]
        code = p["code"]
        worker = workers.get(f"grid-{code}") or {}
        grids.append((len(grids), code, p["name"], min(xs), min(ys), max(xs), max(ys),
                      int(p.get("households") or 150), names[code[:12]], names[code[:9]], names[code[:6]],
                      worker.get("id"), worker.get("name"), worker.get("phone")))
    units = [(u["id"], u["kind"], u["name"], u["area"][0] if u["area"] else None) for u in directory["units"]]
    return grids, units


def _slots(weights: list[float], count: int) -> list[int]:
    """`count` slots, each an index into `weights`, in proportion to them (a weighted pick is slot[hash % count])."""
    total = sum(weights)
    slots: list[int] = []
    cumulative = 0.0
    for index, weight in enumerate(weights):
        cumulative += weight
        while len(slots) < round(count * cumulative / total):
            slots.append(index)
    return slots


SCRATCH = """
DROP SCHEMA IF EXISTS bench_gen CASCADE;
CREATE SCHEMA bench_gen;
-- uniform in [0, 1) from (n, k): the same in every database
CREATE FUNCTION bench_gen.u(n bigint, k integer) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(n, k) >> 12) & 4503599627370495)::float8 / 4503599627370496.0 $$;
CREATE FUNCTION bench_gen.h(n bigint, k integer, m integer) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(n, k) >> 8) & 2147483647)::integer % m $$;
-- how late a phase ends, as a share of its limit: most well inside it, some in the yellow zone, 12 % late
CREATE FUNCTION bench_gen.f(n bigint, k integer) RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT CASE WHEN bench_gen.u(n, k) < 0.88 THEN 0.03 + 0.9 * power(bench_gen.u(n, k + 500), 1.6)
               ELSE 1 + 1.5 * power(bench_gen.u(n, k + 500), 1.3) END $$;
CREATE FUNCTION bench_gen.uuid(tag text, n bigint) RETURNS uuid LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT md5(tag || ':' || n)::uuid $$;
CREATE TABLE bench_gen.grid (idx integer PRIMARY KEY, code text, name text, x0 float8, y0 float8, x1 float8,
                             y1 float8, households integer, community_name text, street_name text,
                             district_name text, worker_id text, worker_name text, worker_phone text);
CREATE TABLE bench_gen.unit (id text PRIMARY KEY, kind text, name text, code text);
CREATE TABLE bench_gen.gslot (slot integer PRIMARY KEY, idx integer);
CREATE TABLE bench_gen.cat (code text PRIMARY KEY, name_zh text, default_owner text, default_urgency text,
                            phrases text[]);
CREATE TABLE bench_gen.cslot (slot integer PRIMARY KEY, code text);
"""

# Category names and defaults as intake's migration 0002 seeds them (not every database has the table).
CATEGORY_DEFAULTS = ROOT / "services" / "intake" / "migrations" / "0002_categories.sql"


def _categories() -> list[tuple[str, str, str, str]]:
    rows = re.findall(r"\('([a-z_.]+)', '([^']+)', '[^']*', '([^']+)', '([a-z]+)'\)",
                      CATEGORY_DEFAULTS.read_text(encoding="utf-8"))
    return [(code, name, owner, urgency) for code, name, owner, urgency in rows]


def _limits(phase: str, column: str) -> str:
    """SQL: a phase's limit by the case's urgency (migration 0001's default policies), as natural hours
    (a working day counted as 1.4 days), its amount and its unit."""
    table = {"sign": ((0.5, "hours"), (2, "hours"), (1, "working_days")),
             "handle": ((2, "hours"), (24, "hours"), (5, "working_days")),
             "verify": ((2, "hours"), (1, "working_days"), (2, "working_days"))}[phase]

    def hours(amount: float, unit: str) -> float:
        return amount if unit == "hours" else amount * 33.6

    index = {"h": 0, "amount": 1, "unit": 2}[column]
    values = [(hours(a, u), a, f"'{u}'")[index] for a, u in table]
    return (f"CASE urgency WHEN 'emergency' THEN {values[0]} WHEN 'urgent' THEN {values[1]} "
            f"ELSE {values[2]} END")


def cases_sql(lo: int, hi: int, history: int) -> str:
    """SQL creating bench_gen.cases: one row per case n in [lo, hi) with everything the tables are made of."""
    surnames = "".join(SURNAMES)
    road_heads, road_tails = PLACE_HEAD, PLACE_TAIL
    complaints = "ARRAY[" + ",".join(f"'{c}'" for c in COMPLAINTS) + "]"
    return f"""
CREATE UNLOGGED TABLE bench_gen.cases AS
WITH s AS (
    SELECT n, n * {YEAR_DAYS}.0 / {history} AS dayf FROM generate_series({lo}::bigint, {hi - 1}::bigint) AS n
), a AS (
    SELECT s.n, bench_gen.uuid('i', s.n) AS id,
           timestamptz '{HISTORY_START.isoformat()}' + floor(dayf) * interval '1 day'
             + (6 + 16 * (dayf - floor(dayf))) * interval '1 hour' AS received_at,
           g.code AS grid_code, g.name AS grid_name, g.community_name, g.street_name, g.district_name,
           g.worker_id AS grid_worker_id, g.worker_name AS grid_worker_name, g.worker_phone AS grid_worker_phone,
           round((g.x0 + (g.x1 - g.x0) * (0.02 + 0.96 * bench_gen.u(s.n, 5)))::numeric, 6)::float8 AS lon,
           round((g.y0 + (g.y1 - g.y0) * (0.02 + 0.96 * bench_gen.u(s.n, 6)))::numeric, 6)::float8 AS lat,
           c.code AS category, c.name_zh AS category_name, c.default_owner,
           CASE WHEN c.default_urgency = 'normal' AND bench_gen.u(s.n, 7) < 0.08 THEN 'urgent'
                WHEN c.default_urgency = 'urgent' AND bench_gen.u(s.n, 7) < 0.05 THEN 'emergency'
                ELSE c.default_urgency END AS urgency,
           c.phrases[1 + bench_gen.h(s.n, 8, cardinality(c.phrases))] AS phrase,
           CASE WHEN bench_gen.u(s.n, 9) < 0.5 THEN 'gridworker' WHEN bench_gen.u(s.n, 9) < 0.8 THEN 'hotline'
                WHEN bench_gen.u(s.n, 9) < 0.9 THEN 'public' ELSE 'patrol' END AS source,
           CASE WHEN s.n > {lo} AND bench_gen.u(s.n, 10) < 0.03 THEN 'merged'
                WHEN bench_gen.u(s.n, 10) < 0.045 THEN 'rejected' ELSE 'case' END AS kind,
           greatest({lo}, s.n - 1 - bench_gen.h(s.n, 11, 60)) AS master_n,
           bench_gen.u(s.n, 12) < 0.05 AS returned, bench_gen.u(s.n, 13) < 0.03 AS rework,
           bench_gen.u(s.n, 14) < 0.65 AS visited, bench_gen.u(s.n, 15) < 0.04 AS urged,
           bench_gen.u(s.n, 16) < 0.03 AS published,
           substr('{surnames}', 1 + bench_gen.h(s.n, 17, {len(surnames)}), 1)
             || substr('{GIVEN_NAMES}', 1 + bench_gen.h(s.n, 18, {len(GIVEN_NAMES)}), 1)
             || substr('{GIVEN_NAMES}', 1 + bench_gen.h(s.n, 19, {len(GIVEN_NAMES)}), 1) AS citizen,
           '1' || (3 + bench_gen.h(s.n, 20, 7)) || lpad(bench_gen.h(s.n, 21, 1000000000)::text, 9, '0') AS phone,
           substr('{road_heads}', 1 + bench_gen.h(s.n, 22, {len(road_heads)}), 1)
             || substr('{road_tails}', 1 + bench_gen.h(s.n, 23, {len(road_tails)}), 1) || '路'
             || (1 + bench_gen.h(s.n, 24, 300)) || '号' AS road,
           1 + bench_gen.h(s.n, 25, 30) AS building,
           ({complaints})[1 + bench_gen.h(s.n, 26, {len(COMPLAINTS)})] AS complaint,
           (ARRAY['complaint','request','consultation','report','suggestion'])[1 + bench_gen.h(s.n, 27, 5)] AS nature,
           bench_gen.u(s.n, 28) < 0.05 AS confidential,
           bench_gen.f(s.n, 30) AS f_sign0, bench_gen.f(s.n, 31) AS f_sign, bench_gen.f(s.n, 32) AS f_h1,
           bench_gen.f(s.n, 33) AS f_v1, bench_gen.f(s.n, 34) AS f_h2, bench_gen.f(s.n, 35) AS f_v2,
           bench_gen.u(s.n, 36) AS u_a, bench_gen.u(s.n, 37) AS u_b, bench_gen.u(s.n, 38) AS u_c,
           bench_gen.u(s.n, 39) AS u_d, bench_gen.u(s.n, 40) AS u_e
      FROM s
      JOIN bench_gen.gslot gs ON gs.slot = bench_gen.h(s.n, 1, {GRID_SLOTS})
      JOIN bench_gen.grid g ON g.idx = gs.idx
      JOIN bench_gen.cslot cs ON cs.slot = bench_gen.h(s.n, 2, {CATEGORY_SLOTS})
      JOIN bench_gen.cat c ON c.code = cs.code
), b AS (
    SELECT a.*,
           {_limits('sign', 'h')} AS sign_h, {_limits('sign', 'amount')} AS sign_amount,
           {_limits('sign', 'unit')} AS sign_unit,
           {_limits('handle', 'h')} AS handle_h, {_limits('handle', 'amount')} AS handle_amount,
           {_limits('handle', 'unit')} AS handle_unit,
           {_limits('verify', 'h')} AS verify_h, {_limits('verify', 'amount')} AS verify_amount,
           {_limits('verify', 'unit')} AS verify_unit,
           CASE WHEN default_owner = 'grid' THEN 'grid-' || grid_code
                WHEN default_owner = 'community' THEN 'community-' || left(grid_code, 12)
                WHEN default_owner = 'street' THEN 'street-' || left(grid_code, 9)
                WHEN default_owner = 'district' THEN 'district-' || left(grid_code, 6)
                ELSE 'dept-' || substr(default_owner, 6) || '-' || left(grid_code, 6) END AS first_unit_id,
           received_at + (2 + 58 * u_a) * interval '1 second' AS t_assign
      FROM a
), c AS (
    SELECT b.*,
           CASE WHEN returned THEN t_assign + sign_h * (0.1 + 0.5 * u_b) * interval '1 hour' END AS t_return,
           CASE WHEN returned THEN 'district-' || left(grid_code, 6) ELSE first_unit_id END AS unit_id
      FROM b
), d AS (
    SELECT c.*, coalesce(t_return + (0.2 + 4 * u_c) * interval '1 hour', t_assign) AS a0,
           CASE WHEN returned THEN t_return + (0.2 + 4 * u_c) * interval '1 hour' END AS t_reassign
      FROM c
), e AS (
    SELECT d.*, a0 + sign_h * f_sign * interval '1 hour' AS t_sign
      FROM d
), f AS (
    SELECT e.*, t_sign + handle_h * f_h1 * interval '1 hour' AS t_result1
      FROM e
), g AS (
    SELECT f.*, CASE WHEN rework THEN t_result1 + verify_h * f_v1 * interval '1 hour' END AS t_vfail
      FROM f
), h AS (
    SELECT g.*, coalesce(t_vfail + handle_h * f_h2 * interval '1 hour', t_result1) AS t_result
      FROM g
), i AS (
    SELECT h.*, t_result + verify_h * f_v2 * interval '1 hour' AS t_close
      FROM h
)
SELECT i.n, i.id, i.received_at, i.grid_code, i.grid_name, i.community_name, i.street_name, i.district_name,
       i.lon, i.lat, i.category, i.category_name, i.urgency, i.source, i.kind,
       CASE WHEN i.kind = 'merged' THEN bench_gen.uuid('i', i.master_n) END AS master_id,
       i.kind = 'case' AND i.returned AS returned, i.kind = 'case' AND i.rework AS rework,
       i.kind = 'case' AND i.visited AS visited, i.kind = 'case' AND i.urged AS urged,
       i.kind = 'case' AND i.published AND i.source <> 'public' AND NOT (i.source = 'hotline' AND i.confidential)
         AS published,
       i.phrase AS title,
       i.community_name || i.building || '号楼附近' || i.phrase || '，' || i.complaint AS description,
       i.district_name || i.street_name || i.road AS address,
       i.citizen, i.phone,
       CASE WHEN i.source = 'hotline' THEN 'ZB' || to_char(i.received_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
                                           || lpad(i.n::text, 8, '0') END AS order_no,
       CASE WHEN i.source = 'hotline' THEN i.nature END AS nature,
       i.source = 'hotline' AND i.confidential AS confidential,
       i.first_unit_id, fu.kind AS first_unit_kind, fu.name AS first_unit_name,
       i.unit_id, u.kind AS unit_kind, u.name AS unit_name,
       CASE WHEN u.kind = 'grid' THEN i.grid_worker_id END AS worker_id,
       CASE WHEN u.kind = 'grid' THEN i.grid_worker_name END AS worker_name,
       CASE WHEN u.kind = 'grid' THEN i.grid_worker_phone END AS worker_phone,
       i.sign_h, i.sign_amount, i.sign_unit, i.handle_h, i.handle_amount, i.handle_unit,
       i.verify_h, i.verify_amount, i.verify_unit,
       i.f_sign0, i.f_sign, i.f_h1, i.f_v1, i.f_h2, i.f_v2,
       -- the lifecycle of a case that was routed (a duplicate merged or a report rejected has none)
       CASE WHEN i.kind = 'case' THEN i.t_assign END AS t_assign,
       CASE WHEN i.kind = 'case' THEN i.t_return END AS t_return,
       CASE WHEN i.kind = 'case' THEN i.t_reassign END AS t_reassign,
       CASE WHEN i.kind = 'case' THEN i.a0 END AS a0, CASE WHEN i.kind = 'case' THEN i.t_sign END AS t_sign,
       CASE WHEN i.kind = 'case' THEN i.t_result1 END AS t_result1,
       CASE WHEN i.kind = 'case' THEN i.t_vfail END AS t_vfail,
       CASE WHEN i.kind = 'case' THEN i.t_result END AS t_result,
       CASE WHEN i.kind = 'case' THEN i.t_close END AS t_close,
       CASE WHEN i.kind = 'case' AND i.visited THEN i.t_close + (1 + 70 * i.u_d) * interval '1 hour' END AS t_visit,
       CASE i.kind WHEN 'merged' THEN i.received_at + (1 + 47 * i.u_e) * interval '1 hour'
                   WHEN 'rejected' THEN i.received_at + (0.2 + 4 * i.u_e) * interval '1 hour' END AS t_end,
       CASE WHEN i.u_d < 0.85 THEN 'yes' WHEN i.u_d < 0.93 THEN 'unreachable' WHEN i.u_d < 0.97 THEN 'refused'
            ELSE 'anonymous' END AS contacted,
       CASE WHEN i.u_e < 0.8 THEN 'yes' WHEN i.u_e < 0.92 THEN 'partly' ELSE 'no' END AS solved,
       CASE WHEN i.u_b < 0.7 THEN 'satisfied' WHEN i.u_b < 0.9 THEN 'basically' ELSE 'unsatisfied' END AS satisfied,
       i.u_c < 0.9 AS responded
  FROM i
  JOIN bench_gen.unit fu ON fu.id = i.first_unit_id
  JOIN bench_gen.unit u ON u.id = i.unit_id
 ORDER BY i.n;
ALTER TABLE bench_gen.cases ADD PRIMARY KEY (n);
"""


async def create_scratch(conn: asyncpg.Connection, lo: int, hi: int, history: int) -> None:
    grids, units = _city()
    await conn.execute(SCRATCH)
    await conn.copy_records_to_table("grid", schema_name="bench_gen", records=grids)
    await conn.copy_records_to_table("unit", schema_name="bench_gen", records=units)
    slots = _slots([g[7] for g in grids], GRID_SLOTS)
    await conn.copy_records_to_table("gslot", schema_name="bench_gen", records=list(enumerate(slots)))
    categories = _categories()
    mix = [(code, name, owner, urgency, list(CATEGORY_MIX[code][1])) for code, name, owner, urgency in categories]
    await conn.copy_records_to_table("cat", schema_name="bench_gen", records=mix)
    category_slots = _slots([CATEGORY_MIX[code][0] for code, *_ in categories], CATEGORY_SLOTS)
    await conn.copy_records_to_table("cslot", schema_name="bench_gen",
                                     records=[(slot, categories[i][0]) for slot, i in enumerate(category_slots)])
    await conn.execute("ANALYZE bench_gen.grid, bench_gen.unit, bench_gen.gslot, bench_gen.cat, bench_gen.cslot")
    await conn.execute(cases_sql(lo, hi, history))


# ---- light and level of a clock as of its end (or NOW): SQL over (start, stop, limit_h) -----------------------

def _clock_columns(start: str, stop: str, limit_h: str) -> str:
    """light, level, stopped_at, next_check_at, yellow_at, due_at, red_card_at, leader_at of a clock that ran from
    `start` to `stop` (still running at NOW if `stop` is later), yellow at 0.7 of its limit, red card half a limit
    after due, leader a limit after."""
    now = f"timestamptz '{NOW.isoformat()}'"
    share = f"(extract(epoch FROM least({stop}, {now}) - {start}) / 3600.0 / {limit_h})"
    return f"""
        CASE WHEN {share} >= 1 THEN 'red' WHEN {share} >= 0.7 THEN 'yellow' ELSE 'green' END AS light,
        CASE WHEN {share} >= 2 THEN 'leader' WHEN {share} >= 1.5 THEN 'red_card' WHEN {share} >= 1 THEN 'yellow_card'
             WHEN {share} >= 0.7 THEN 'reminder' ELSE 'none' END AS level,
        CASE WHEN {stop} <= {now} THEN {stop} END AS stopped_at,
        CASE WHEN {stop} > {now} THEN
             {start} + {limit_h} * interval '1 hour' * (CASE WHEN {share} < 0.7 THEN 0.7 WHEN {share} < 1 THEN 1
                                                              WHEN {share} < 1.5 THEN 1.5 WHEN {share} < 2 THEN 2 END)
        END AS next_check_at,
        {start} + {limit_h} * 0.7 * interval '1 hour' AS yellow_at,
        {start} + {limit_h} * interval '1 hour' AS due_at,
        {start} + {limit_h} * 1.5 * interval '1 hour' AS red_card_at,
        {start} + {limit_h} * 2 * interval '1 hour' AS leader_at"""


NOW_SQL = f"timestamptz '{NOW.isoformat()}'"


def intake_sql() -> list[str]:
    now = NOW_SQL
    status = f"""
        CASE WHEN kind = 'merged' THEN CASE WHEN t_end <= {now} THEN 'merged' ELSE 'received' END
             WHEN kind = 'rejected' THEN CASE WHEN t_end <= {now} THEN 'rejected' ELSE 'received' END
             WHEN t_visit <= {now} THEN 'visited'
             WHEN t_close <= {now} THEN 'closed'
             WHEN t_result <= {now} THEN 'pending_verification'
             WHEN t_vfail <= {now} THEN 'in_progress'
             WHEN t_result1 <= {now} THEN 'pending_verification'
             WHEN t_sign <= {now} THEN 'in_progress'
             WHEN t_reassign <= {now} THEN 'assigned'
             WHEN t_return <= {now} THEN 'returned'
             WHEN t_assign <= {now} THEN 'assigned'
             ELSE 'received' END"""
    owner = """jsonb_build_object('unit_id', unit_id, 'unit_kind', unit_kind, 'unit_name', unit_name,
                                  'worker_id', worker_id, 'worker_name', worker_name, 'worker_phone', worker_phone)"""
    assigned = ("jsonb_build_object('unit', first_unit_id, 'unit_name', first_unit_name, 'worker', worker_id, "
                "'reason', 'located by coordinates in grid ' || grid_code || ' ' || grid_name)")
    events = f"""
        (1, received_at, 'received', source, jsonb_build_object('source', source), true),
        (2, t_assign, 'assigned', 'routing', {assigned}, kind = 'case'),
        (3, t_return, 'return', first_unit_id, jsonb_build_object('kind', 'not_our_duty', 'unit', first_unit_id,
                                                                  'count', 1, 'reason', '非本单位职责'), returned),
        (4, t_reassign, 'reassigned', 'routing', jsonb_build_object('unit', unit_id, 'unit_name', unit_name,
                                                                    'reason', '退单后改派属地兜底'), returned),
        (5, t_sign, 'sign', coalesce(worker_id, unit_id), jsonb_build_object('unit', unit_id), kind = 'case'),
        (6, t_result1, 'submit_result', coalesce(worker_id, unit_id),
            jsonb_build_object('result', '已现场处置，拍照留档'), kind = 'case'),
        (7, t_vfail, 'verify', 'centre', jsonb_build_object('note', '现场核查未通过', 'passed', false), rework),
        (8, t_result, 'submit_result', coalesce(worker_id, unit_id),
            jsonb_build_object('result', '已返工整改完毕'), rework),
        (9, t_close, 'verify', 'centre', jsonb_build_object('note', '现场核查', 'passed', true), kind = 'case'),
        (10, t_close, 'close', 'centre', '{{}}'::jsonb, kind = 'case'),
        (11, t_visit, 'visit', 'centre', jsonb_build_object('contacted', contacted, 'solved', solved,
                                                            'satisfied', satisfied, 'responded', responded), visited),
        (12, t_end, 'merge', 'centre', jsonb_build_object('into', master_id), kind = 'merged'),
        (13, t_end, 'reject', 'centre', jsonb_build_object('reason', '不属于受理范围'), kind = 'rejected')"""
    return [f"""
INSERT INTO incident (id, source, category, urgency, title, description, lon, lat, address, grid_code, reporter,
                      attachments, reported_at, received_at, status, owner, co_owners, version, updated_at,
                      return_count, signed_at, closed_at, merged_into, duplicate_of, hotline_order_no, deadline,
                      visit, hotline, published_at, public_reply)
SELECT id, source, category, urgency, title, description, lon, lat,
       CASE WHEN source IN ('hotline', 'public') THEN address END, grid_code,
       CASE WHEN source IN ('hotline', 'public') THEN jsonb_build_object('name', citizen, 'phone', phone) END,
       '[]', received_at, received_at, status,
       CASE WHEN kind = 'case' AND t_assign <= {now} THEN {owner} END, '[]',
       1 + (SELECT count(*) FROM (VALUES {events}) AS e(seq, at, action, actor, detail, present)
             WHERE present AND at <= {now} AND seq > 1),
       (SELECT max(at) FROM (VALUES {events}) AS e(seq, at, action, actor, detail, present)
         WHERE present AND at <= {now}),
       CASE WHEN t_return <= {now} THEN 1 ELSE 0 END,
       CASE WHEN t_sign <= {now} THEN t_sign END, CASE WHEN t_close <= {now} THEN t_close END,
       CASE WHEN kind = 'merged' AND t_end <= {now} THEN master_id END, master_id, order_no, NULL,
       CASE WHEN t_visit <= {now} THEN jsonb_build_object('contacted', contacted, 'solved', solved,
                                                          'satisfied', satisfied, 'responded', responded) END,
       CASE WHEN order_no IS NOT NULL THEN jsonb_build_object('order_no', order_no, 'nature', nature,
                                                              'channel', 'phone', 'confidential', confidential) END,
       CASE WHEN published AND t_close <= {now} THEN t_close + interval '1 day' END,
       CASE WHEN published AND t_close <= {now} THEN '已处理完毕，感谢您的反映' END
  FROM (SELECT *, {status} AS status FROM bench_gen.cases) AS c""", """
INSERT INTO incident_text (incident_id, received_at, body)
SELECT id, received_at,
       title || ' ' || description || ' ' || coalesce(CASE WHEN source IN ('hotline', 'public') THEN address END, '')
  FROM bench_gen.cases""", f"""
INSERT INTO timeline_entry (incident_id, at, action, actor, detail)
SELECT c.id, e.at, e.action, e.actor, e.detail
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES {events}) AS e(seq, at, action, actor, detail, present)
 WHERE e.present AND e.at <= {now}""", f"""
INSERT INTO inbox (consumer, event_id, processed_at)
SELECT 'intake', bench_gen.uuid('r' || e.k, c.n), e.at + interval '2 seconds'
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES (1, t_assign, kind = 'case'), (2, t_reassign, returned)) AS e(k, at, present)
 WHERE e.present AND e.at <= {now}"""]


def routing_sql() -> list[str]:
    now = NOW_SQL
    return [f"""
INSERT INTO routed_incident (incident_id, category, urgency, lon, lat, address, grid_code, current_unit_id,
                             received_at, place_code, co_owners, closed_at)
SELECT id, category, urgency, lon, lat, CASE WHEN source IN ('hotline', 'public') THEN address END, NULL,
       CASE WHEN t_reassign <= {now} THEN unit_id ELSE first_unit_id END, received_at, grid_code, '[]',
       CASE WHEN t_close <= {now} THEN t_close END
  FROM bench_gen.cases WHERE kind = 'case' AND t_assign <= {now}""", f"""
INSERT INTO assignment (incident_id, at, kind, unit_id, worker_id, grid_code, place_code, reason)
SELECT c.id, e.at, e.kind, e.unit, e.worker, c.grid_code, c.grid_code, e.reason
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES
       (1, t_assign, 'assigned', first_unit_id, CASE WHEN first_unit_kind = 'grid' THEN worker_id END,
        'located by coordinates in grid ' || grid_code || ' ' || grid_name, kind = 'case'),
       (2, t_reassign, 'reassigned', unit_id, NULL::text, '退单后改派属地兜底: ' || unit_name, returned))
       AS e(seq, at, kind, unit, worker, reason, present)
 WHERE e.present AND e.at <= {now}""", f"""
INSERT INTO inbox (consumer, event_id, processed_at)
SELECT 'routing', bench_gen.uuid('i' || e.k, c.n), e.at + interval '1 second'
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES (1, received_at, true), (2, t_return, returned), (3, t_close, kind = 'case'),
                            (4, t_end, kind <> 'case')) AS e(k, at, present)
 WHERE e.present AND e.at <= {now}"""]


def supervision_sql() -> list[str]:
    now = NOW_SQL
    clocks = """
        (0, 'sign', 1, t_assign, t_return, 'returned', 'assigned', sign_h, sign_amount, sign_unit, returned),
        (1, 'sign', CASE WHEN returned THEN 2 ELSE 1 END, a0, t_sign, 'signed',
            CASE WHEN returned THEN 'reassigned' ELSE 'assigned' END, sign_h, sign_amount, sign_unit, true),
        (2, 'handle', 1, t_sign, t_result1, 'result_submitted', 'signed', handle_h, handle_amount, handle_unit, true),
        (3, 'verify', 1, t_result1, coalesce(t_vfail, t_close), CASE WHEN rework THEN 'verify_failed' ELSE 'closed' END,
            'result_submitted', verify_h, verify_amount, verify_unit, true),
        (4, 'handle', 2, t_vfail, t_result, 'result_submitted', 'rework', handle_h, handle_amount, handle_unit, rework),
        (5, 'verify', 2, t_result, t_close, 'closed', 'result_submitted', verify_h, verify_amount, verify_unit, rework)
    """
    final_assignment = "c.n * 2 + CASE WHEN c.returned THEN 1 ELSE 0 END"
    return [f"""
INSERT INTO supervised_case (incident_id, category, urgency, grid_code, unit_id, signed, deadline, updated_at,
                             assignment_id, hotline, signed_unit_id, signed_at, assigned_at, nature)
SELECT id, category, urgency, grid_code,
       CASE WHEN t_reassign <= {now} THEN unit_id WHEN t_assign <= {now} THEN first_unit_id END,
       coalesce(t_sign <= {now}, false), NULL, received_at,
       CASE WHEN t_reassign <= {now} THEN n * 2 + 1 WHEN t_assign <= {now} THEN n * 2 END, order_no IS NOT NULL,
       CASE WHEN t_sign <= {now} THEN unit_id END, CASE WHEN t_sign <= {now} THEN t_sign END,
       CASE WHEN t_reassign <= {now} THEN t_reassign WHEN t_assign <= {now} THEN t_assign END, nature
  FROM bench_gen.cases c""", f"""
INSERT INTO assignment_fact (id, incident_id, unit_id, unit_name, unit_kind, grid_code, community_code, street_code,
                             district_code, assigned_at, reassigned, returned_at, urge_count, first_urged_at)
SELECT c.n * 2 + e.k, c.id, e.unit, e.unit_name, e.unit_kind, c.grid_code, left(c.grid_code, 12),
       left(c.grid_code, 9), left(c.grid_code, 6), e.at, e.k = 1,
       CASE WHEN e.returned_at <= {now} THEN e.returned_at END,
       CASE WHEN c.urged AND e.urged_at <= {now} THEN 1 ELSE 0 END,
       CASE WHEN c.urged AND e.urged_at <= {now} THEN e.urged_at END
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES
       (0, t_assign, first_unit_id, first_unit_name, first_unit_kind, t_return,
        CASE WHEN NOT returned THEN t_sign + (t_result1 - t_sign) * 0.6 END, kind = 'case'),
       (1, t_reassign, unit_id, unit_name, unit_kind, NULL, t_sign + (t_result1 - t_sign) * 0.6, returned))
       AS e(k, at, unit, unit_name, unit_kind, returned_at, urged_at, present)
 WHERE e.present AND e.at <= {now}""", f"""
INSERT INTO phase_clock (id, incident_id, phase, cycle, category, urgency, grid_code, unit_id, started_at,
                         limit_amount, limit_unit, yellow_ratio, due_version, yellow_at, due_at, red_card_at,
                         leader_at, light, level, stopped_at, next_check_at, paused_at, extension_amount,
                         assignment_id, started_by, stop_reason, due_fixed, start_level, counted_from, nature)
SELECT c.n * 8 + k.k, c.id, k.phase, k.cycle, c.category, c.urgency, c.grid_code,
       CASE WHEN k.k = 0 THEN c.first_unit_id ELSE c.unit_id END, k.start, k.amount, k.unit, 0.7, 1,
       t.yellow_at, t.due_at, t.red_card_at, t.leader_at, t.light, t.level, t.stopped_at, t.next_check_at, NULL, 0,
       CASE WHEN k.k = 0 THEN c.n * 2 ELSE {final_assignment} END, k.started_by,
       CASE WHEN t.stopped_at IS NOT NULL THEN k.stop_reason END, false, 'none', k.start, c.nature
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES {clocks}) AS k(k, phase, cycle, start, stop, stop_reason, started_by, limit_h, amount,
                                           unit, present)
 CROSS JOIN LATERAL (SELECT {_clock_columns('k.start', 'k.stop', 'k.limit_h')}) AS t
 WHERE c.kind = 'case' AND k.present AND k.start <= {now}""", f"""
INSERT INTO verification_fact (incident_id, assignment_id, handle_clock_id, verified_at, passed)
SELECT c.id, {final_assignment}, c.n * 8 + e.clock, e.at, e.passed
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES (2, t_vfail, false, rework), (CASE WHEN rework THEN 4 ELSE 2 END, t_close, true,
                                                          kind = 'case')) AS e(clock, at, passed, present)
 WHERE e.present AND e.at <= {now}""", f"""
INSERT INTO closure_fact (incident_id, assignment_id, closed_at)
SELECT c.id, {final_assignment}, t_close FROM bench_gen.cases c WHERE kind = 'case' AND t_close <= {now}""", f"""
INSERT INTO visit_fact (incident_id, assignment_id, visited_at, contacted, responded, solved, satisfied)
SELECT c.id, {final_assignment}, t_visit, contacted, CASE WHEN contacted = 'yes' THEN responded END,
       CASE WHEN contacted = 'yes' THEN solved END, CASE WHEN contacted = 'yes' THEN satisfied END
  FROM bench_gen.cases c WHERE visited AND t_visit <= {now}""", f"""
-- The relay purges sent alerts after a day: only the last day's light changes are still here.
INSERT INTO clock_alert (clock_id, at, due_at, due_version, light_before, level_before, steps, created_at, sent_at)
SELECT id, yellow_at, due_at, 1, 'green', 'none',
       CASE WHEN light = 'red' THEN ARRAY['yellow', 'reminder', 'red', 'yellow_card']
            ELSE ARRAY['yellow', 'reminder'] END,
       yellow_at, yellow_at + interval '1 second'
  FROM phase_clock
 WHERE light <> 'green' AND yellow_at > {now} - interval '1 day' AND yellow_at <= {now}
 ORDER BY yellow_at""", """
INSERT INTO unit_name (kind, key, name, seen_at)
SELECT 'unit', id, name, timestamptz '2025-01-01' FROM bench_gen.unit
UNION ALL
SELECT kind, code, name, timestamptz '2025-01-01' FROM bench_gen.unit
 WHERE kind IN ('grid', 'community', 'street', 'district') AND code IS NOT NULL
ON CONFLICT DO NOTHING""", f"""
INSERT INTO inbox (consumer, event_id, processed_at)
SELECT 'supervision', bench_gen.uuid('s' || e.k, c.n), e.at + interval '2 seconds'
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES (1, received_at, true), (2, t_assign, kind = 'case'), (3, t_return, returned),
                            (4, t_reassign, returned), (5, t_sign, kind = 'case'), (6, t_result1, kind = 'case'),
                            (7, t_vfail, rework), (8, t_result, rework), (9, t_close, kind = 'case'),
                            (10, t_close, kind = 'case'), (11, t_visit, visited), (12, t_end, kind <> 'case'))
       AS e(k, at, present)
 WHERE e.present AND e.at <= {now}""", """
SELECT setval('phase_clock_id_seq', greatest(1, (SELECT max(id) FROM phase_clock)));
SELECT setval('assignment_fact_id_seq', greatest(1, (SELECT max(id) FROM assignment_fact)))"""]


def notifications_sql() -> list[str]:
    now = NOW_SQL
    ref = "left(c.id::text, 8)"
    deliveries = f"""
        (1, 'routing.incident.assigned', 'sms',
         coalesce('worker:' || c.worker_id, 'contact:' || c.unit_id || ':liaison'),
         coalesce(c.worker_phone, '139' || lpad(bench_gen.h(c.n, 60, 100000000)::text, 8, '0')),
         '【网格督办】新案件' || {ref} || '（' || c.category_name || '，' || c.urgency || '）已派至' || c.unit_name
           || '，请及时签收。', '新案件' || {ref}, c.t_assign + interval '2 seconds', c.kind = 'case'),
        (2, 'supervision.light.changed', 'sms',
         coalesce('worker:' || c.worker_id, 'contact:' || c.unit_id || ':liaison'),
         coalesce(c.worker_phone, '139' || lpad(bench_gen.h(c.n, 60, 100000000)::text, 8, '0')),
         '【网格督办】案件' || {ref} || '（' || c.category_name || '）办理即将超时亮黄灯，请于时限前处理。',
         '案件' || {ref} || '办理黄灯', c.t_sign + (c.t_result1 - c.t_sign) * (0.7 / c.f_h1),
         c.kind = 'case' AND c.f_h1 >= 0.7),
        (3, 'supervision.escalation.raised', 'sms', 'contact:' || left(c.grid_code, 6) || ':leader',
         '137' || lpad(bench_gen.h(c.n, 61, 100000000)::text, 8, '0'),
         '【网格督办】黄牌督办：案件' || {ref} || '（' || c.category_name || '）办理时限已过，请督促责任单位限时办理。',
         '黄牌督办' || {ref}, c.t_sign + (c.t_result1 - c.t_sign) * (1 / c.f_h1), c.kind = 'case' AND c.f_h1 >= 1),
        (4, 'intake.incident.received', 'webhook', 'hotline', 'http://12345.example/callback',
         '{{"order_no":"' || c.order_no || '","status":"accepted","incident_id":"' || c.id || '"}}', NULL,
         c.received_at + interval '1 second', c.order_no IS NOT NULL),
        (5, 'intake.incident.signed', 'webhook', 'hotline', 'http://12345.example/callback',
         '{{"order_no":"' || c.order_no || '","status":"signed","unit":"' || c.unit_name || '"}}', NULL,
         c.t_sign + interval '1 second', c.order_no IS NOT NULL AND c.kind = 'case'),
        (6, 'intake.incident.result_submitted', 'webhook', 'hotline', 'http://12345.example/callback',
         '{{"order_no":"' || c.order_no || '","status":"result","result":"已现场处置，拍照留档"}}', NULL,
         c.t_result + interval '1 second', c.order_no IS NOT NULL AND c.kind = 'case'),
        (7, 'intake.incident.closed', 'webhook', 'hotline', 'http://12345.example/callback',
         '{{"order_no":"' || c.order_no || '","status":"closed"}}', NULL, c.t_close + interval '1 second',
         c.order_no IS NOT NULL AND c.kind = 'case')"""
    assigned_payload = """jsonb_build_object(
        'at', c.t_assign, 'incident_id', c.id, 'category', c.category, 'urgency', c.urgency,
        'grid_code', c.grid_code, 'community_code', left(c.grid_code, 12), 'street_code', left(c.grid_code, 9),
        'district_code', left(c.grid_code, 6),
        'owner', jsonb_build_object('unit_id', c.first_unit_id, 'unit_kind', c.first_unit_kind,
                                    'unit_name', c.first_unit_name, 'worker_id', c.worker_id,
                                    'worker_name', c.worker_name, 'worker_phone', c.worker_phone),
        'co_owners', '[]'::jsonb, 'reason', 'located by coordinates in grid ' || c.grid_code || ' ' || c.grid_name)"""
    light_payload = """jsonb_build_object(
        'at', e.at, 'incident_id', c.id, 'phase', 'handle', 'light', e.light, 'previous_light', 'green',
        'category', c.category, 'urgency', c.urgency, 'grid_code', c.grid_code, 'unit_id', c.unit_id,
        'due_at', c.t_sign + c.handle_h * interval '1 hour', 'due_version', 1)"""
    return [f"""
INSERT INTO case_owner (incident_id, unit_id, unit_name, worker_id, worker_name, worker_phone, grid_code, category,
                        urgency, updated_at, unit_kind)
SELECT id, unit_id, unit_name, worker_id, worker_name, worker_phone, grid_code, category, urgency,
       coalesce(t_reassign, t_assign), unit_kind
  FROM bench_gen.cases WHERE kind = 'case' AND t_assign <= {now}""", f"""
INSERT INTO delivery (id, event_id, event_type, incident_id, channel, recipient, address, body, urgent, status,
                      attempts, next_attempt_at, created_at, sent_at, summary)
SELECT bench_gen.uuid('d' || e.k, c.n), bench_gen.uuid('e' || e.k, c.n), e.event_type, c.id, e.channel,
       e.recipient, e.address, e.body, c.urgency <> 'normal', 'sent', 1, e.at + interval '1 second', e.at,
       e.at + interval '1 second', e.summary
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES {deliveries}) AS e(k, event_type, channel, recipient, address, body, summary, at,
                                              present)
 WHERE e.present AND e.at <= {now}""", f"""
INSERT INTO alert (event_id, event_type, incident_id, grid_code, payload, created_at)
SELECT bench_gen.uuid('e' || e.k, c.n), e.event_type, c.id, c.grid_code,
       CASE WHEN e.k = 1 THEN {assigned_payload} ELSE {light_payload} END, e.at + interval '2 seconds'
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES
       (1, 'routing.incident.assigned', c.t_assign, NULL, c.kind = 'case'),
       (2, 'supervision.light.changed', c.t_sign + (c.t_result1 - c.t_sign) * (0.7 / c.f_h1), 'yellow',
        c.kind = 'case' AND c.f_h1 >= 0.7),
       (8, 'supervision.light.changed', c.t_sign + (c.t_result1 - c.t_sign) * (1 / c.f_h1), 'red',
        c.kind = 'case' AND c.f_h1 >= 1)) AS e(k, event_type, at, light, present)
 WHERE e.present AND e.at <= {now}""", f"""
INSERT INTO hotline_case (incident_id, order_no, signed_sent)
SELECT id, order_no, coalesce(t_sign <= {now}, false) FROM bench_gen.cases WHERE order_no IS NOT NULL""", """
INSERT INTO case_link (incident_id, master_id, linked_at)
SELECT id, master_id, received_at FROM bench_gen.cases WHERE kind = 'merged'""", """
-- A desk for every community (the liaison takes a case's notice when the grid's worker is off duty) and a head
-- and supervisor for every district: as bench/stack_e2e.py sets them up.
INSERT INTO contact (unit_code, name, liaison, leader, supervisor)
SELECT code, name,
       jsonb_build_object('name', '社区联络员',
                          'phone', '139' || lpad(row_number() OVER (ORDER BY code)::text, 8, '0')),
       NULL, NULL
  FROM bench_gen.unit WHERE kind = 'community'
UNION ALL
SELECT code, name, NULL, jsonb_build_object('name', '区负责人', 'phone', '13700000' || right(code, 3)),
       jsonb_build_object('name', '分管领导', 'phone', '13600000' || right(code, 3))
  FROM bench_gen.unit WHERE kind = 'district'
ON CONFLICT DO NOTHING""", f"""
INSERT INTO inbox (consumer, event_id, processed_at)
SELECT 'notifications', bench_gen.uuid('n' || e.k, c.n), e.at + interval '3 seconds'
  FROM bench_gen.cases c
 CROSS JOIN LATERAL (VALUES (1, received_at, true), (2, t_assign, kind = 'case'), (3, t_return, returned),
                            (4, t_reassign, returned), (5, t_sign, kind = 'case'), (6, t_result1, kind = 'case'),
                            (7, t_vfail, rework), (8, t_result, rework), (9, t_close, kind = 'case'),
                            (10, t_close, kind = 'case'), (11, t_visit, visited), (12, t_end, kind <> 'case'),
                            (13, t_sign + (t_result1 - t_sign) * (0.7 / f_h1), kind = 'case' AND f_h1 >= 0.7),
                            (14, t_sign + (t_result1 - t_sign) * (0.7 / f_h1), kind = 'case' AND f_h1 >= 0.7))
       AS e(k, at, present)
 WHERE e.present AND e.at <= {now}"""]


SQL = {"intake": intake_sql, "routing": routing_sql, "supervision": supervision_sql,
       "notifications": notifications_sql}


# ---- bulk loading: indexes and constraints off, rows in, indexes and constraints back ---------------------------

async def strip_for_load(conn: asyncpg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' foreign keys, then their other constraints and indexes, and turn their triggers off;
    returns the statements that put every one of them back (constraints through their own definitions, indexes
    through theirs). The triggers (supervision's: a NOTIFY to the ticker of each clock due sooner, migration 0013)
    serve a running service, and none runs against a database being loaded; one notification per row would make
    the load's commit crawl."""
    names = list(tables)
    fks = await conn.fetch(
        """SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
            WHERE contype = 'f' AND (conrelid::regclass::text = ANY($1) OR confrelid::regclass::text = ANY($1))""",
        names)
    keys = await conn.fetch(
        """SELECT conrelid::regclass::text AS tab, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
            WHERE contype IN ('p', 'u') AND conrelid::regclass::text = ANY($1)""", names)
    indexes = await conn.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
            WHERE i.indrelid::regclass::text = ANY($1)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", names)
    for fk in fks:
        await conn.execute(f'ALTER TABLE {fk["tab"]} DROP CONSTRAINT "{fk["conname"]}"')
    for key in keys:
        await conn.execute(f'ALTER TABLE {key["tab"]} DROP CONSTRAINT "{key["conname"]}"')
    for index in indexes:
        await conn.execute(f"DROP INDEX {index['name']}")
    for table in names:
        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    return ([f'ALTER TABLE {k["tab"]} ADD CONSTRAINT "{k["conname"]}" {k["def"]}' for k in keys]
            + [i["def"] for i in indexes]
            + [f'ALTER TABLE {fk["tab"]} ADD CONSTRAINT "{fk["conname"]}" {fk["def"]}' for fk in fks]
            + [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in names])


async def fill(dsn: str, service: str, lo: int, hi: int, history: int,
               say: Callable[[str], None] = print) -> dict[str, float]:
    """Fill one service's database with cases [lo, hi); returns seconds by step."""
    conn = await asyncpg.connect(dsn, command_timeout=None)
    spent: dict[str, float] = {}

    async def step(name: str, work: Awaitable[object]) -> None:
        started = time.perf_counter()
        await work
        spent[name] = round(time.perf_counter() - started, 1)
        say(f"  {service}: {name} {spent[name]:.0f} s")

    try:
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB';"
                           " SET work_mem = '64MB'; SET max_parallel_maintenance_workers = 0")
        await step("scratch", create_scratch(conn, lo, hi, history))
        restore = await strip_for_load(conn, TABLES[service])
        for n, statement in enumerate(SQL[service]()):
            await step(f"rows {n + 1}", conn.execute(statement))
        for statement in restore:
            await step(statement.split(" ON ")[0][:60] if statement.startswith("CREATE") else statement[:60],
                       conn.execute(statement))
        await conn.execute("DROP SCHEMA bench_gen CASCADE")
        await step("vacuum analyze", conn.execute("VACUUM (ANALYZE)"))
    finally:
        await conn.close()
    return spent


async def database_bytes(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


__all__ = ["CURRENT_START", "HISTORY_START", "NOW", "SQL", "TABLES", "current_cases", "database_bytes", "fill",
           "strip_for_load"]
