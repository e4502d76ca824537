"""Development sign-in for the web console: `POST /v1/dev/token` mints a bearer token for a chosen role and area.

It exists only where the stack takes HS256 tokens signed with the development secret: ENV dev or test, and no
identity provider configured (AUTH_JWKS_URL unset). Anywhere else `create_app` does not mount this router, so
the path is a plain 404 and absent from the OpenAPI document, whatever the caller sends; there, tokens come
from the city's sign-on only. The token is the one `python -m shared.auth` prints (shared/auth.py issue_token,
the settings' secret, issuer, audience and lifetime cap). It writes nothing: no command, no bus.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.supervision.config import SupervisionSettings
from shared.auth import Role, issue_token
from shared.problems import problems

DEV_TOKEN = ("POST", "/v1/dev/token")


def dev_sign_in_enabled(settings: SupervisionSettings) -> bool:
    """Dev or test, verifying HS256 tokens with the shared development secret (no identity provider)."""
    return settings.is_dev and not settings.auth_jwks_url


class DevTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    area: list[Annotated[str, Field(pattern=r"^\d{0,18}$")]] = Field(
        min_length=1, max_length=20, description='grid-code prefixes the caller may see ("" = the whole city)',
        examples=[["320508"]])
    sub: str = Field("dev", pattern=r"^[A-Za-z0-9_.:@-]{1,64}$", description="who signs in (the token's sub)")
    unit: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    ttl_seconds: int = Field(8 * 3600, ge=60, le=12 * 3600,
                             description="lifetime; at most AUTH_JWT_MAX_LIFETIME_SECONDS")


def build_dev_router(settings: SupervisionSettings) -> APIRouter:
    router = APIRouter(prefix="/v1/dev", tags=["development"])
    secret = settings.auth_jwt_secret.get_secret_value()

    @router.post("/token", responses=problems(422), description=(
        "Development and test stacks only (ENV dev|test without AUTH_JWKS_URL): a token for the role and area "
        "asked, for the console's sign-in picker. Absent (404) everywhere else."))
    async def dev_token(body: DevTokenIn) -> dict:
        ttl = min(body.ttl_seconds, settings.auth_jwt_max_lifetime_seconds)
        token = issue_token(secret, body.sub, body.role, body.area, body.unit, ttl,
                            issuer=settings.auth_jwt_issuer, audience=settings.auth_jwt_audience)
        return {"token": token, "token_type": "Bearer", "expires_in": ttl, "expires_at": int(time.time()) + ttl,
                "claims": {"sub": body.sub, "role": body.role, "area": body.area, "unit": body.unit}}

    return router
