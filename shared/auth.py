"""Bearer JWT auth (HS256 only, `exp` required: RFC 8725) and area-scoped principals."""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass, field
from typing import Annotated, Literal

import jwt
import jwt.warnings
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.problems import Problem

Role = Literal["gridworker", "department", "community", "street", "supervisor", "leader", "admin"]
ROLES: tuple[str, ...] = ("gridworker", "department", "community", "street", "supervisor", "leader", "admin")
ALGORITHM = "HS256"
# The contract's local default secret is short; production refuses it (shared/settings.py), so the
# library's key-length warning would only repeat on every request in development.
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)


@dataclass(frozen=True)
class Principal:
    sub: str
    role: str
    area: tuple[str, ...] = field(default_factory=tuple)
    unit: str | None = None

    def sees(self, code: str | None) -> bool:
        """A caller sees a grid code that starts with one of its area prefixes ('' = whole city)."""
        if "" in self.area:
            return True
        return code is not None and any(code.startswith(prefix) for prefix in self.area)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


def issue_token(secret: str, sub: str, role: str, area: list[str] | tuple[str, ...],
                unit: str | None = None, ttl_seconds: int = 12 * 3600) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    claims = {"sub": sub, "role": role, "area": list(area), "exp": int(time.time()) + ttl_seconds}
    if unit is not None:
        claims["unit"] = unit
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    principal, expires = _verified(secret, token)
    if expires <= time.time():  # a cached token still expires on time
        raise Problem(401, "invalid token: Signature has expired", headers={"WWW-Authenticate": "Bearer"})
    return principal


@functools.lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> tuple[Principal, float]:
    """Signature and claims checked once per token (clients reuse a token for hours); errors are not cached."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.PyJWTError as exc:
        raise Problem(401, f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"}) from exc
    role, area = claims.get("role"), claims.get("area")
    if role not in ROLES:
        raise Problem(401, "invalid token: unknown role", headers={"WWW-Authenticate": "Bearer"})
    if not isinstance(area, list) or not all(isinstance(a, str) for a in area):
        raise Problem(401, "invalid token: area must be a list of grid-code prefixes",
                      headers={"WWW-Authenticate": "Bearer"})
    unit = claims.get("unit")
    principal = Principal(sub=str(claims["sub"]), role=role, area=tuple(area), unit=str(unit) if unit else None)
    return principal, float(claims["exp"])


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller of this request, from its bearer token.

    The secret comes from the app's settings (`app.state.jwt_secret`, set by `create_service_app`).
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return decode_token(request.app.state.jwt_secret, token.strip())


# Declared as a security scheme so the OpenAPI document shows which routes need a token (and that they may
# answer 401); the header itself is read by `current_principal`, which the hot paths call directly.
BEARER = HTTPBearer(auto_error=False, bearerFormat="JWT", description="HS256 JWT: sub, role, area, unit, exp")


async def _caller(request: Request, _: HTTPAuthorizationCredentials | None = Security(BEARER)) -> Principal:
    return await current_principal(request)


Caller = Annotated[Principal, Depends(_caller)]


def require_role(principal: Principal, *roles: str) -> None:
    if not principal.has_role(*roles):
        raise Problem(403, f"role {principal.role!r} may not do this; allowed: {', '.join(roles)}")


if __name__ == "__main__":  # python -m shared.auth --role admin --area ""
    import typer

    def main(role: str = "admin", sub: str = "dev", area: list[str] = typer.Option([""]),
             unit: str | None = None, ttl: int = 12 * 3600) -> None:
        from shared.settings import ServiceSettings

        secret = ServiceSettings().auth_jwt_secret.get_secret_value()
        print(issue_token(secret, sub, role, area, unit, ttl))

    typer.run(main)
