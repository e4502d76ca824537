"""The authorization matrix (issue 15): every route of every service, enumerated from the apps themselves, called
against the running stack as every kind of caller, on resources of the caller's own area and of another.

Two communities of the small demo city are the two areas: 梅花社区 (320508019044) and 桃坞社区 (320508019045). Each
has a case (an emergency, so the centre's stream has an alert for it) with a photo, a grid, a grid worker's roster,
a subscription and a contact. The callers: anonymous; a grid worker, a supervisor, a leader and an admin of each
community; a city-wide admin. What each must get follows from the route's declaration (`x-access` in the OpenAPI
document, from the service's entrypoints/access.py):

- no token: 401 (a signed 12345 route: 401 without its signature; a public route answers without a token);
- a role the route does not name: 403, whatever the body;
- the other area's resource: a single resource read is 404, a list or stream leaves it out, a write is 403 and
  changes nothing;
- the whole city's configuration: changed by city-wide callers only (403 for an area's admin);
- one's own area (or the whole city, for the admin): let through (no 401, 403 or 404) and lists show it.

A route with no declaration, or with no probe below, fails the test: a new route must say who may call it here.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.routing import APIRoute
from PIL import Image
from shapely.geometry import shape

from shared.auth import issue_token
from shared.messaging.topics import ALL_TOPICS, ensure_topics
from shared.settings import DEV_JWT_SECRET
from tests.e2e.stack import SERVICES, Stack, eventually, running_stack
from tests.support import KAFKA_BOOTSTRAP, ROOT, delete_topics

pytestmark = pytest.mark.e2e
SHANGHAI = ZoneInfo("Asia/Shanghai")

SMALL_CITY = ROOT / "deploy/demo/small-city.geojson"
THIS_MONTH = datetime.now(SHANGHAI).strftime("%Y-%m")  # the stack's virtual clock starts at the real time


@dataclass(frozen=True)
class Area:
    """One community of the small city and what the matrix keeps in it."""

    code: str
    grid: str
    point: dict[str, float]
    case_id: str = ""
    attachment_id: str = ""

    @property
    def worker(self) -> str:
        return f"gw-{self.grid}"

    @property
    def subscription(self) -> str:
        return f"matrix-{self.code}"

    @property
    def markers(self) -> tuple[str, ...]:
        """What gives this area's resources away in a response body."""
        return (self.code, self.case_id, self.subscription)


@dataclass(frozen=True)
class Persona:
    name: str
    role: str | None  # None: anonymous
    area: Area | None  # None: the whole city

    def headers(self) -> dict[str, str]:
        if self.role is None:
            return {}
        areas = [""] if self.area is None else [self.area.grid if self.role == "gridworker" else self.area.code]
        unit = f"grid-{self.area.grid}" if self.area and self.role == "gridworker" else None
        return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, self.name, self.role, areas, unit)}"}

    def covers(self, area: Area) -> bool:
        return self.role is not None and (self.area is None or self.area.code == area.code)


@dataclass
class Call:
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    shows_target: bool = False  # a list that must show the caller's own area's resource


Probe = Callable[["Matrix", Area], Awaitable[Call]]


def at(path: str, **params: Any) -> Probe:
    async def probe(matrix: Matrix, target: Area) -> Call:
        return Call(path.format(**_names(target)), params={k: v.format(**_names(target)) if isinstance(v, str)
                                                           else v for k, v in params.items()})
    return probe


def listing(path: str, **params: Any) -> Probe:
    inner = at(path, **params)

    async def probe(matrix: Matrix, target: Area) -> Call:
        call = await inner(matrix, target)
        call.shows_target = True
        return call
    return probe


def sending(path: str, body: Callable[[Area], Any]) -> Probe:
    async def probe(matrix: Matrix, target: Area) -> Call:
        return Call(path.format(**_names(target)), json=body(target))
    return probe


def same_again(service: str, path: str, wrap: Callable[[Any], Any] = lambda body: body) -> Probe:
    """A city-wide write probed with what is there already, so letting it through changes nothing."""
    async def probe(matrix: Matrix, target: Area) -> Call:
        return Call(path, json=wrap(await matrix.admin_get(service, path)))
    return probe


def _names(target: Area) -> dict[str, str]:
    return {"case": target.case_id, "grid": target.grid, "area": target.code, "worker": target.worker,
            "sub": target.subscription, "attachment": target.attachment_id}


def _photo() -> tuple[str, bytes, str]:
    image = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 40)).save(image, "PNG")
    return ("现场.png", image.getvalue(), "image/png")


def uploading(path: str) -> Probe:
    async def probe(matrix: Matrix, target: Area) -> Call:
        return Call(path.format(**_names(target)), files={"file": _photo()})
    return probe


def _dedicated_again() -> Probe:
    async def probe(matrix: Matrix, target: Area) -> Call:
        school = (await matrix.admin_get("routing", "/v1/dedicated-types"))["school"]
        return Call("/v1/dedicated-types/school", json={"categories": school})
    return probe


def _template_again() -> Probe:
    async def probe(matrix: Matrix, target: Area) -> Call:
        template = await matrix.admin_get("notifications", "/v1/templates/sms.assigned")
        return Call("/v1/templates/sms.assigned", json={"body": template["body"]})
    return probe


def _subscription(target: Area) -> dict[str, Any]:
    return {"name": f"{target.code}值班", "role": "supervisor", "area": [target.code], "channels": ["sse"],
            "event_types": ["supervision.escalation.raised"], "levels": ["leader"]}


def _contact(target: Area) -> dict[str, Any]:
    return {"name": f"{target.code}居委会", "liaison": {"name": "联络员", "phone": "13900000888"}}


def _report(target: Area) -> dict[str, Any]:
    return {"source": "gridworker", "category": "dispute.neighbour", "urgency": "emergency", "title": "矩阵:邻里纠纷",
            "location": target.point, "grid_code": target.grid}


# Every route of every service, and how to call it on a target area's resource.
PROBES: dict[str, dict[tuple[str, str], Probe]] = {
    "intake": {
        ("GET", "/v1/categories"): at("/v1/categories"),
        ("POST", "/v1/incidents"): sending("/v1/incidents", _report),
        ("GET", "/v1/incidents"): listing("/v1/incidents", grid_prefix="{area}"),
        ("GET", "/v1/incidents/{incident_id}"): at("/v1/incidents/{case}"),
        ("POST", "/v1/incidents/{incident_id}/actions"): sending("/v1/incidents/{case}/actions",
                                                                 lambda _: {"action": "sign"}),
        ("POST", "/v1/incidents/{incident_id}/attachments"): uploading("/v1/incidents/{case}/attachments"),
        ("GET", "/v1/incidents/{incident_id}/attachments"): at("/v1/incidents/{case}/attachments"),
        ("GET", "/v1/incidents/{incident_id}/attachments/{attachment_id}"): at(
            "/v1/incidents/{case}/attachments/{attachment}"),
        ("GET", "/v1/incidents/{incident_id}/attachments/{attachment_id}/thumbnail"): at(
            "/v1/incidents/{case}/attachments/{attachment}/thumbnail"),
        ("PUT", "/v1/incidents/{incident_id}/publication"): sending("/v1/incidents/{case}/publication",
                                                                    lambda _: {"reply": "已受理"}),
        ("POST", "/v1/hotline/orders"): sending("/v1/hotline/orders", lambda _: {"order_no": "M-1"}),
        ("POST", "/v1/hotline/orders/{order_no}/events"): sending("/v1/hotline/orders/M-1/events",
                                                                  lambda _: {"event": "urge"}),
        ("GET", "/v1/hotline/category-map"): at("/v1/hotline/category-map"),
        ("PUT", "/v1/hotline/category-map"): same_again("intake", "/v1/hotline/category-map",
                                                        lambda rules: {"rules": rules}),
        ("GET", "/open311/v2/services.{fmt}"): at("/open311/v2/services.json"),
        ("GET", "/open311/v2/services/{code}.{fmt}"): at("/open311/v2/services/dispute.neighbour.json"),
        ("POST", "/open311/v2/requests.{fmt}"): at("/open311/v2/requests.json"),
        ("GET", "/open311/v2/requests.{fmt}"): at("/open311/v2/requests.json"),
        ("GET", "/open311/v2/requests/{request_id}.{fmt}"): at("/open311/v2/requests/{case}.json"),
        ("POST", "/v1/open311/keys"): sending("/v1/open311/keys", lambda _: {"name": "矩阵客户端"}),
    },
    "routing": {
        ("POST", "/v1/grids/import"): sending("/v1/grids/import",
                                              lambda _: {"type": "FeatureCollection", "features": []}),
        ("GET", "/v1/grids"): listing("/v1/grids", parent="{area}"),
        ("GET", "/v1/grids/{code}/geojson"): at("/v1/grids/{grid}/geojson"),
        ("GET", "/v1/grids/{code}"): at("/v1/grids/{grid}"),
        ("GET", "/v1/locate"): at("/v1/locate", address="梅花社区"),
        ("GET", "/v1/units"): listing("/v1/units", under="{area}"),
        ("PUT", "/v1/units/{unit_id}"): sending("/v1/units/matrix-unit",
                                                lambda _: {"kind": "department", "name": "矩阵局"}),
        ("PUT", "/v1/workers/{worker_id}"): sending("/v1/workers/matrix-worker",
                                                    lambda _: {"name": "矩阵", "phone": "13900000999"}),
        ("PUT", "/v1/workers/{worker_id}/roster"): sending("/v1/workers/{worker}/roster",
                                                           lambda _: {"weekly": [], "periods": []}),
        ("GET", "/v1/workers/{worker_id}/roster"): at("/v1/workers/{worker}/roster"),
        ("DELETE", "/v1/workers/{worker_id}/roster"): at("/v1/workers/{worker}/roster"),
        ("GET", "/v1/rules"): at("/v1/rules"),
        ("PUT", "/v1/rules"): same_again("routing", "/v1/rules"),
        ("GET", "/v1/dedicated-types"): at("/v1/dedicated-types"),
        ("PUT", "/v1/dedicated-types/{dedicated_type}"): _dedicated_again(),
        ("POST", "/v1/assignments/{incident_id}/dispatch"): sending(
            "/v1/assignments/{case}/dispatch", lambda t: {"unit": f"grid-{t.grid}", "reason": "矩阵:中心改派"}),
        ("GET", "/v1/assignments/{incident_id}"): at("/v1/assignments/{case}"),
    },
    "supervision": {
        ("GET", "/v1/clock"): at("/v1/clock"),
        ("POST", "/v1/clock/advance"): sending("/v1/clock/advance", lambda _: {"seconds": 1}),
        ("GET", "/v1/clocks/{incident_id}"): at("/v1/clocks/{case}"),
        ("GET", "/v1/clocks"): listing("/v1/clocks", grid_prefix="{area}"),
        ("POST", "/v1/clocks/{incident_id}/escalate"): sending("/v1/clocks/{case}/escalate",
                                                               lambda _: {"level": "reminder", "note": "矩阵"}),
        ("GET", "/v1/policies"): at("/v1/policies"),
        ("PUT", "/v1/policies"): same_again("supervision", "/v1/policies"),
        ("GET", "/v1/calendar/{year}"): at("/v1/calendar/2026"),
        ("PUT", "/v1/calendar/{day}"): sending("/v1/calendar/2031-06-02", lambda _: {"workday": True}),
        ("PUT", "/v1/calendar/{year}/schedule"): sending("/v1/calendar/2031/schedule",
                                                         lambda _: {"holidays": ["2031-01-01"], "workdays": []}),
        ("GET", "/v1/stats"): at("/v1/stats", month=THIS_MONTH, group_by="unit"),
        ("POST", "/v1/dev/token"): sending("/v1/dev/token", lambda t: {"role": "supervisor", "area": [t.code]}),
        ("GET", "/v1/rankings"): at("/v1/rankings", month=THIS_MONTH, level="grid"),
    },
    "notifications": {
        ("GET", "/v1/deliveries"): listing("/v1/deliveries", incident_id="{case}"),
        ("PUT", "/v1/subscriptions/{sub_id}"): sending("/v1/subscriptions/{sub}", _subscription),
        ("GET", "/v1/subscriptions/{sub_id}"): at("/v1/subscriptions/{sub}"),
        ("DELETE", "/v1/subscriptions/{sub_id}"): at("/v1/subscriptions/{sub}"),
        ("POST", "/v1/subscriptions/{sub_id}/secret"): at("/v1/subscriptions/{sub}/secret"),
        ("GET", "/v1/subscriptions"): listing("/v1/subscriptions"),
        ("PUT", "/v1/contacts/{unit_code}"): sending("/v1/contacts/{area}", _contact),
        ("GET", "/v1/contacts/{unit_code}"): at("/v1/contacts/{area}"),
        ("DELETE", "/v1/contacts/{unit_code}"): at("/v1/contacts/{area}"),
        ("GET", "/v1/contacts"): listing("/v1/contacts"),
        ("GET", "/v1/templates"): at("/v1/templates"),
        ("GET", "/v1/templates/{name}"): at("/v1/templates/sms.assigned"),
        ("PUT", "/v1/templates/{name}"): _template_again(),
        ("GET", "/v1/alerts/stream"): listing("/v1/alerts/stream"),
    },
}
OPERATIONAL = {("GET", "/health"): at("/health"), ("GET", "/ready"): at("/ready"), ("GET", "/metrics"): at("/metrics")}
STREAM = ("GET", "/v1/alerts/stream")


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    access: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def declared_routes() -> list[Route]:
    """Every route of every service's app, with the access its OpenAPI document publishes."""
    from services.intake.entrypoints.http import create_app as intake_app
    from services.notifications.entrypoints.http import create_app as notifications_app
    from services.routing.entrypoints.http import create_app as routing_app
    from services.supervision.entrypoints.http import create_app as supervision_app

    apps = {"intake": intake_app, "routing": routing_app, "supervision": supervision_app,
            "notifications": notifications_app}
    routes: list[Route] = []
    for service in SERVICES:
        app = apps[service]()
        document = app.openapi()["paths"]
        for path, operations in document.items():
            for method, operation in operations.items():
                routes.append(Route(service, method.upper(), path, operation.get("x-access", {})))
        # A route left out of the document would be left out of the matrix: there must be none.
        assert len(api_routes(app.routes)) == sum(1 for r in routes if r.service == service), service
    return routes


def api_routes(routes: list[Any]) -> list[tuple[str, str]]:
    """Every operation an app serves, through the routers it includes."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found += [(m, route.path) for m in sorted((route.methods or set()) - {"HEAD"})]
        elif hasattr(route, "original_router"):
            found += api_routes(route.original_router.routes)
    return found


class Matrix:
    def __init__(self, stack: Stack, http: httpx.AsyncClient, areas: tuple[Area, Area]) -> None:
        self.stack = stack
        self.http = http
        self.areas = areas
        self.admin = Persona("matrix-admin", "admin", None)
        self.failures: list[str] = []

    async def admin_get(self, service: str, path: str) -> Any:
        response = await self.http.get(self.stack.url(service) + path, headers=self.admin.headers())
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def personas(self) -> list[Persona]:
        people = [Persona("anonymous", None, None), self.admin]
        for area in self.areas:
            people += [Persona(f"{role}-{area.code}", role, area)
                       for role in ("gridworker", "supervisor", "leader", "admin")]
        return people

    async def send(self, route: Route, persona: Persona, target: Area) -> tuple[int, str]:
        call = await probe_of(route)(self, target)
        url = self.stack.url(route.service) + call.path
        if route.key == STREAM and route.service == "notifications":
            return await self.read_stream(url, persona)
        response = await self.http.request(route.method, url, params=call.params, json=call.json, files=call.files,
                                           headers=persona.headers())
        return response.status_code, response.text

    async def read_stream(self, url: str, persona: Persona) -> tuple[int, str]:
        """The missed alerts replayed from the start, read up to the caller's own area's case (or, for the
        city-wide admin, every area's): what came before it is all the caller was shown of the others."""
        headers = {**persona.headers(), "Last-Event-ID": "0"}
        async with self.http.stream("GET", url, headers=headers, timeout=30) as response:
            if response.status_code != 200:
                return response.status_code, (await response.aread()).decode()
            wanted = {a.case_id for a in self.areas if persona.covers(a)}
            seen: list[str] = []
            async for line in response.aiter_lines():
                seen.append(line)
                wanted -= {case for case in wanted if case in line}
                if not wanted:
                    return 200, "\n".join(seen)
        raise AssertionError(f"{persona.name}'s stream ended before its own alerts: {seen}")

    def expect(self, ok: bool, route: Route, persona: Persona, target: Area, status: int, body: str,
               what: str) -> None:
        if not ok:
            self.failures.append(f"{route.label} as {persona.name} on {target.code}'s resource: {status} ({what}): "
                                 f"{body[:160]}")


def probe_of(route: Route) -> Probe:
    return {**OPERATIONAL, **PROBES[route.service]}[route.key]


def allowed_roles(route: Route) -> set[str]:
    return set(route.access.get("roles", ()))


def needs_token(route: Route) -> bool:
    return route.access.get("scope") not in ("public", "signed")


def refused(route: Route, persona: Persona, target: Area) -> bool:
    """Whether the declaration refuses this caller this resource (and with it, what a write must leave alone)."""
    if not needs_token(route):
        return route.access["scope"] == "signed"
    if persona.role is None or persona.role not in allowed_roles(route):
        return True
    if route.access["scope"] == "city" and route.access["kind"] == "write":
        return persona.area is not None
    return route.access["scope"] in ("case", "area") and not persona.covers(target)


async def check(matrix: Matrix, route: Route, persona: Persona, target: Area, status: int, body: str) -> None:
    access = route.access
    other = next(a for a in matrix.areas if a is not target)
    expect = lambda ok, what: matrix.expect(ok, route, persona, target, status, body, what)  # noqa: E731
    assert status < 500, f"{route.label} as {persona.name}: {status} {body[:300]}"
    if access["scope"] == "public":
        expect(status != 401, "a public route needs no token")
    elif access["scope"] == "signed":
        expect(status == 401, "a signed route without its signature is 401, whoever the bearer")
    elif persona.role is None:
        expect(status == 401, "no token is 401")
    elif persona.role not in allowed_roles(route):
        expect(status == 403, f"role {persona.role} is not among {sorted(allowed_roles(route))}: 403")
    elif access["scope"] == "city" and access["kind"] == "write" and persona.area is not None:
        expect(status == 403, "the whole city's configuration is changed by city-wide callers only: 403")
    elif access["scope"] in ("case", "area") and not persona.covers(target):
        if access["kind"] == "read":
            expect(status == 404, "another area's single resource is as if absent: 404")
        elif access["kind"] == "write":
            expect(status == 403, "a write on another area's resource is 403")
        else:
            expect(status == 200, "a list answers, filtered")
            leaked = [m for m in target.markers if m in body]
            expect(not leaked, f"another area's resource listed: {leaked}")
            if route.key == STREAM and persona.area is not None:
                expect(persona.area.case_id in body, "the stream shows the caller's own area")
    else:
        expect(status not in (401, 403, 404), "one's own area, or the city for the admin: let through")
        if access["kind"] == "list" and status == 200:
            if (await probe_of(route)(matrix, target)).shows_target:
                expect(any(m in body for m in target.markers), "a list shows the caller's own area")
            if persona.area is not None:
                leaked = [m for m in other.markers if m in body]
                expect(not leaked, f"another area's resource listed: {leaked}")


@pytest.fixture(scope="module")
async def matrix(tmp_path_factory):
    prefix = f"m{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    try:
        async with running_stack(tmp_path_factory.mktemp("matrix"), prefix) as stack:
            stack.run("routing", "load-city", str(SMALL_CITY), str(ROOT / "deploy/demo/small-city-people.json"))
            async with httpx.AsyncClient(timeout=15) as http:
                yield await seeded(Matrix(stack, http, (area("320508019044001"), area("320508019045001"))))
    finally:
        await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])


def area(grid: str) -> Area:
    features = json.loads(SMALL_CITY.read_text())["features"]
    [feature] = [f for f in features if f["properties"]["code"] == grid]
    point = shape(feature["geometry"]).representative_point()
    return Area(code=grid[:12], grid=grid, point={"lon": point.x, "lat": point.y})


async def seeded(matrix: Matrix) -> Matrix:
    """Each area's case reported, routed, clocked and told; its subscription and contact made by its own
    supervisor."""
    stack, http = matrix.stack, matrix.http
    areas = []
    for plain in matrix.areas:
        supervisor = Persona(f"seed-{plain.code}", "supervisor", plain).headers()
        reported = await http.post(stack.url("intake") + "/v1/incidents", json=_report(plain), headers=supervisor)
        assert reported.status_code == 202, reported.text
        case_id = str(reported.json()["id"])
        attached = await http.post(stack.url("intake") + f"/v1/incidents/{case_id}/attachments",
                                   files={"file": _photo()}, headers=supervisor)
        assert attached.status_code == 201, attached.text
        target = Area(plain.code, plain.grid, plain.point, case_id=case_id, attachment_id=str(attached.json()["id"]))
        for service, path, body in (("notifications", "/v1/subscriptions/{sub}", _subscription(target)),
                                    ("notifications", "/v1/contacts/{area}", _contact(target))):
            made = await http.put(stack.url(service) + path.format(**_names(target)), json=body, headers=supervisor)
            assert made.status_code == 200, made.text
        areas.append(target)
    matrix.areas = (areas[0], areas[1])
    admin = matrix.admin.headers()
    for target in matrix.areas:
        for service, path in (("routing", "/v1/assignments/{case}"), ("supervision", "/v1/clocks/{case}")):
            async def there(url: str = stack.url(service) + path.format(**_names(target))) -> bool:
                return (await http.get(url, headers=admin)).status_code == 200
            await eventually(there)

        async def told(case: str = target.case_id) -> Any:
            rows = (await http.get(stack.url("notifications") + "/v1/deliveries", params={"incident_id": case},
                                   headers=admin)).json()
            return rows or None
        await eventually(told)
    return matrix


async def test_every_route_is_declared_and_probed():
    """A route the matrix cannot place is a failure: no declaration, or no probe saying how to call it."""
    routes = declared_routes()
    assert {r.service for r in routes} == set(SERVICES)
    undeclared = [r.label for r in routes if not r.access]
    unprobed = [r.label for r in routes if r.key not in {**OPERATIONAL, **PROBES[r.service]}]
    stale = [f"{service} {key}" for service, probes in PROBES.items() for key in probes
             if key not in {r.key for r in routes if r.service == service}]
    assert (undeclared, unprobed, stale) == ([], [], [])


async def test_every_route_answers_every_caller_as_declared(matrix):
    routes = declared_routes()
    targets = matrix.areas
    before = {t.code: await snapshot(matrix, t) for t in targets}
    reads = [r for r in routes if r.access.get("kind") != "write"]
    writes = [r for r in routes if r.access.get("kind") == "write"]
    for route in reads:
        for target in targets:
            for persona in matrix.personas():
                status, body = await matrix.send(route, persona, target)
                await check(matrix, route, persona, target, status, body)
    for route in writes:  # first everything that must be refused: then the resources must be as they were
        for target in targets:
            for persona in matrix.personas():
                if refused(route, persona, target):
                    status, body = await matrix.send(route, persona, target)
                    await check(matrix, route, persona, target, status, body)
    after = {t.code: await snapshot(matrix, t) for t in targets}
    changed = {(code, path): (was, after[code][path]) for code, seen in before.items() for path, was in seen.items()
               if after[code][path] != was}
    assert changed == {}, f"a refused write changed something; so far: {matrix.failures}"
    # Then each write once by a caller it lets through; the case's own moves (sign, 改派) after the rest, which
    # need its clock running, and deletions last: they take the resource away.
    moves = {("POST", "/v1/incidents/{incident_id}/actions"), ("POST", "/v1/assignments/{incident_id}/dispatch")}
    for route in sorted(writes, key=lambda r: (r.method == "DELETE", r.key in moves)):
        target = targets[0]
        # The area's own people first (a case's action is theirs by the case's rules), the admin last.
        candidates = [p for p in matrix.personas() if p.area == target] + [matrix.admin]
        persona = next((p for p in candidates if not refused(route, p, target)), None)
        if persona is not None:
            status, body = await matrix.send(route, persona, target)
            await check(matrix, route, persona, target, status, body)
    assert matrix.failures == [], "\n".join(matrix.failures)


async def snapshot(matrix: Matrix, target: Area) -> dict[str, Any]:
    """What a refused write could have changed about an area's resources."""
    names = _names(target)
    seen: dict[str, Any] = {}
    for service, path in (("intake", "/v1/incidents/{case}"), ("routing", "/v1/assignments/{case}"),
                          ("routing", "/v1/workers/{worker}/roster"), ("notifications", "/v1/subscriptions/{sub}"),
                          ("notifications", "/v1/contacts/{area}"), ("supervision", "/v1/clocks/{case}")):
        body = await matrix.admin_get(service, path.format(**names))
        if service == "supervision":  # a running clock's figures move by themselves; its owner and level do not
            body = {k: body.get(k) for k in ("incident_id", "phase", "level", "unit_id", "status")}
        if path.endswith("/roster"):
            body.pop("now", None)
            body.pop("on_duty_now", None)
        if service == "intake":
            body = {k: body.get(k) for k in ("status", "owner", "timeline", "published")}
        seen[path] = body
    return seen
