"""Case search by text (`q`) and by a community's code, on intake's API against a real Postgres (migration
0015's trigram index over incident_text and 0014's community indexes in place): what it finds, what it does not,
and within whose area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from tests.integration.test_intake_api import ADMIN, REPORT, token

COMMUNITY = "320508019044"
NEIGHBOUR = "320508019045"  # the same street, the next community
STREET_SUPERVISOR = token("street", "supervisor", ["320508019"])
OTHER_STREET = token("other", "supervisor", ["320508020"])


async def report(intake, grid: str, title: str, *, description: str = "", address: str | None = None,
                 lon: float = 120.61) -> str:
    body = {**REPORT, "title": title, "description": description, "address": address, "grid_code": grid,
            "location": {"lon": lon, "lat": 31.31}}
    response = await intake.post("/v1/incidents", json=body, headers=ADMIN)
    assert response.status_code == 202, response.text
    return response.json()["id"]


async def found(intake, headers=ADMIN, **params) -> set[str]:
    response = await intake.get("/v1/incidents", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


async def test_text_finds_title_description_address_case_insensitively_and_a_whole_order_number(intake):
    by_title = await report(intake, f"{COMMUNITY}001", "楼道飞线充电 Ebike", lon=120.601)
    by_description = await report(intake, f"{COMMUNITY}002", "消防隐患", description="三楼有人飞线充电", lon=120.602)
    by_address = await report(intake, f"{NEIGHBOUR}001", "垃圾满溢", address="中苑路12号 B座", lon=120.603)
    by_order = await report(intake, f"{NEIGHBOUR}002", "噪声扰民", lon=120.604)
    await report(intake, f"{NEIGHBOUR}003", "路灯不亮", description="晚上很黑", address="东园路3号", lon=120.605)
    conn = await asyncpg.connect(intake.dsn)
    try:
        await conn.execute("UPDATE incident SET hotline_order_no = 'GD20261116000123' WHERE id = $1", by_order)
    finally:
        await conn.close()

    assert await found(intake, q="飞线充电") == {by_title, by_description}
    assert await found(intake, q="ebIKE") == {by_title}
    assert await found(intake, q="中苑路") == {by_address}
    assert await found(intake, q="b座") == {by_address}
    assert await found(intake, q="GD20261116000123") == {by_order}
    assert await found(intake, q=" GD20261116000123 ") == {by_order}   # as pasted, spaces around it
    assert await found(intake, q="20261116000123") == set()   # the order number is matched whole
    assert await found(intake, q="没有这种事") == set()
    # with the other filters: the same text in one community only
    assert await found(intake, q="飞线充电", grid_prefix=f"{COMMUNITY}002") == {by_description}
    # the index behind it is the one the query spells
    conn = await asyncpg.connect(intake.dsn)
    try:
        await conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT incident_id FROM incident_text WHERE body ILIKE '%飞线充电%'"))
    finally:
        await conn.close()
    assert "incident_text_body" in plan
    # and not on the incident row, which every step of a case rewrites (all its trigrams again each time)
    conn = await asyncpg.connect(intake.dsn)
    try:
        on_incident = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE tablename = 'incident'"
                                          " AND indexdef LIKE '%USING gin%'")
    finally:
        await conn.close()
    assert on_incident == 0


async def test_percent_and_underscore_in_the_text_are_taken_literally(intake):
    percent = await report(intake, f"{COMMUNITY}001", "水费上涨50%", lon=120.611)
    underscore = await report(intake, f"{COMMUNITY}001", "门牌A_3脱落", lon=120.612)
    backslash = await report(intake, f"{COMMUNITY}001", "路径C:\\temp", lon=120.613)
    plain = await report(intake, f"{COMMUNITY}001", "水费上涨500元 门牌AB3脱落", lon=120.614)
    assert await found(intake, q="50%") == {percent}
    assert await found(intake, q="%") == {percent}
    assert await found(intake, q="A_3") == {underscore}
    assert await found(intake, q="_") == {underscore}
    assert await found(intake, q="C:\\temp") == {backslash}
    assert plain not in await found(intake, q="上涨50%")


async def test_text_search_keeps_to_the_callers_area(intake):
    mine = await report(intake, f"{COMMUNITY}001", "井盖缺失", lon=120.621)
    elsewhere = await report(intake, "320508020001001", "井盖缺失", lon=120.622)
    assert await found(intake, q="井盖缺失") == {mine, elsewhere}
    assert await found(intake, STREET_SUPERVISOR, q="井盖缺失") == {mine}
    assert await found(intake, OTHER_STREET, q="井盖缺失") == {elsewhere}
    assert await found(intake, token("far", "supervisor", ["310101"]), q="井盖") == set()
    # a prefix wider than the caller's area narrows to it; one outside it finds nothing, with or without text
    assert await found(intake, STREET_SUPERVISOR, q="井盖缺失", grid_prefix="320508") == {mine}
    assert await found(intake, STREET_SUPERVISOR, grid_prefix="320508") == {mine}
    assert await found(intake, STREET_SUPERVISOR, grid_prefix=COMMUNITY) == {mine}
    assert await found(intake, STREET_SUPERVISOR, q="井盖缺失", grid_prefix="320508020") == set()
    assert await found(intake, STREET_SUPERVISOR, grid_prefix="320508020001001") == set()
    two_streets = token("two", "supervisor", ["320508019", "320508020"])
    assert await found(intake, two_streets, q="井盖缺失") == {mine, elsewhere}
    assert await found(intake, two_streets, grid_prefix="320508020") == {elsewhere}


async def test_text_with_a_queue_is_a_422_problem(intake):
    response = await intake.get("/v1/incidents", params={"queue": "unplaced", "q": "井盖"}, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["query.queue"]
    too_long = await intake.get("/v1/incidents", params={"q": "x" * 101}, headers=ADMIN)
    assert too_long.status_code == 422


async def test_a_communitys_code_lists_exactly_its_cases_newest_first_page_by_page(intake):
    ours = [await report(intake, f"{COMMUNITY}{grid:03d}", f"案件{n}", lon=120.63 + n / 1000)
            for n, grid in enumerate((1, 2, 3, 1, 2))]
    theirs = [await report(intake, f"{NEIGHBOUR}{grid:03d}", f"邻居{n}", lon=120.64 + n / 1000)
              for n, grid in enumerate((1, 2))]
    await report(intake, "320508020001001", "别的街道", lon=120.65)
    assert await found(intake, grid_prefix=COMMUNITY) == set(ours)
    assert await found(intake, grid_prefix=NEIGHBOUR) == set(theirs)
    assert await found(intake, grid_prefix="320508019") == set(ours) | set(theirs)   # a street's, as before
    assert await found(intake, grid_prefix=f"{COMMUNITY}0") == set(ours)            # 13 digits: a prefix, as before
    # keyset pages of two, newest first, over the community's cases only
    seen: list[str] = []
    cursor = None
    while True:
        params = {"grid_prefix": COMMUNITY, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await intake.get("/v1/incidents", params=params, headers=ADMIN)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ours))
    # a street supervisor asking for a community outside the street sees none of it
    assert await found(intake, OTHER_STREET, grid_prefix=COMMUNITY) == set()


async def test_text_search_reaches_back_through_the_years_newest_first_page_by_page(intake):
    """The newest weeks are read first, then the year, then the rest: the pages are the same as one query's."""
    ids = [await report(intake, f"{COMMUNITY}001", f"电梯困人 第{n}次", lon=120.66 + n / 1000) for n in range(7)]
    ages = [0, 3, 20, 40, 200, 500, 900]   # days before now, in the order reported (the newest first below)
    conn = await asyncpg.connect(intake.dsn)
    try:
        for case, days in zip(ids, ages, strict=True):   # aged by hand: a case's receipt time never changes
            await conn.execute("UPDATE incident SET received_at = now() - $2 * interval '1 day' WHERE id = $1",
                               case, days)
            await conn.execute("UPDATE incident_text SET received_at = now() - $2 * interval '1 day'"
                               " WHERE incident_id = $1", case, days)
    finally:
        await conn.close()
    newest_first = [case for _, case in sorted(zip(ages, ids, strict=True))]
    for limit in (1, 2, 3, 50):
        seen: list[str] = []
        cursor = None
        while True:
            params = {"q": "电梯困人", "limit": limit, **({"cursor": cursor} if cursor else {})}
            page = (await intake.get("/v1/incidents", params=params, headers=ADMIN)).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first, limit
    # a window given by the caller: only the cases inside it, still newest first
    since = (datetime.now(UTC) - timedelta(days=100)).isoformat()
    until = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    inside = await intake.get("/v1/incidents", params={"q": "电梯困人", "since": since, "until": until},
                              headers=ADMIN)
    assert [item["id"] for item in inside.json()["items"]] == newest_first[2:4]
