"""Bearer tokens (issue 15, item 6): iss/aud, a maximum lifetime, a jti deny-list, and outside dev and test the
identity provider's RS256/ES256 tokens checked against its JWKS, served here from keys made for the test by an
in-process HTTP server (PyJWKClient fetches over urllib)."""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import APIRouter, FastAPI

from shared.access import EVERYONE, Access
from shared.auth import (
    Caller,
    DenyList,
    JwksKeys,
    Principal,
    TokenPolicy,
    TokenVerifier,
    decode_token,
    issue_token,
)
from shared.problems import Problem, install_problem_handlers
from shared.settings import DEV_JWT_SECRET, ServiceSettings
from shared.web import create_service_app

ISSUER = "https://idp.example.org/realms/grid"
AUDIENCE = "grid-platform"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_by_hand(claims: dict[str, Any], key: bytes, kid: str) -> str:
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': kid}).encode())}." \
                    f"{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


class IdentityProvider:
    """Signing keys and the JWKS endpoint that publishes their public halves."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, Any]] = {}  # kid -> (alg, private key)
        self.published: set[str] = set()
        self.fetches = 0
        self.up = True
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if not provider.up:
                    self.send_error(503)
                    return
                provider.fetches += 1
                body = json.dumps(provider.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realms/grid/protocol/openid-connect/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid: str, alg: str = "RS256", publish: bool = True) -> None:
        key = rsa.generate_private_key(65537, 2048) if alg.startswith("RS") else ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = (alg, key)
        if publish:
            self.published.add(kid)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid in sorted(self.published):
            alg, key = self.keys[kid]
            algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
            jwk = json.loads(algorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": alg})
        return {"keys": keys}

    def token(self, kid: str = "k1", *, lifetime: int = 3600, **claims: Any) -> str:
        alg, key = self.keys[kid]
        now = int(time.time())
        body = {"sub": "w1", "role": "gridworker", "area": ["320508"], "iss": ISSUER, "aud": AUDIENCE,
                "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex, **claims}
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg, headers={"kid": kid})

    def public_pem(self, kid: str) -> bytes:
        return self.keys[kid][1].public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    provider.add_key("k1", "RS256")
    provider.add_key("e1", "ES256")
    yield provider
    provider.close()


@pytest.fixture
def denylist(tmp_path: Path) -> Path:
    path = tmp_path / "revoked-jtis"
    path.write_text("# revoked tokens\n")
    return path


@pytest.fixture
def verifier(idp: IdentityProvider, denylist: Path) -> TokenVerifier:
    return TokenVerifier(TokenPolicy(issuer=ISSUER, audience=AUDIENCE, max_lifetime_seconds=12 * 3600),
                         jwks=JwksKeys(idp.url, cooldown_seconds=0), denylist=DenyList(denylist, check_seconds=0))


def protected_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/me")
    async def me(caller: Caller) -> dict[str, Any]:
        return {"sub": caller.sub, "role": caller.role, "area": list(caller.area)}

    return app


async def get_me(app: FastAPI, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://service") as client:
        return await client.get("/me", headers=headers)


def assert_refused(response: httpx.Response, reason: str, detail: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["title"] == "Unauthorized" and body["status"] == 401
    assert body["reason"] == reason, body
    assert detail in body["detail"], body


# ---- the identity provider's tokens against its JWKS -----------------------------------------------------------

async def test_a_valid_rs256_or_es256_token_of_the_identity_provider_is_accepted(idp, verifier):
    app = protected_app(verifier)
    for kid in ("k1", "e1"):
        response = await get_me(app, idp.token(kid))
        assert response.status_code == 200, response.text
        assert response.json() == {"sub": "w1", "role": "gridworker", "area": ["320508"]}


async def test_wrong_audience_or_issuer_is_refused(idp, verifier):
    app = protected_app(verifier)
    assert_refused(await get_me(app, idp.token(aud="another-platform")), "audience", "wrong audience (aud)")
    assert_refused(await get_me(app, idp.token(iss="https://evil.example.org")), "issuer", "wrong issuer (iss)")
    assert_refused(await get_me(app, idp.token(aud=None)), "missing_claim", "no aud claim")
    assert_refused(await get_me(app, idp.token(iss=None)), "missing_claim", "no iss claim")


async def test_a_token_living_longer_than_allowed_or_without_exp_is_refused(idp, verifier):
    app = protected_app(verifier)
    assert_refused(await get_me(app, idp.token(lifetime=12 * 3600 + 60)), "lifetime", "longer than the 43200 s")
    assert (await get_me(app, idp.token(lifetime=12 * 3600))).status_code == 200  # the limit itself is fine
    # Without iat the lifetime counts from now.
    assert_refused(await get_me(app, idp.token(iat=None, exp=int(time.time()) + 13 * 3600)), "lifetime", "longer")
    assert_refused(await get_me(app, idp.token(exp=None)), "missing_claim", "no exp claim (every token must expire)")
    assert_refused(await get_me(app, idp.token(lifetime=-10)), "expired", "expired")


async def test_a_revoked_jti_is_refused_even_once_the_token_was_accepted(idp, verifier, denylist):
    app = protected_app(verifier)
    token = idp.token(jti="jti-stolen-phone")
    assert (await get_me(app, token)).status_code == 200
    denylist.write_text("# revoked tokens\njti-stolen-phone   # 2026-11-23 phone lost\n")
    assert_refused(await get_me(app, token), "revoked", "revoked (its jti is on the deny-list)")
    assert (await get_me(app, idp.token())).status_code == 200  # others go on


async def test_an_hs256_token_is_refused_when_the_mode_is_jwks(idp, verifier):
    app = protected_app(verifier)
    hs256 = issue_token(DEV_JWT_SECRET, "w1", "admin", [""], issuer=ISSUER, audience=AUDIENCE)
    assert_refused(await get_me(app, hs256), "algorithm", "algorithm 'HS256' is not accepted")
    # The classic confusion: HS256 signed with the provider's public key as the secret.
    body = {"sub": "x", "role": "admin", "area": [""], "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    confused = hs256_by_hand(body, idp.public_pem("k1"), kid="k1")  # PyJWT itself refuses to sign so
    assert_refused(await get_me(app, confused), "algorithm", "not accepted")
    none_alg = jwt.encode(body, None, algorithm="none", headers={"kid": "k1"})
    assert_refused(await get_me(app, none_alg), "algorithm", "not accepted")


async def test_a_token_whose_algorithm_differs_from_its_key_is_refused(idp, verifier):
    _, ec_key = idp.keys["e1"]
    forged = jwt.encode({"sub": "x", "role": "admin", "area": [""], "iss": ISSUER, "aud": AUDIENCE,
                         "exp": int(time.time()) + 60}, ec_key, algorithm="ES256", headers={"kid": "k1"})
    assert_refused(await get_me(protected_app(verifier), forged), "algorithm", "does not match")


async def test_keys_rotate_without_a_restart(idp, verifier):
    app = protected_app(verifier)
    assert (await get_me(app, idp.token("k1"))).status_code == 200
    idp.add_key("k2", "RS256")  # the provider rotates: k2 appears in its JWKS
    assert (await get_me(app, idp.token("k2"))).status_code == 200
    idp.add_key("k3", "RS256", publish=False)  # a key nobody published
    assert_refused(await get_me(app, idp.token("k3")), "unknown_key", "no key 'k3'")
    assert_refused(await get_me(app, jwt.encode({"sub": "x"}, idp.keys["k1"][1], algorithm="RS256")), "unknown_key",
                   "no kid header")


async def test_the_key_set_is_cached(idp, denylist):
    verifier = TokenVerifier(TokenPolicy(issuer=ISSUER), jwks=JwksKeys(idp.url, cache_seconds=300))
    before = idp.fetches
    for _ in range(5):
        assert verifier.verify(idp.token("k1")).sub == "w1"
    assert idp.fetches - before == 1


async def test_an_unreachable_provider_is_a_503_and_the_last_keys_serve_meanwhile(idp):
    verifier = TokenVerifier(TokenPolicy(issuer=ISSUER), jwks=JwksKeys(idp.url, cache_seconds=0.05))
    app = protected_app(verifier)
    assert (await get_me(app, idp.token("k1"))).status_code == 200
    idp.up = False
    try:
        time.sleep(0.1)  # the cached key set expired; the provider does not answer
        assert (await get_me(app, idp.token("k1"))).status_code == 200  # stale-if-error
        never_fetched = TokenVerifier(TokenPolicy(issuer=ISSUER), jwks=JwksKeys(idp.url, timeout_seconds=2))
        response = await get_me(protected_app(never_fetched), idp.token("k1"))
        assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    finally:
        idp.up = True


async def test_a_request_without_a_bearer_token_is_401(verifier):
    response = await get_me(protected_app(verifier), None)
    assert response.status_code == 401 and response.json()["reason"] == "missing_token"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_app_takes_its_verifier_from_the_settings(idp, denylist):
    """create_service_app: with AUTH_JWKS_URL the identity provider's tokens, not HS256 ones."""
    settings = ServiceSettings(env="test", auth_jwks_url=idp.url, auth_jwt_issuer=ISSUER,
                               auth_jti_denylist_file=str(denylist))

    async def start() -> Any:
        async def close() -> None:
            pass
        return SimpleNamespace(settings=settings, pool=None, close=close)

    router = APIRouter()

    @router.get("/me")
    async def me(caller: Caller) -> dict[str, str]:
        return {"sub": caller.sub}

    app = create_service_app("test", "test", start, [router], jwt_secret=settings.auth_jwt_secret.get_secret_value(),
                             access={("GET", "/me"): Access(EVERYONE, "caller")})
    async with app.router.lifespan_context(app):
        assert app.state.token_verifier.mode == "jwks"
        assert (await get_me(app, idp.token("k1"))).status_code == 200
        hs256 = issue_token(DEV_JWT_SECRET, "w1", "admin", [""], issuer=ISSUER)
        assert_refused(await get_me(app, hs256), "algorithm", "HS256")
        idp_token = idp.token("k1", jti="gone")
        denylist.write_text("gone\n")
        time.sleep(1.05)  # the deny-list is looked at again within a second
        assert_refused(await get_me(app, idp_token), "revoked", "revoked")


# ---- HS256 in dev and test -----------------------------------------------------------------------------------

SECRET = "unit-test-secret-that-is-32-bytes!!"


def test_issue_token_sets_iss_aud_iat_and_a_jti_and_keeps_its_call_signature():
    token = issue_token(SECRET, "w1", "gridworker", ["3205"], "u1")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="grid-platform")
    assert claims["iss"] == "grid-dev" and claims["aud"] == "grid-platform"
    assert claims["exp"] - claims["iat"] == 12 * 3600 and len(claims["jti"]) == 32
    assert decode_token(SECRET, token) == Principal("w1", "gridworker", ("3205",), "u1")


def test_hs256_tokens_are_held_to_the_same_policy():
    for token, reason in (
        (issue_token(SECRET, "w1", "admin", [""], ttl_seconds=12 * 3600 + 1), "lifetime"),
        (issue_token(SECRET, "w1", "admin", [""], issuer="someone-else"), "issuer"),
        (issue_token(SECRET, "w1", "admin", [""], audience="another"), "audience"),
        (jwt.encode({"sub": "x", "role": "admin", "area": [""], "exp": int(time.time()) + 60}, SECRET,
                    algorithm="HS256"), "missing_claim"),
    ):
        with pytest.raises(Problem) as exc:
            decode_token(SECRET, token)
        assert exc.value.status == 401 and exc.value.extensions["reason"] == reason


def test_hs256_revocation_and_required_jti(tmp_path):
    denylist = tmp_path / "revoked"
    denylist.write_text("")
    verifier = TokenVerifier(TokenPolicy(require_jti=True), secret=SECRET, denylist=DenyList(denylist, 0))
    token = issue_token(SECRET, "w1", "admin", [""], jti="abc")
    assert verifier.verify(token).sub == "w1"
    denylist.write_text("abc\n")
    with pytest.raises(Problem) as exc:
        verifier.verify(token)
    assert exc.value.extensions["reason"] == "revoked"
    no_jti = jwt.encode({"sub": "x", "role": "admin", "area": [""], "exp": int(time.time()) + 60, "iss": "grid-dev",
                         "aud": "grid-platform"}, SECRET, algorithm="HS256")
    with pytest.raises(Problem) as exc:
        verifier.verify(no_jti)
    assert "no jti claim" in exc.value.detail


def test_a_verifier_never_uses_an_empty_secret():
    with pytest.raises(ValueError):
        TokenVerifier(secret="")


def test_the_deny_list_keeps_its_last_list_when_the_file_goes(tmp_path):
    path = tmp_path / "revoked"
    path.write_text("a\n  b  # why\n\n# c\n")
    denylist = DenyList(path, check_seconds=0)
    assert "a" in denylist and "b" in denylist and "c" not in denylist and len(denylist) == 2
    path.unlink()
    assert "a" in denylist
    path.write_text("c\n")
    assert "c" in denylist and "a" not in denylist
    with pytest.raises(OSError):
        DenyList(tmp_path / "missing")
