"""Authorization as data (shared/access.py, issue 15): every route declares who may call it, and `install_access`
holds the app to the declaration. Small apps built here with `create_service_app` (never started: no database; a
token is checked with the app's HS256 secret), then each real service built with one declaration missing."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings

from services.intake.config import IntakeSettings
from services.notifications.config import NotificationsSettings
from services.routing.config import RoutingSettings
from services.supervision.config import SupervisionSettings
from shared.access import EVERYONE, OPERATIONS, Access, install_access, public, signed
from shared.auth import ROLES, Caller, issue_token
from shared.problems import PROBLEM_JSON
from shared.runtime import ServiceContainer
from shared.settings import DEV_JWT_SECRET
from shared.web import create_service_app

ADMIN_ONLY = Access(("admin",), "city", "write")
TABLE: dict[tuple[str, str], Access] = {
    ("POST", "/v1/things"): ADMIN_ONLY,
    ("GET", "/v1/things/{thing_id}"): Access(EVERYONE, "area", "read"),
    ("PUT", "/v1/things/{thing_id}"): Access(("supervisor", "leader"), "area", "write"),
    ("GET", "/v1/whoami"): Access(EVERYONE, "caller"),
    ("GET", "/v1/open"): public(),
    ("POST", "/v1/signed"): signed(),
}


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    size: int


def things() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/things", status_code=201)
    async def make(body: ThingIn, caller: Caller) -> dict[str, Any]:
        return {"name": body.name, "by": caller.role}

    @router.get("/things/{thing_id}")
    async def read(thing_id: int, caller: Caller) -> dict[str, Any]:
        return {"id": thing_id, "by": caller.role}

    @router.put("/things/{thing_id}")
    async def change(thing_id: int, body: ThingIn, caller: Caller) -> dict[str, Any]:
        return {"id": thing_id, "name": body.name, "by": caller.role}

    @router.get("/whoami")
    async def whoami() -> dict[str, str]:  # asks for no caller: the declaration still wants a token
        return {"you": "someone with a token"}

    @router.get("/open")
    async def open_to_all() -> dict[str, str]:
        return {"open": "yes"}

    @router.post("/signed", status_code=202)
    async def signed_route() -> dict[str, str]:  # its own signature check would go here, no token
        return {"taken": "yes"}

    return router


async def never_started() -> ServiceContainer[Any, Any]:
    raise AssertionError("these apps are never started")


def build(table: dict[tuple[str, str], Access] | None = None) -> FastAPI:
    return create_service_app("probe", "Probe", never_started, [things()], jwt_secret=DEV_JWT_SECRET,
                              access=TABLE if table is None else table)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(build(), raise_server_exceptions=True)


def bearer(role: str, area: tuple[str, ...] | None = None) -> dict[str, str]:
    """A token of `role`; the admin's city-wide unless an area is given, the others' of district 320508."""
    area = area if area is not None else ("",) if role == "admin" else ("320508",)
    return {"Authorization": f"Bearer {issue_token(DEV_JWT_SECRET, f'{role}-1', role, list(area))}"}


def without(key: tuple[str, str]) -> dict[tuple[str, str], Access]:
    return {k: v for k, v in TABLE.items() if k != key}


# ---- the declaration is the rule --------------------------------------------------------------------------------

def test_a_route_with_no_declaration_stops_the_app_from_being_built() -> None:
    with pytest.raises(RuntimeError, match=re.escape("no access declaration: [('POST', '/v1/things')]")):
        build(without(("POST", "/v1/things")))
    with pytest.raises(RuntimeError, match=re.escape("('GET', '/v1/open')")):  # a public route is declared too
        build(without(("GET", "/v1/open")))


def test_a_declaration_for_a_route_that_does_not_exist_stops_it_too() -> None:
    stale = {**TABLE, ("DELETE", "/v1/things/{thing_id}"): ADMIN_ONLY, ("GET", "/v1/thing"): public()}
    with pytest.raises(RuntimeError, match=re.escape(
            "do not exist: [('DELETE', '/v1/things/{thing_id}'), ('GET', '/v1/thing')]")):
        build(stale)


def test_plain_routers_are_checked_before_any_app_exists() -> None:
    with pytest.raises(RuntimeError, match="no access declaration"):
        install_access([things()], without(("GET", "/v1/whoami")))
    router = things()
    install_access([router], TABLE)  # the whole table: nothing to say
    assert all(getattr(route, "openapi_extra", {}).get("x-access") for route in router.routes)


# ---- the role check runs first ----------------------------------------------------------------------------------

# Bodies a caller of the wrong role, or with no token, sends: none of them is looked at.
BAD_BODIES = (b'{"name": ""}', b'{"size": "big", "extra": true}', b"[]", b"", b'{"name": "ok", "size": 1}')
NOT_JSON = (b"{not json", b"[[[", b'{"name": "ok",')


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_a_caller_of_another_role_gets_403_whatever_the_body(client: TestClient, role: str) -> None:
    for body in BAD_BODIES:
        answer = client.post("/v1/things", content=body, headers={**bearer(role), "Content-Type": "application/json"})
        assert answer.status_code == 403, (role, body, answer.text)
        assert answer.headers["content-type"] == PROBLEM_JSON
        problem = answer.json()
        assert problem["status"] == 403 and f"role {role!r} may not do this; allowed: admin" in problem["detail"]
    answer = client.post("/v1/things", content=b"\x00\xff not json either", headers=bearer(role))  # no content type
    assert answer.status_code == 403


def test_a_body_that_is_not_even_json_is_refused_for_the_caller_not_the_body(client: TestClient) -> None:
    for body in NOT_JSON:
        headers = {"Content-Type": "application/json"}
        assert client.post("/v1/things", content=body, headers=headers).status_code == 401
        assert client.post("/v1/things", content=body, headers={**headers, **bearer("gridworker")}).status_code == 403


def test_the_role_check_holds_for_a_route_with_path_parameters_and_a_body(client: TestClient) -> None:
    answer = client.put("/v1/things/7", json={"size": "big"}, headers=bearer("gridworker"))
    assert answer.status_code == 403 and "allowed: supervisor, leader" in answer.json()["detail"]
    answer = client.put("/v1/things/not-a-number", json={}, headers=bearer("admin"))
    assert answer.status_code == 403  # before the path parameter is parsed as well
    assert client.put("/v1/things/7", json={"name": "n", "size": 1}, headers=bearer("leader")).status_code == 200


def test_no_token_gets_401_before_the_body_is_looked_at(client: TestClient) -> None:
    for body in BAD_BODIES:
        answer = client.post("/v1/things", content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON and answer.headers["www-authenticate"] == "Bearer"
        assert answer.json()["reason"] == "missing_token"
    forged = issue_token("not-the-secret", "x", "admin", [""])
    answer = client.post("/v1/things", json={"name": ""}, headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401 and answer.json()["reason"] == "signature"


def test_the_right_role_with_a_bad_body_gets_422_and_with_a_good_one_gets_through(client: TestClient) -> None:
    answer = client.post("/v1/things", content=b"{not json", headers={**bearer("admin"),
                                                                      "Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM_JSON
    answer = client.post("/v1/things", json={"name": "", "size": "big"}, headers=bearer("admin"))
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} == {"name", "size"}
    answer = client.post("/v1/things", json={"name": "lamp", "size": 3}, headers=bearer("admin", ("",)))
    assert answer.status_code == 201 and answer.json() == {"name": "lamp", "by": "admin"}


def test_a_route_open_to_every_role_still_needs_a_token_even_if_its_endpoint_never_asks(client: TestClient) -> None:
    assert client.get("/v1/whoami").status_code == 401
    for role in ROLES:
        assert client.get("/v1/whoami", headers=bearer(role)).status_code == 200
        assert client.get("/v1/things/1", headers=bearer(role)).json() == {"id": 1, "by": role}


def test_public_and_signed_routes_take_no_token(client: TestClient) -> None:
    assert client.get("/v1/open").json() == {"open": "yes"}
    assert client.post("/v1/signed", content=b"anything").status_code == 202
    assert client.get("/health").status_code == 200


# ---- published -------------------------------------------------------------------------------------------------

def test_every_operation_publishes_its_declaration_as_x_access(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    declared = {**OPERATIONS, **TABLE}
    published = {(method.upper(), path): operation for path, item in document["paths"].items()
                 for method, operation in item.items()}
    assert set(published) == set(declared)
    for key, operation in published.items():
        assert operation["x-access"] == declared[key].document(), key
    assert published[("POST", "/v1/things")]["x-access"] == {"roles": ["admin"], "scope": "city", "kind": "write"}
    assert published[("GET", "/v1/open")]["x-access"] == {"roles": [], "scope": "public", "kind": "read"}
    # A route some roles may not call says it can answer 403; one every role may call does not.
    assert "403" in published[("POST", "/v1/things")]["responses"]
    assert "403" not in published[("GET", "/v1/things/{thing_id}")]["responses"]


# ---- the declarations themselves ---------------------------------------------------------------------------------

def test_access_refuses_unknown_roles_and_roles_on_public_or_signed_routes() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown roles ['root']")):
        Access(("admin", "root"), "city")
    with pytest.raises(ValueError, match="names no roles"):
        Access(("admin",), "public")
    with pytest.raises(ValueError, match="names no roles"):
        Access(EVERYONE, "signed", "write")
    assert not public().needs_token and not signed().needs_token
    assert all(Access(EVERYONE, scope).needs_token for scope in ("caller", "case", "area", "city"))


# ---- every real service -----------------------------------------------------------------------------------------

SERVICES: dict[str, type[BaseSettings]] = {"intake": IntakeSettings, "routing": RoutingSettings,
                                           "supervision": SupervisionSettings, "notifications": NotificationsSettings}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_missing_any_one_declaration_refuses_to_build_naming_the_route(
        service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    http = importlib.import_module(f"services.{service}.entrypoints.http")
    settings = SERVICES[service]()
    table: dict[tuple[str, str], Access] = dict(http.ACCESS)
    assert table, f"{service} declares no routes"
    http.create_app(settings)  # the whole table: it builds
    for key in table:
        monkeypatch.setattr(http, "ACCESS", {k: v for k, v in table.items() if k != key})
        with pytest.raises(RuntimeError, match=re.escape(f"no access declaration: [{key!r}]")):
            http.create_app(settings)
    monkeypatch.setattr(http, "ACCESS", {**table, ("GET", "/v1/no-such-route"): public()})
    with pytest.raises(RuntimeError, match=re.escape("[('GET', '/v1/no-such-route')]")):
        http.create_app(settings)


def test_the_whole_citys_configuration_is_changed_by_city_wide_callers_only(client: TestClient) -> None:
    district_admin = bearer("admin", ("320508",))
    answer = client.post("/v1/things", json={"name": "n", "size": 1}, headers=district_admin)
    assert answer.status_code == 403 and "city-wide caller only" in answer.json()["detail"]
    assert client.post("/v1/things", content=b"{not json", headers=district_admin).status_code == 403
    assert client.post("/v1/things", json={"name": "n", "size": 1}, headers=bearer("admin")).status_code == 201
