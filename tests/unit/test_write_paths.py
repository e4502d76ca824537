"""Every write route of every service reaches its handler through the bus (issue 13's one write path).

Walks each app's routes. A write route (POST, PUT, PATCH, DELETE) may parse its input, check the caller's role,
build a command, `await container.bus.handle(command)` and shape the answer; it may not reach a repository,
the pool, a unit of work, or anything of the service's `adapters/` or `views.py` itself, nor through a helper of
its own module that does. Read routes (GET) may read SQL through views, as cosmicpython's views do.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

SERVICES = ("intake", "routing", "supervision", "notifications")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Names that, when an endpoint reads them off anything, mean it reached past the bus.
FORBIDDEN_ATTRIBUTES = {"pool", "uow", "acquire", "execute", "fetch", "fetchrow", "fetchval"}
# Write routes allowed to skip the bus, each with the reason. Keep it short.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("supervision", "POST", "/v1/dev/token"): "dev and test only: mints a console sign-in token, writes nothing",
}


def write_routes(service: str) -> Iterator[tuple[str, str, Callable[..., Any]]]:
    create_app = importlib.import_module(f"services.{service}.entrypoints.http").create_app
    for route in _api_routes(create_app().routes):
        for method in sorted(route.methods & WRITES):
            yield method, route.path, route.endpoint


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:  # an included router
            yield from _api_routes(included.routes)


def code_reached(function: Callable[..., Any], service: str, seen: set[Any] | None = None
                 ) -> Iterator[tuple[Callable[..., Any], ast.AST]]:
    """The function's syntax tree, and those of the helpers of the service's entrypoints it calls."""
    seen = seen if seen is not None else set()
    if function in seen:
        return
    seen.add(function)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    yield function, tree
    for name in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}:
        helper = _resolve(function, name)
        if isinstance(helper, types.FunctionType) and helper.__module__.startswith(f"services.{service}.entrypoints"):
            yield from code_reached(helper, service, seen)


def _resolve(function: Callable[..., Any], name: str) -> Any:
    closure = dict(zip(function.__code__.co_freevars, (c.cell_contents for c in function.__closure__ or ()),
                       strict=True))
    return closure.get(name, function.__globals__.get(name))


def reaches_past_the_bus(function: Callable[..., Any], service: str) -> list[str]:
    found = []
    for reached, tree in code_reached(function, service):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
                found.append(f"{reached.__name__} reads .{node.attr}")
            if isinstance(node, ast.Name):
                target = _resolve(reached, node.id)
                module = getattr(target, "__module__", None) or getattr(target, "__name__", "")
                if module.startswith((f"services.{service}.adapters", f"services.{service}.views", "asyncpg")):
                    found.append(f"{reached.__name__} uses {node.id} from {module}")
    return found


def hands_a_command_to_the_bus(function: Callable[..., Any], service: str) -> bool:
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "handle"
               and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "bus"
               for _, tree in code_reached(function, service) for node in ast.walk(tree))


@pytest.mark.parametrize("service", SERVICES)
def test_every_write_route_goes_through_the_bus(service):
    routes = list(write_routes(service))
    assert routes, f"{service} has no write route: the walk found nothing to check"
    offenders = {}
    for method, path, endpoint in routes:
        if (service, method, path) in ALLOWED:
            continue
        problems = reaches_past_the_bus(endpoint, service)
        if not hands_a_command_to_the_bus(endpoint, service):
            problems.append("never calls container.bus.handle(...)")
        if problems:
            offenders[f"{method} {path}"] = problems
    assert offenders == {}


def test_the_walk_catches_a_route_that_writes_to_the_pool():
    """The check itself: a route like the ones issue 13 found (straight to the pool) is caught."""

    async def put_policies(container: Any) -> dict:
        await container.pool.execute("UPDATE policy SET limit_amount = 1")
        return {}

    assert sorted(reaches_past_the_bus(put_policies, "supervision")) == ["put_policies reads .execute",
                                                                         "put_policies reads .pool"]
    assert not hands_a_command_to_the_bus(put_policies, "supervision")
