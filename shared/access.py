"""Authorization as data: each route of each service declares who may call it and how what it touches is scoped.

A service lists its routes in `entrypoints/access.py` (`ACCESS`, keyed by method and path as the OpenAPI document
names them). `install_access` makes the declaration the rule, not a comment:
- a route that is not declared makes the app refuse to start;
- the token and the role are checked before the body is read: no token is 401 and a caller of the wrong role
  403, whatever it sent (even a body that is not JSON);
- the declaration is published in the OpenAPI document as `x-access`.
The scope (what a caller of the right role may touch: its area's cases, grids, figures, subscriptions) is the
handlers' to enforce; `tests/e2e/test_authorization_matrix.py` calls every route as every kind of caller
against resources of their own area and another, and checks it against these declarations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.routing import APIRoute, request_response
from starlette.requests import Request
from starlette.responses import Response

from shared.auth import ROLES, current_principal
from shared.problems import Problem, problems

# public: no token (health, Open311's public side); signed: 12345's HMAC, no token; caller: any signed-in caller,
# nothing area-bound; case: one case (or a list of cases) of the caller's area; area: a grid, unit, contact,
# subscription or figure keyed by an area code; city: the whole city's configuration (changed by city-wide callers
# only: a district's admin reads it, the city's writes it).
Scope = Literal["public", "signed", "caller", "case", "area", "city"]
# read: a single resource (another area's is 404); list: filtered to the caller's area; write: an action or a
# change (another area's is 403).
Kind = Literal["read", "list", "write"]
EVERYONE: tuple[str, ...] = ROLES
CENTRE: tuple[str, ...] = ("admin", "supervisor", "leader")


@dataclass(frozen=True)
class Access:
    roles: tuple[str, ...]
    scope: Scope
    kind: Kind = "read"

    def __post_init__(self) -> None:
        unknown = set(self.roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}")
        if self.scope in ("public", "signed") and self.roles:
            raise ValueError("a public or signed route names no roles")

    @property
    def needs_token(self) -> bool:
        return self.scope not in ("public", "signed")

    def document(self) -> dict[str, Any]:
        return {"roles": list(self.roles), "scope": self.scope, "kind": self.kind}


def public() -> Access:
    return Access((), "public")


def signed(kind: Kind = "write") -> Access:
    return Access((), "signed", kind)


# Every service's operational routes.
OPERATIONS: dict[tuple[str, str], Access] = {("GET", "/health"): public(), ("GET", "/ready"): public(),
                                             ("GET", "/metrics"): public()}


def _guarded(handler: Callable[[Request], Awaitable[Response]], access: Access) -> Callable[[Request], Any]:
    """The route's handler behind its caller check: the token and the role are looked at before FastAPI reads or
    decodes the body (a body that is not even JSON is the caller's 401 or 403, not a 422 for anyone)."""
    allowed = access.roles
    citywide = access.scope == "city" and access.kind == "write"

    async def guarded(request: Request) -> Response:
        caller = await current_principal(request)  # kept on the request: the endpoint's Caller reuses it
        if caller.role not in allowed:
            raise Problem(403, f"role {caller.role!r} may not do this; allowed: {', '.join(allowed)}")
        if citywide and "" not in caller.area:
            raise Problem(403, "this changes the whole city's configuration: a city-wide caller only")
        return await handler(request)

    return guarded


def _guarding(build: Callable[[], Callable[[Request], Any]], access: Access) -> Callable[[], Callable[[Request], Any]]:
    def build_guarded() -> Callable[[Request], Any]:
        return _guarded(build(), access)
    return build_guarded


def install_access(routers: list[APIRouter], table: Mapping[tuple[str, str], Access]) -> None:
    """Hold every route of `routers` to `table` (and the operational routes to OPERATIONS), before the app
    includes them (an included router's routes are built from these)."""
    declared = {**OPERATIONS, **table}
    routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
    keys = {(method, route.path) for route in routes for method in route.methods or () if method != "HEAD"}
    undeclared = sorted(keys - set(declared))
    if undeclared:
        raise RuntimeError(f"routes with no access declaration: {undeclared}")
    stale = sorted(set(table) - keys)
    if stale:
        raise RuntimeError(f"access declared for routes that do not exist: {stale}")
    for route in routes:
        [access] = {declared[(m, route.path)] for m in route.methods or () if m != "HEAD"}
        route.openapi_extra = {**(route.openapi_extra or {}), "x-access": access.document()}
        if access.needs_token:
            # Every token route checks its caller here, even one open to all roles: a declaration that says
            # "a token" must not be contradicted by an endpoint that forgot to ask for one.
            if set(access.roles) != set(ROLES):
                route.responses = {**problems(403), **route.responses}
            # Each place FastAPI builds the route's handler from (the route itself, and every router that includes
            # it) gets it behind the check.
            route.get_route_handler = _guarding(route.get_route_handler, access)  # type: ignore[method-assign]
            route.app = request_response(route.get_route_handler())
