"""The console's development sign-in (issue 16): `POST /v1/dev/token` on supervision mints a token on dev and test
stacks, and does not exist at all anywhere else (no route, nothing in the OpenAPI document, a plain 404)."""

from __future__ import annotations

import httpx
import jwt
import pytest

from services.supervision.config import SupervisionSettings
from services.supervision.entrypoints.http import create_app
from shared.auth import hs256_verifier
from shared.settings import DEV_JWT_SECRET

STRONG = "0123456789abcdef0123456789abcdef"
PATH = "/v1/dev/token"


def client(app) -> httpx.AsyncClient:
    # No lifespan: the route needs no database, and a missing route must answer 404 without one too.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://supervision")


def has_route(app) -> bool:
    return PATH in app.openapi()["paths"] or any(getattr(r, "path", None) == PATH for r in app.routes)


@pytest.mark.parametrize("env", ["dev", "test"])
async def test_dev_and_test_mint_a_token_the_services_accept(monkeypatch, env):
    monkeypatch.setenv("ENV", env)
    app = create_app(SupervisionSettings())
    assert app.openapi()["paths"][PATH]["post"]["x-access"]["scope"] == "public"
    async with client(app) as http:
        response = await http.post(PATH, json={"role": "supervisor", "area": ["320508019045"], "sub": "zhang"})
    assert response.status_code == 200, response.text
    body = response.json()
    principal = hs256_verifier(DEV_JWT_SECRET).verify(body["token"])  # what every service's Caller checks
    assert (principal.sub, principal.role, principal.area) == ("zhang", "supervisor", ("320508019045",))
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == body["expires_in"] <= 12 * 3600


async def test_bad_requests_are_422_not_tokens(monkeypatch):
    monkeypatch.setenv("ENV", "test")
    async with client(create_app(SupervisionSettings())) as http:
        for body in ({"role": "mayor", "area": [""]}, {"role": "admin", "area": []},
                     {"role": "supervisor", "area": ["32050x"]}, {"role": "admin", "area": [""], "sub": "a b"},
                     {"role": "admin", "area": [""], "extra": 1}):
            response = await http.post(PATH, json=body)
            assert response.status_code == 422, (body, response.text)
            assert "token" not in response.json()


async def test_production_has_no_such_route(monkeypatch, tmp_path):
    denylist = tmp_path / "revoked"
    denylist.write_text("")
    for name, value in {"ENV": "production", "AUTH_JWKS_URL": "https://idp.example.org/certs",
                        "AUTH_JWT_ISSUER": "https://idp.example.org", "AUTH_JTI_DENYLIST_FILE": str(denylist)}.items():
        monkeypatch.setenv(name, value)
    for name in ("AUTH_JWT_SECRET", "CLOCK_MODE"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(SupervisionSettings())
    assert not has_route(app)
    async with client(app) as http:
        response = await http.post(PATH, json={"role": "admin", "area": [""]})
    assert response.status_code == 404


async def test_dev_with_the_identity_provider_has_no_such_route(monkeypatch):
    """A dev stack wired to the city's sign-on verifies its tokens only: a minted one would be refused anyway."""
    monkeypatch.setenv("ENV", "dev")
    monkeypatch.setenv("AUTH_JWKS_URL", "https://idp.example.org/certs")
    app = create_app(SupervisionSettings())
    assert not has_route(app)
    async with client(app) as http:
        assert (await http.post(PATH, json={"role": "admin", "area": [""]})).status_code == 404
