"""Authorization as data: each route of each service declares who may call it and how what it touches is scoped.

A service lists its routes in `entrypoints/access.py` (`ACCESS`, keyed by method and path as the OpenAPI document
names them). `install_access` makes the declaration the rule, not a comment:
- a route that is not declared makes the app refuse to start;
- the role check runs before the body is parsed: a caller of the wrong role gets 403 whatever it sent, and no
  token gets 401 (the caller dependency's own answer);
- the declaration is published in the OpenAPI document as `x-access`.
The scope (what a caller of the right role may touch: its area's cases, grids, figures, subscriptions) is the
handlers' to enforce; `tests/integration/test_authorization_matrix.py` calls every route as every kind of caller
against resources of their own area and another, and checks it against these declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends
from fastapi.dependencies.utils import get_dependant, get_parameterless_sub_dependant
from fastapi.routing import APIRoute, request_response

from shared.auth import ROLES, Caller
from shared.problems import Problem, problems

# public: no token (health, Open311's public side); signed: 12345's HMAC, no token; caller: any signed-in caller,
# nothing area-bound; case: one case (or a list of cases) of the caller's area; area: a grid, unit, contact,
# subscription or figure keyed by an area code; city: the whole city's configuration.
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


def _role_check(access: Access) -> Any:
    allowed = access.roles

    async def check(caller: Caller) -> None:
        if caller.role not in allowed:
            raise Problem(403, f"role {caller.role!r} may not do this; allowed: {', '.join(allowed)}")

    return check


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
        if access.needs_token and set(access.roles) != set(ROLES):
            route.responses = {**problems(403), **route.responses}
            # As APIRoute.__init__ builds it: route-level dependencies run before the body is read.
            route.dependencies.insert(0, Depends(_role_check(access)))
            route.dependant = get_dependant(path=route.path_format, call=route.endpoint)
            for depends in route.dependencies[::-1]:
                route.dependant.dependencies.insert(
                    0, get_parameterless_sub_dependant(depends=depends, path=route.path_format))
            route.app = request_response(route.get_route_handler())
