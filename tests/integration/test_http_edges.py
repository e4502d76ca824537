"""HTTP edges (issue 15, item 5) on real databases: bodies refused before they are read or anyone is
authenticated, the grid import's own larger limit behind its admin check with caps on features and vertices,
fields of the wrong JSON type in a grid file, and the centre's alert stream served from one fan-out per process
(roles, caps, areas, Last-Event-ID)."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
import uvicorn

from services.notifications import views as notification_views
from services.notifications.config import NotificationsSettings
from services.notifications.entrypoints.http import create_app as notifications_app
from services.routing.config import RoutingSettings
from services.routing.entrypoints.http import create_app as routing_app
from services.supervision.config import SupervisionSettings
from services.supervision.entrypoints.http import create_app as supervision_app
from shared.auth import issue_token
from shared.db.migrate import migrate
from shared.settings import DEV_JWT_SECRET
from shared.web import DEFAULT_MAX_BODY_BYTES
from tests.e2e.stack import free_port
from tests.support import SERVICE_DIRS, serving

MB = 1024 * 1024
CHUNK = 64 * 1024


def token(sub: str, role: str, area: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, sub, role, area)}"}


ADMIN = token("admin", "admin", [""])
GRID_WORKER = token("w1", "gridworker", ["320508019044001"])


class Body:
    """A request body of `size` bytes made as it is read, counting how much the server pulled."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.size:
            chunk = b" " * min(CHUNK, self.size - self.pulled)
            self.pulled += len(chunk)
            yield chunk


async def send_big(client: httpx.AsyncClient, method: str, url: str, size: int, *, declared: bool,
                   headers: dict[str, str] | None = None) -> tuple[httpx.Response, Body]:
    """`size` bytes of body, with Content-Length (declared) or streamed without one."""
    body = Body(size)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if declared:
        sent["Content-Length"] = str(size)
    response = await client.request(method, url, content=body, headers=sent)
    return response, body


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    return body


# ---- bodies: 1 MB everywhere, before anyone is authenticated ------------------------------------------------

@pytest.mark.parametrize("url", ["/v1/incidents", "/v1/hotline/category-map"])
async def test_a_50_mb_body_without_a_token_is_413_without_being_read(intake, url):
    method = "POST" if url == "/v1/incidents" else "PUT"
    response, body = await send_big(intake, method, url, 50 * MB, declared=True)
    assert "larger than 1048576 bytes" in problem(response, 413)["detail"]
    assert body.pulled == 0  # refused on its Content-Length: not a byte read
    # Undeclared length: the token is checked before the body is read (shared/access.py), so not a byte is.
    response, body = await send_big(intake, method, url, 50 * MB, declared=False)
    problem(response, 401)
    assert body.pulled == 0


@pytest.fixture
async def routing(fresh_database):
    dsn = await fresh_database("edges_routing")
    await migrate(dsn, SERVICE_DIRS["routing"])
    settings = RoutingSettings(database_url=dsn, grid_import_max_bytes=4 * MB, grid_import_max_features=3,
                               grid_import_max_vertices=50_000)
    async with serving(routing_app(settings)) as client:
        client.dsn = dsn
        yield client


@pytest.fixture
async def notifications(fresh_database):
    dsn = await fresh_database("edges_notifications")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    async with serving(notifications_app(NotificationsSettings(database_url=dsn))) as client:
        yield client


@pytest.fixture
async def supervision(fresh_database):
    dsn = await fresh_database("edges_supervision")
    await migrate(dsn, SERVICE_DIRS["supervision"])
    async with serving(supervision_app(SupervisionSettings(database_url=dsn))) as client:
        yield client


async def test_a_body_over_1_mb_to_any_other_route_is_413_even_for_an_admin(intake, routing, notifications,
                                                                             supervision):
    big = {"name": "x" * (DEFAULT_MAX_BODY_BYTES + 10)}
    for client, method, url in ((intake, "POST", "/v1/incidents"),
                                (intake, "PUT", "/v1/hotline/category-map"),
                                (routing, "PUT", "/v1/units/u1"),  # routing's own limit used to be 200 MB
                                (routing, "PUT", "/v1/rules"),
                                (notifications, "PUT", "/v1/contacts/320508"),
                                (supervision, "PUT", "/v1/policies")):
        response = await client.request(method, url, json=big, headers=ADMIN)
        problem(response, 413)
        streamed, body = await send_big(client, method, url, 3 * MB, declared=False, headers=ADMIN)
        problem(streamed, 413)
        assert body.pulled < 3 * MB, url
    small = await routing.put("/v1/units/u1", headers=ADMIN, json={"kind": "grid", "name": "一网格"})
    assert small.status_code == 200


# ---- the grid import: a larger limit, read only for an admin, decoded off the loop, capped -----------------

def ring(x0: float, y0: float, size: float = 0.01, vertices: int = 4) -> list[list[float]]:
    """A closed ring of `vertices` distinct points around a circle inside the square at (x0, y0)."""
    r, cx, cy = size / 2, x0 + size / 2, y0 + size / 2
    points = [[cx + r * math.cos(2 * math.pi * k / vertices), cy + r * math.sin(2 * math.pi * k / vertices)]
              for k in range(vertices)]
    return [*points, points[0]]


def district(code: str = "320508", vertices: int = 4, **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring(120.6, 31.3, 0.1, vertices)]},
            "properties": {"code": code, "name": "姑苏区", "level": "district", **props}}


def collection(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


async def grid_count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM grid")
    finally:
        await conn.close()


async def test_an_import_past_1_mb_works_for_an_admin_under_its_own_limit(routing):
    body = json.dumps(collection(district(vertices=30_000))).encode()
    assert DEFAULT_MAX_BODY_BYTES < len(body) < 4 * MB
    response = await routing.post("/v1/grids/import", content=body,
                                  headers={**ADMIN, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["imported"] == 1
    # The same file streamed without a Content-Length: counted, not refused.
    streamed = await routing.post("/v1/grids/import", content=_chunks(body),
                                  headers={**ADMIN, "Content-Type": "application/json"})
    assert streamed.status_code == 200, streamed.text


async def test_other_requests_are_served_while_an_import_is_being_checked(routing, monkeypatch):
    from services.routing.service_layer import handlers

    entered, release = threading.Event(), threading.Event()
    parse = handlers.parse_features

    def held_parse(*args):  # the import's checking, held until the test lets it go
        entered.set()
        assert release.wait(10), "never released: the parse held the event loop"
        return parse(*args)

    monkeypatch.setattr(handlers, "parse_features", held_parse)
    importing = asyncio.create_task(routing.post("/v1/grids/import", json=collection(district()), headers=ADMIN))
    assert await asyncio.to_thread(entered.wait, 10)
    health = await routing.get("/health")  # answered while the import is mid-check: it is not on the event loop
    assert health.status_code == 200 and not importing.done()
    release.set()
    assert (await importing).status_code == 200


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start:start + CHUNK]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_a_big_import_is_refused_before_its_body_is_read_unless_from_an_admin(routing, declared):
    # Past the 1 MB default, inside the import's own limit: the route checks its caller before it reads.
    anonymous, body = await send_big(routing, "POST", "/v1/grids/import", 3 * MB, declared=declared)
    problem(anonymous, 401)
    assert body.pulled == 0  # no token: not a byte read, let alone parsed
    worker, body = await send_big(routing, "POST", "/v1/grids/import", 3 * MB, declared=declared,
                                  headers=GRID_WORKER)
    problem(worker, 403)
    assert body.pulled == 0
    # Past the import's limit too: refused on its Content-Length, or by the token check before a byte is read.
    anonymous, body = await send_big(routing, "POST", "/v1/grids/import", 50 * MB, declared=declared)
    problem(anonymous, 413 if declared else 401)
    assert body.pulled == 0
    admin, body = await send_big(routing, "POST", "/v1/grids/import", 50 * MB, declared=declared, headers=ADMIN)
    assert "larger than 4194304 bytes" in problem(admin, 413)["detail"]  # the import's own limit
    assert body.pulled <= (0 if declared else 4 * MB + 2 * CHUNK)
    assert await grid_count(routing.dsn) == 0


async def test_an_import_past_its_caps_on_features_or_vertices_is_422_naming_the_cap(routing):
    four = collection(*(district(f"32050{n}") for n in range(4)))
    refused = problem(await routing.post("/v1/grids/import", json=four, headers=ADMIN), 422)
    assert "more than 3 features" in refused["detail"] and "ROUTING_GRID_IMPORT_MAX_FEATURES" in refused["detail"]
    assert (refused["cap"], refused["limit"]) == ("features", 3)
    dense = collection(district(vertices=60_000))
    refused = problem(await routing.post("/v1/grids/import", json=dense, headers=ADMIN), 422)
    assert "more than 50,000 vertices" in refused["detail"] and refused["cap"] == "vertices"
    nested = b"[" * 100_000 + b"]" * 100_000  # decoded in a thread, refused, the process unharmed
    deep = await routing.post("/v1/grids/import", content=nested, headers={**ADMIN, "Content-Type": "application/json"})
    assert "nested too deep" in problem(deep, 422)["detail"]
    assert await grid_count(routing.dsn) == 0


@pytest.mark.parametrize("props, field", [
    ({"dedicated_type": 5}, "properties.dedicated_type must be a string, not a number"),
    ({"dedicated_type": ["school"]}, "properties.dedicated_type must be a string, not an array"),
    ({"dedicated_type": "Big School!"}, "properties.dedicated_type must be lower-case letters"),
    ({"level": ["district"]}, "properties.level must be a string, not an array"),
    ({"kind": {"a": 1}}, "properties.kind must be a string, not an object"),
    ({"name": 5}, "properties.name must be a string, not a number"),
    ({"parent_code": True}, "properties.parent_code must be a string, not a boolean"),
])
async def test_a_grid_file_field_of_the_wrong_type_is_422_naming_it_never_500(routing, props, field):
    refused = problem(await routing.post("/v1/grids/import", json=collection(district(**props)), headers=ADMIN), 422)
    [error] = refused["errors"]
    assert error["field"] == "features.0" and field in error["message"]
    not_an_object = {"type": "Feature", "properties": ["code"], "geometry": None}
    refused = problem(await routing.post("/v1/grids/import", json=collection(not_an_object), headers=ADMIN), 422)
    assert "properties must be an object" in refused["errors"][0]["message"]
    assert await grid_count(routing.dsn) == 0


# ---- the centre's alert stream: one fan-out per process -------------------------------------------------------

AREA_A, AREA_B = "320508", "310101"
SUP_A = token("sup-a", "supervisor", [AREA_A])
SUP_B = token("sup-b", "supervisor", [AREA_B])


@asynccontextmanager
async def over_tcp(app) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port (an SSE stream never ends: an in-process transport that reads
    responses whole cannot carry it)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def alerts(fresh_database):
    dsn = await fresh_database("edges_alerts")
    await migrate(dsn, SERVICE_DIRS["notifications"])
    app = notifications_app(NotificationsSettings(database_url=dsn, sse_poll_seconds=0.05,
                                                  sse_max_streams_per_caller=2))
    async with over_tcp(app) as url:
        yield url, dsn, app


async def add_alert(dsn: str, grid_code: str, what: str = "supervision.light.changed") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(
            "INSERT INTO alert (event_id, event_type, incident_id, grid_code, payload, created_at) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING id",
            uuid.uuid4(), what, uuid.uuid4(), grid_code, json.dumps({"light": "red", "what": what}),
            datetime.now(UTC))
    finally:
        await conn.close()


class Stream:
    """One open SSE stream, read by a task of its own: its events as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        current: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(":")
                current[key] = value.strip()
            elif not line and "data" in current:
                await self.events.put({**current, "data": json.loads(current["data"])})
                current = {}

    async def next_events(self, count: int, timeout: float = 10.0) -> list[dict]:
        async with asyncio.timeout(timeout):
            return [await self.events.get() for _ in range(count)]

    async def nothing_more(self, seconds: float = 0.5) -> None:
        await asyncio.sleep(seconds)
        assert self.events.empty(), self.events.get_nowait()


@asynccontextmanager
async def stream(http: httpx.AsyncClient, url: str, headers: dict[str, str],
                 last_event_id: int | None = None) -> AsyncIterator[Stream]:
    sent = {**headers, **({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {})}
    async with http.stream("GET", url + "/v1/alerts/stream", headers=sent) as response:
        assert response.status_code == 200
        opened = Stream(response)
        try:
            yield opened
        finally:
            opened.reader.cancel()
            await asyncio.gather(opened.reader, return_exceptions=True)


async def test_the_stream_is_for_the_centre_only(alerts):
    url, _, _ = alerts
    async with httpx.AsyncClient(timeout=5) as http:
        for role, area in (("gridworker", ["320508019044001"]), ("community", ["320508019044"]),
                           ("street", ["320508019"]), ("department", [AREA_A])):
            refused = await http.get(url + "/v1/alerts/stream", headers=token("x", role, area))
            problem(refused, 403)
        bad = await http.get(url + "/v1/alerts/stream", headers={**SUP_A, "Last-Event-ID": "1e99"})
        problem(bad, 422)


async def test_streams_are_capped_per_caller_with_429_and_retry_after(alerts):
    url, _, app = alerts
    async with httpx.AsyncClient(timeout=5) as http:
        async with stream(http, url, SUP_A), stream(http, url, SUP_A):
            third = await http.get(url + "/v1/alerts/stream", headers=SUP_A)
            assert "at most 2 open alert streams per caller" in problem(third, 429)["detail"]
            assert int(third.headers["retry-after"]) > 0
            async with stream(http, url, SUP_B):  # another caller has its own share
                pass
        # Closed streams give their slots back (once the server has seen the clients go).
        for _ in range(200):
            if app.state.alert_fanout.streams == 0:
                break
            await asyncio.sleep(0.05)
        async with stream(http, url, SUP_A), stream(http, url, SUP_A):
            pass


async def test_two_areas_get_only_their_own_alerts_from_one_reader_and_resume_without_gaps_or_repeats(
        alerts, monkeypatch):
    url, dsn, app = alerts
    readers: list[str] = []
    read = notification_views.alerts_after

    async def alerts_after(pool, last_id, limit=200):
        readers.append(asyncio.current_task().get_name())
        return await read(pool, last_id, limit)

    monkeypatch.setattr(notification_views, "alerts_after", alerts_after)
    earlier = await add_alert(dsn, "320508019044001")  # before anyone listens: sent from the database
    async with httpx.AsyncClient(timeout=10) as http:
        async with stream(http, url, SUP_A) as a, stream(http, url, SUP_B) as b:
            assert [int(e["id"]) for e in await a.next_events(1)] == [earlier]  # no Last-Event-ID: from the start
            ids = [await add_alert(dsn, code) for code in
                   ("320508019044001", "310101001001001", "320508019045002", "310101002001001")]
            got_a, got_b = await a.next_events(2), await b.next_events(2)
            assert [int(e["id"]) for e in got_a] == [ids[0], ids[2]]
            assert [int(e["id"]) for e in got_b] == [ids[1], ids[3]]
            assert got_a[0]["event"] == "supervision.light.changed"
            assert got_a[0]["data"]["grid_code"] == "320508019044001" and got_a[0]["data"]["light"] == "red"
            # Both streams live now (past their catch-up): from here on one reader of the table feeds them both.
            readers.clear()
            more = [await add_alert(dsn, code) for code in ("310101003001001", "320508019044009")]
            assert [int(e["id"]) for e in await a.next_events(1)] == [more[1]]
            assert [int(e["id"]) for e in await b.next_events(1)] == [more[0]]
            await a.nothing_more()
            await b.nothing_more()
            assert readers and set(readers) == {"alert-fanout"}
            last_seen = more[1]
        # A missed while away: two of its area (and one of B's), then it comes back with Last-Event-ID.
        missed = [await add_alert(dsn, code) for code in ("320508019044002", "310101001001002", "320508019044003")]
        async with stream(http, url, SUP_A, last_event_id=last_seen) as a:
            live = await add_alert(dsn, "320508019044004")  # while it catches up: live, after the database's
            resumed = await a.next_events(3)
            assert [int(e["id"]) for e in resumed] == [missed[0], missed[2], live]
            await a.nothing_more()
            after = await add_alert(dsn, "320508019044005")
            assert [int(e["id"]) for e in await a.next_events(1)] == [after]
