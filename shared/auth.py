"""Bearer JWT auth and area-scoped principals.

Two ways of checking a signature, chosen by the settings (shared/settings.py):

- **JWKS** (required outside dev and test; `AUTH_JWKS_URL`): RS256/ES256 tokens of the city's identity
  provider, verified with the public keys its JWKS publishes. PyJWT's `PyJWKClient` fetches the key set when
  first needed, caches it `AUTH_JWKS_CACHE_SECONDS` and fetches it again for a `kid` it does not know (at most
  every 30 s), so the provider rotates keys without a restart; while the provider is unreachable the last key
  set fetched keeps serving for an hour. An HS* token is refused in this mode.
- **HS256** with `AUTH_JWT_SECRET`, in dev and test only (`issue_token`, `python -m shared.auth`).

Either way a token must carry `exp` (RFC 8725), the configured `iss` and `aud`, and live at most
`AUTH_JWT_MAX_LIFETIME_SECONDS` (`exp - iat`); one whose `jti` is on the deny-list (`AUTH_JTI_DENYLIST_FILE`) is
refused. Each refusal is a 401 problem+json whose `detail` says why and whose `reason` names it for programs.

Revocation: the deny-list is a text file of `jti`s, one per line, that every process of the four services reads
(a Kubernetes ConfigMap or Secret mounted into each pod, a bind mount under Compose, a path on one machine). A
process re-reads it within a second of a change. A `jti` needs to stay listed only until its token's `exp`, at
most `AUTH_JWT_MAX_LIFETIME_SECONDS` later. Chosen over a table because the four services share no database:
a table would take a migration, a revocation command and a copy in each.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import jwt
import jwt.warnings
import structlog
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt import PyJWK, PyJWKClient, PyJWKClientConnectionError, PyJWKClientError, PyJWKSet

from shared.actor import Actor
from shared.problems import Problem
from shared.settings import DEFAULT_JWT_AUDIENCE, DEFAULT_JWT_MAX_LIFETIME_SECONDS, DEV_JWT_ISSUER

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

Role = Literal["gridworker", "department", "community", "street", "supervisor", "leader", "admin"]
ROLES: tuple[str, ...] = ("gridworker", "department", "community", "street", "supervisor", "leader", "admin")
ALGORITHM = "HS256"
# The contract's local default secret is short; outside dev and test no HS256 secret is taken at all
# (shared/settings.py), so the library's key-length warning would only repeat on every request in development.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)

log = structlog.get_logger("auth")


# The caller as a token names it is the actor every service's commands carry (shared/actor.py).
Principal = Actor


def issue_token(secret: str, sub: str, role: str, area: list[str] | tuple[str, ...],
                unit: str | None = None, ttl_seconds: int = DEFAULT_JWT_MAX_LIFETIME_SECONDS, *,
                issuer: str = DEV_JWT_ISSUER, audience: str = DEFAULT_JWT_AUDIENCE, jti: str | None = None) -> str:
    """An HS256 token as dev and test accept it (outside them tokens come from the identity provider)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role, "area": list(area), "iat": now, "exp": now + ttl_seconds,
                              "iss": issuer, "aud": audience, "jti": jti or uuid.uuid4().hex}
    if unit is not None:
        claims["unit"] = unit
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# ---- refusals -----------------------------------------------------------------------------------------------

def refused(detail: str, reason: str) -> Problem:
    """401 problem+json: `detail` for people, `reason` for programs (expired → sign in again, ...)."""
    return Problem(401, f"invalid token: {detail}", reason=reason,
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def keys_unavailable() -> Problem:
    """The identity provider's keys cannot be had: our outage, not the caller's fault (503, fail closed)."""
    return Problem(503, "the identity provider's signing keys cannot be fetched right now; try again shortly",
                   headers={"Retry-After": "5"})


# ---- policy, deny-list, keys --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenPolicy:
    """What every token must satisfy besides its signature."""

    issuer: str = DEV_JWT_ISSUER
    audience: str = DEFAULT_JWT_AUDIENCE
    max_lifetime_seconds: int = DEFAULT_JWT_MAX_LIFETIME_SECONDS
    leeway_seconds: int = 0
    require_jti: bool = False


class DenyList:
    """Revoked `jti`s, from a text file: one per line, `#` starts a comment. The file is looked at again at most
    every `check_seconds` and re-read when it changed (inode, size or mtime: a ConfigMap's symlink swap too).

    Missing at construction: OSError (the settings refuse to start then). Gone or unreadable later: the last list
    read stays in force and a warning is logged (a half-written update never un-revokes a token)."""

    def __init__(self, path: str | Path, check_seconds: float = 1.0) -> None:
        self.path = Path(path)
        self._check_seconds = check_seconds
        self._lock = threading.Lock()
        self._signature: tuple[int, int, int] | None = None
        self._jtis: frozenset[str] = frozenset()
        self._checked = time.monotonic()
        self._load(os.stat(self.path))

    def __contains__(self, jti: object) -> bool:
        now = time.monotonic()
        if now - self._checked >= self._check_seconds:
            self._refresh(now)
        return jti in self._jtis

    def __len__(self) -> int:
        return len(self._jtis)

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now - self._checked < self._check_seconds:
                return
            self._checked = now
            try:
                stat = os.stat(self.path)
                if (stat.st_ino, stat.st_size, stat.st_mtime_ns) != self._signature:
                    self._load(stat)
            except OSError as exc:
                log.warning("jti_denylist_unreadable", path=str(self.path), error=str(exc), kept=len(self._jtis))

    def _load(self, stat: os.stat_result) -> None:
        text = self.path.read_text(encoding="utf-8")
        jtis = frozenset(line.split("#", 1)[0].strip() for line in text.splitlines()) - {""}
        self._jtis, self._signature = jtis, (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        log.info("jti_denylist_loaded", path=str(self.path), revoked=len(jtis))


class _JwksClient(PyJWKClient):
    """PyJWKClient that keeps serving the last key set fetched while the provider is unreachable (stale-if-error),
    for `stale_seconds` after that fetch: an identity-provider outage does not sign everyone out at once."""

    def __init__(self, uri: str, *, stale_seconds: float, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self._stale_seconds = stale_seconds
        self._last_good: PyJWKSet | None = None
        self._fetched_at = -math.inf

    def fetch_data(self) -> Any:
        data = super().fetch_data()
        self._fetched_at = time.monotonic()
        return data

    def get_jwk_set(self, refresh: bool = False) -> PyJWKSet:
        try:
            self._last_good = super().get_jwk_set(refresh)
        except PyJWKClientConnectionError as exc:
            if self._last_good is None or time.monotonic() - self._fetched_at > self._stale_seconds:
                raise
            log.warning("jwks_unreachable_serving_last_keys", url=self.uri, error=str(exc))
        return self._last_good


class JwksKeys:
    """The identity provider's public keys by `kid` (blocking on a fetch: call it off the event loop)."""

    def __init__(self, url: str, algorithms: tuple[str, ...] = ("RS256", "ES256"), cache_seconds: float = 300.0,
                 timeout_seconds: float = 5.0, cooldown_seconds: float = 30.0, stale_seconds: float = 3600.0) -> None:
        self.url = url
        self.algorithms = algorithms
        self.cache_seconds = cache_seconds
        self._client = _JwksClient(url, cache_jwk_set=True, lifespan=cache_seconds, timeout=timeout_seconds,
                                   cooldown_duration=cooldown_seconds, stale_seconds=stale_seconds,
                                   headers={"User-Agent": "grid-incidents", "Accept": "application/json"})

    def key(self, kid: str) -> PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except PyJWKClientConnectionError as exc:
            log.error("jwks_unreachable", url=self.url, error=str(exc))
            raise keys_unavailable() from exc
        except PyJWKClientError as exc:
            raise refused(f"no key {kid!r} in the identity provider's key set", "unknown_key") from exc
        except jwt.PyJWTError as exc:  # PyJWKSetError: the provider published nothing usable
            log.error("jwks_unusable", url=self.url, error=str(exc))
            raise keys_unavailable() from exc


# ---- verification -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Verified:
    principal: Principal
    expires: float
    jti: str | None
    at: float  # time.monotonic() of the signature check


class TokenVerifier:
    """Checks bearer tokens: the signature (HS256 secret, or the JWKS), the policy, the deny-list.

    The signature and claims are checked once per token (clients reuse one for hours) and remembered; expiry and
    the deny-list are checked on every use, and under JWKS a remembered token is checked afresh once its keys
    may have changed (after the key-set cache time). Refusals are not remembered."""

    def __init__(self, policy: TokenPolicy | None = None, *, secret: str | None = None, jwks: JwksKeys | None = None,
                 denylist: DenyList | None = None, cache_size: int = 4096) -> None:
        if jwks is None and not secret:
            raise ValueError("a token verifier needs AUTH_JWKS_URL, or AUTH_JWT_SECRET in dev and test")
        self.policy = policy or TokenPolicy()
        self.jwks = jwks
        self.denylist = denylist
        self._secret = secret
        self._recheck_seconds = jwks.cache_seconds if jwks else math.inf
        self._cache: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size
        self._options: dict[str, Any] = {
            "require": ["exp", "iss", "aud", "sub", *(["jti"] if self.policy.require_jti else [])],
            # An RSA key under 2048 bits from the provider is refused (never applies to the dev HS256 secret).
            "enforce_minimum_key_length": jwks is not None,
        }

    @property
    def mode(self) -> str:
        return "jwks" if self.jwks else "hs256"

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        policy = TokenPolicy(issuer=settings.auth_jwt_issuer, audience=settings.auth_jwt_audience,
                             max_lifetime_seconds=settings.auth_jwt_max_lifetime_seconds,
                             leeway_seconds=settings.auth_jwt_leeway_seconds,
                             require_jti=settings.auth_jwt_require_jti)
        denylist = DenyList(settings.auth_jti_denylist_file) if settings.auth_jti_denylist_file else None
        if settings.auth_jwks_url:
            jwks = JwksKeys(settings.auth_jwks_url, settings.jwks_algorithms(), settings.auth_jwks_cache_seconds)
            return cls(policy, jwks=jwks, denylist=denylist)
        if not settings.is_dev:  # the settings refuse this already; never fall back to a shared secret
            raise ValueError(f"ENV={settings.env} verifies tokens against AUTH_JWKS_URL only")
        return cls(policy, secret=settings.auth_jwt_secret.get_secret_value(), denylist=denylist)

    def verify(self, token: str) -> Principal:
        """The caller a token stands for, or a Problem (401; 503 when the provider's keys cannot be had).
        Blocks while the JWKS is fetched: in a coroutine use `verify_async`."""
        verified = self._remembered(token)
        if verified is None:
            verified = self._remember(token, self._check(token))
        return self._admit(verified)

    async def verify_async(self, token: str) -> Principal:
        verified = self._remembered(token)
        if verified is None:
            # A key-set fetch blocks (urllib): off the event loop. HS256 is a microsecond's work: inline.
            checked = await asyncio.to_thread(self._check, token) if self.jwks else self._check(token)
            verified = self._remember(token, checked)
        return self._admit(verified)

    def _remembered(self, token: str) -> _Verified | None:
        verified = self._cache.get(token)
        if verified is None:
            return None
        if time.monotonic() - verified.at > self._recheck_seconds:
            self._cache.pop(token, None)
            return None
        self._cache.move_to_end(token)
        return verified

    def _remember(self, token: str, verified: _Verified) -> _Verified:
        self._cache[token] = verified
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return verified

    def _admit(self, verified: _Verified) -> Principal:
        if verified.expires <= time.time() - self.policy.leeway_seconds:  # a remembered token expires on time
            raise refused("expired (exp has passed)", "expired")
        if verified.jti is not None and self.denylist is not None and verified.jti in self.denylist:
            raise refused("revoked (its jti is on the deny-list)", "revoked")
        return verified.principal

    def _check(self, token: str) -> _Verified:
        policy = self.policy
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise refused(f"not a JWT ({exc})", "malformed") from exc
        alg = header.get("alg")
        key: PyJWK | str
        if self.jwks is not None:
            if alg not in self.jwks.algorithms:
                raise refused(f"algorithm {alg!r} is not accepted: tokens are signed by the identity provider "
                              f"({', '.join(self.jwks.algorithms)})", "algorithm")
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise refused("no kid header: the identity provider's key cannot be chosen", "unknown_key")
            key, algorithms = self.jwks.key(kid), list(self.jwks.algorithms)
        else:
            if alg != ALGORITHM:
                raise refused(f"algorithm {alg!r} is not accepted (HS256 only)", "algorithm")
            key, algorithms = self._secret or "", [ALGORITHM]
        try:
            claims = jwt.decode(token, key, algorithms=algorithms, issuer=policy.issuer, audience=policy.audience,
                                leeway=policy.leeway_seconds, options=self._options)  # type: ignore[arg-type]
        except jwt.ExpiredSignatureError as exc:
            raise refused("expired (exp has passed)", "expired") from exc
        except jwt.MissingRequiredClaimError as exc:
            why = " (every token must expire)" if exc.claim == "exp" else ""
            raise refused(f"no {exc.claim} claim{why}", "missing_claim") from exc
        except jwt.InvalidIssuerError as exc:
            raise refused(f"wrong issuer (iss): this platform accepts tokens from {policy.issuer!r}", "issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise refused(f"wrong audience (aud): this platform is {policy.audience!r}", "audience") from exc
        except jwt.ImmatureSignatureError as exc:
            raise refused("not valid yet (iat or nbf in the future)", "not_yet_valid") from exc
        except jwt.InvalidSignatureError as exc:
            raise refused("signature verification failed", "signature") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise refused(str(exc), "algorithm") from exc
        except jwt.PyJWTError as exc:
            raise refused(str(exc), "invalid") from exc
        expires = float(claims["exp"])
        issued = claims.get("iat")
        lifetime = expires - (float(issued) if issued is not None else time.time())
        if lifetime > policy.max_lifetime_seconds:
            raise refused(f"lives {lifetime:.0f} s (exp - iat), longer than the {policy.max_lifetime_seconds} s "
                          "allowed", "lifetime")
        jti = claims.get("jti")
        if jti is not None and (not isinstance(jti, str) or not jti):
            raise refused("jti must be a non-empty string", "invalid")
        role, area, unit = claims.get("role"), claims.get("area"), claims.get("unit")
        if role not in ROLES:
            raise refused("unknown role", "claims")
        if not isinstance(area, list) or not all(isinstance(a, str) for a in area):
            raise refused("area must be a list of grid-code prefixes", "claims")
        principal = Principal(sub=str(claims["sub"]), role=role, area=tuple(area), unit=str(unit) if unit else None)
        return _Verified(principal, expires, jti, time.monotonic())


@functools.lru_cache(maxsize=8)
def hs256_verifier(secret: str) -> TokenVerifier:
    """The dev/test verifier for a secret with the default policy (iss grid-dev, aud grid-platform, 12 h)."""
    return TokenVerifier(secret=secret)


def decode_token(secret: str, token: str) -> Principal:
    """Verify an HS256 token with the default policy (dev and test; tests and tools)."""
    return hs256_verifier(secret).verify(token)


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller of this request, from its bearer token.

    The verifier comes from the service's settings (`app.state.token_verifier`, set when the app starts by
    `create_service_app`); before that, an HS256 one for `app.state.jwt_secret` with the default policy.
    """
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:  # checked once per request (shared/access.py checks it before the body is read)
        return known
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "missing bearer token", reason="missing_token", headers={"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier | None = getattr(request.app.state, "token_verifier", None)
    if verifier is None:
        secret = getattr(request.app.state, "jwt_secret", "")
        if not secret:  # never an empty HMAC key: anyone could sign with it
            raise Problem(401, "token verification is not configured", reason="not_configured",
                          headers={"WWW-Authenticate": "Bearer"})
        verifier = hs256_verifier(secret)
    request.state.principal = await verifier.verify_async(token.strip())
    return request.state.principal


# Declared as a security scheme so the OpenAPI document shows which routes need a token (and that they may
# answer 401); the header itself is read by `current_principal`, which the hot paths call directly.
BEARER = HTTPBearer(auto_error=False, bearerFormat="JWT",
                    description="JWT (RS256/ES256 from the city's identity provider; HS256 in dev and test): "
                                "sub, role, area, unit, exp, iat, iss, aud, jti")


async def _caller(request: Request, _: HTTPAuthorizationCredentials | None = Security(BEARER)) -> Principal:
    return await current_principal(request)


Caller = Annotated[Principal, Depends(_caller)]


def require_role(principal: Principal, *roles: str) -> None:
    if not principal.has_role(*roles):
        raise Problem(403, f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}")


if __name__ == "__main__":  # python -m shared.auth --role admin --area ""
    import typer

    def main(role: str = "admin", sub: str = "dev", area: list[str] = typer.Option([""]),
             unit: str | None = None, ttl: int = DEFAULT_JWT_MAX_LIFETIME_SECONDS) -> None:
        """Mint a dev/test token (outside dev and test, tokens come from the city's identity provider)."""
        from pydantic import ValidationError

        from shared.settings import ServiceSettings, refusal_message

        try:
            settings = ServiceSettings()
        except ValidationError as exc:
            raise SystemExit(refusal_message(exc, ServiceSettings)) from None
        if not settings.is_dev or settings.auth_jwks_url:
            raise typer.BadParameter(f"ENV={settings.env} takes tokens from the identity provider (AUTH_JWKS_URL), "
                                     "not from this command")
        print(issue_token(settings.auth_jwt_secret.get_secret_value(), sub, role, area, unit, ttl,
                          issuer=settings.auth_jwt_issuer, audience=settings.auth_jwt_audience))

    typer.run(main)
