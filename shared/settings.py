"""Settings every service shares; each service adds its own class with its env prefix.

Names shared by the whole stack (ENV, KAFKA_BOOTSTRAP, AUTH_*, CLOCK_*) are read without a prefix so one
environment drives every process; service-specific ones carry `<SERVICE>_`.

Settings fail closed. `ENV` has no default: a process started without it refuses to start, so a deployment
never runs with development settings by accident (the local launchers set ENV=dev, the tests ENV=test).
Outside dev and test a process refuses to start with a development secret, a secret shorter than 32 bytes,
the virtual clock, the development database password on an API bound beyond loopback, or without the city's
identity provider (tokens are RS256/ES256 verified against its JWKS there; HS256 with AUTH_JWT_SECRET is for
dev and test only). Every reason is reported at once, each naming its setting.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "grid-dev-secret"
# `iss` of the tokens minted with AUTH_JWT_SECRET (dev and test); outside them, the identity provider's issuer.
DEV_JWT_ISSUER = "grid-dev"
# `aud` every service expects: the platform as one audience (a token for one API is good for the four).
DEFAULT_JWT_AUDIENCE = "grid-platform"
DEFAULT_JWT_MAX_LIFETIME_SECONDS = 12 * 3600
DEV_ENVS = ("dev", "test")
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HMAC key at least as long as the hash
# What the identity provider may sign with (asymmetric only: an HS* token is never taken from it).
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
ENV_HELP = ("set ENV=dev (local stack and demo), ENV=test (tests) or ENV=production; there is no default, so "
            "that a deployment never runs with development settings by accident")


# deploy/local's Postgres runs on the services' machine: they reach it through its Unix socket (Debian's directory,
# percent-encoded as libpq's URIs take it) rather than TCP loopback. A bare round trip costs about 19 µs less CPU
# that way (client and server together); in the stack bench the CPU per incident did not move measurably, but the
# paced report→SMS p50 and p99 fell by a tenth to a third (bench/README.md, sessions 30–31). Containers and
# clusters set their own URLs.
LOCAL_SOCKET_HOST = "%2Fvar%2Frun%2Fpostgresql"


def local_database_url(role: str, database: str | None = None, port: int = 5432) -> str:
    """deploy/local's database of `role` (password = role name, the development default) over the Unix socket."""
    return f"postgresql://{role}:{role}@{LOCAL_SOCKET_HOST}:{port}/{database or role}"


def shared_env(name: str) -> AliasChoices:
    """Read a field from an un-prefixed, stack-wide variable."""
    return AliasChoices(name)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    env: Literal["dev", "test", "production"] = Field(validation_alias=shared_env("ENV"))
    log_level: str = Field("INFO", validation_alias=shared_env("LOG_LEVEL"))
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias=shared_env("KAFKA_BOOTSTRAP"))
    # Lets tests run isolated copies of the contract topics on the shared broker.
    topic_prefix: str = Field("", validation_alias=shared_env("KAFKA_TOPIC_PREFIX"))

    # ---- bearer tokens (shared/auth.py) ----
    # HS256 key, dev and test only (unset there: the published DEV_JWT_SECRET). Outside them it must stay unset.
    auth_jwt_secret: SecretStr = Field(SecretStr(""), validation_alias=shared_env("AUTH_JWT_SECRET"))
    # The identity provider's JWKS (OIDC `jwks_uri`): when set, tokens are RS256/ES256 verified against it (any
    # ENV); required outside dev and test. Keys are cached and re-fetched, so the provider rotates them freely.
    auth_jwks_url: str | None = Field(None, validation_alias=shared_env("AUTH_JWKS_URL"))
    auth_jwks_algorithms: str = Field("RS256,ES256", validation_alias=shared_env("AUTH_JWKS_ALGORITHMS"))
    auth_jwks_cache_seconds: float = Field(300.0, gt=0, validation_alias=shared_env("AUTH_JWKS_CACHE_SECONDS"))
    auth_jwt_issuer: str = Field(DEV_JWT_ISSUER, min_length=1, validation_alias=shared_env("AUTH_JWT_ISSUER"))
    auth_jwt_audience: str = Field(DEFAULT_JWT_AUDIENCE, min_length=1,
                                   validation_alias=shared_env("AUTH_JWT_AUDIENCE"))
    # A token living longer than this (exp - iat, or exp - now without iat) is refused.
    auth_jwt_max_lifetime_seconds: int = Field(DEFAULT_JWT_MAX_LIFETIME_SECONDS, gt=0,
                                               validation_alias=shared_env("AUTH_JWT_MAX_LIFETIME_SECONDS"))
    # Clock skew tolerated on exp/iat/nbf between the identity provider and us.
    auth_jwt_leeway_seconds: int = Field(0, ge=0, le=300, validation_alias=shared_env("AUTH_JWT_LEEWAY_SECONDS"))
    # Revoked tokens: a text file of `jti`s, one per line (# comments), read by every process of every service and
    # re-read when it changes. Required outside dev and test (mount the same file into each).
    auth_jti_denylist_file: str | None = Field(None, validation_alias=shared_env("AUTH_JTI_DENYLIST_FILE"))
    # Refuse tokens without a `jti` (which the deny-list could not revoke).
    auth_jwt_require_jti: bool = Field(False, validation_alias=shared_env("AUTH_JWT_REQUIRE_JTI"))

    clock_mode: Literal["real", "virtual"] = Field("real", validation_alias=shared_env("CLOCK_MODE"))
    clock_speed: float = Field(1.0, validation_alias=shared_env("CLOCK_SPEED"), gt=0)
    # Where followers read the stack's virtual clock (supervision owns it).
    clock_url: str = Field("http://127.0.0.1:8003/v1/clock", validation_alias=shared_env("CLOCK_URL"))

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_pool_min: int = 1
    db_pool_max: int = 8
    # Plan each prepared statement once (shared/db/pool.py): each role sets it (shared/cli.py, GENERIC_PLAN_ROLES).
    db_generic_plans: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = Field(1, ge=1, le=32)
    # Several API processes on one port (SO_REUSEPORT; the kernel spreads connections among them), each supervised
    # and killed alone: the replicas of deploy/local/processes.txt. Off by default, so a second stack started by
    # mistake on a taken port fails instead of sharing it.
    http_reuse_port: bool = False
    # The worker roles (consume, relay, ticker, deliver, ...) serve no HTTP: with a port here each serves its Prometheus
    # metrics on HTTP_HOST:METRICS_PORT/metrics (shared/metrics.py). 0 (the default): not served. One process per
    # pod, every worker pod on the same port; on one machine, each role its own port. The api role ignores it (its
    # metrics are on its HTTP port).
    metrics_port: int = Field(0, ge=0, le=65535)
    # The niceness the worker roles take at start (consume, relay, deliver, resumer, fetcher; not the APIs, not the
    # ticker: shared/cli.py). On shared cores the APIs keep answering while the workers are busy: under a backlog the
    # consumers took the CPU and intake accepted reports at a tenth of its own /health rate (bench/stack_e2e.py, the
    # API's share). The workers' backlog waits in Kafka and the outboxes, nothing is lost; a report turned away is.
    # 0 leaves the scheduler's default.
    worker_nice: int = Field(10, ge=0, le=19, validation_alias=shared_env("WORKER_NICE"))
    # How long a relay or a deliverer, woken by a commit, waits for the commits that follow before it reads what is
    # due (milliseconds): one read, one produce request and one mark for all of them instead of each. Under a
    # moderate load each woke for every event (bench/README.md); under full load their batches are full and nobody
    # waits. Adds at most this much per relay or deliverer on a case's way to its owner. 0: each commit at once.
    # (A consumer does not wait: holding its fetch back did not lower its CPU per event, and the broker's fetch wait
    # is also its long poll, so a short one has an idle consumer fetch dozens of times a second.)
    coalesce_ms: int = Field(20, ge=0, le=1000, validation_alias=shared_env("COALESCE_MS"))
    consumer_max_attempts: int = 3
    outbox_poll_seconds: float = 0.5

    @property
    def is_dev(self) -> bool:
        """dev or test: the published development secrets, HS256 tokens and the virtual clock are allowed."""
        return self.env in DEV_ENVS

    def jwks_algorithms(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.auth_jwks_algorithms.split(",") if a.strip())

    def dev_secrets(self) -> list[str]:
        """Names of secrets still at their published development value; subclasses add theirs."""
        return ["AUTH_JWT_SECRET"] if self.auth_jwt_secret.get_secret_value() == DEV_JWT_SECRET else []

    def signing_secrets(self) -> dict[str, SecretStr]:
        """The HMAC secrets this process signs or verifies with (at least 32 bytes outside dev and test);
        subclasses add theirs. AUTH_JWT_SECRET is not one of them outside dev and test: it must be unset there."""
        return {}

    def dev_database_password(self) -> bool:
        """The database URL still carries the development password (the one in this class's default URL)."""
        default = type(self).model_fields["database_url"].default
        dev = urlsplit(default).password if isinstance(default, str) else None
        return dev is not None and urlsplit(self.database_url).password == dev

    def refusals(self) -> list[str]:
        """Why this configuration may not run outside dev and test (empty: it may)."""
        reasons = []
        left = self.dev_secrets()
        if left:
            reasons.append(f"still the published development secrets: {', '.join(left)}")
        if self.auth_jwt_secret.get_secret_value() and "AUTH_JWT_SECRET" not in left:
            reasons.append("AUTH_JWT_SECRET is set, but HS256 tokens signed with a shared secret are accepted in "
                           "dev and test only: unset it (tokens come from the identity provider, AUTH_JWKS_URL)")
        for name, secret in self.signing_secrets().items():
            size = len(secret.get_secret_value().encode())
            if size < MIN_SECRET_BYTES and name not in left:
                reasons.append(f"{name} is {size} bytes; at least {MIN_SECRET_BYTES} random bytes are needed "
                               "(e.g. `openssl rand -hex 32`)")
        if not self.auth_jwks_url:
            reasons.append("AUTH_JWKS_URL is not set: outside dev and test, tokens are RS256/ES256 from the city's "
                           "identity provider, verified against its JWKS (its OIDC jwks_uri)")
        elif urlsplit(self.auth_jwks_url).scheme != "https":
            reasons.append("AUTH_JWKS_URL must be an https URL outside dev and test")
        if self.auth_jwt_issuer == DEV_JWT_ISSUER:
            reasons.append(f"AUTH_JWT_ISSUER is the development issuer {DEV_JWT_ISSUER!r}: set the identity "
                           "provider's issuer (the `iss` of its tokens)")
        if not self.auth_jti_denylist_file:
            reasons.append("AUTH_JTI_DENYLIST_FILE is not set: outside dev and test, token revocation must be "
                           "possible (an empty file is fine)")
        if self.clock_mode == "virtual":
            reasons.append("CLOCK_MODE=virtual is for the demo and tests: set CLOCK_MODE=real")
        if not is_loopback(self.http_host) and self.dev_database_password():
            prefix = self.model_config.get("env_prefix", "").upper()
            reasons.append(f"{prefix}HTTP_HOST={self.http_host} serves beyond this machine with the development "
                           f"database password in {prefix}DATABASE_URL: set a real password")
        return reasons

    @field_validator("auth_jwks_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: str) -> str:
        algorithms = [a.strip() for a in value.split(",") if a.strip()]
        if not algorithms or any(a not in ASYMMETRIC_ALGORITHMS for a in algorithms):
            raise ValueError(f"AUTH_JWKS_ALGORITHMS takes a comma-separated list of {', '.join(ASYMMETRIC_ALGORITHMS)}"
                             " (never HS*: the identity provider's tokens are verified with its public keys)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _env_is_required(cls, data: object) -> object:
        if isinstance(data, dict) and not str(data.get("ENV", data.get("env", "")) or "").strip():
            raise ValueError(f"ENV is not set: {ENV_HELP}")
        return data

    @model_validator(mode="after")
    def _fail_closed(self) -> ServiceSettings:
        if self.is_dev and not self.auth_jwt_secret.get_secret_value():
            self.auth_jwt_secret = SecretStr(DEV_JWT_SECRET)
        if empty := [name for name, secret in self.signing_secrets().items() if not secret.get_secret_value()]:
            raise ValueError(f"empty secrets (anyone could sign with them): {', '.join(empty)}")
        path = self.auth_jti_denylist_file
        if path and not os.access(path, os.R_OK):
            raise ValueError(f"AUTH_JTI_DENYLIST_FILE={path} is not a readable file (create it empty if no token "
                             "is revoked yet)")
        if not self.is_dev and (reasons := self.refusals()):
            raise ValueError(f"ENV={self.env} forbids this configuration:\n" + "\n".join(f"  - {r}" for r in reasons))
        return self


def refusal_message(exc: ValidationError, settings: type[BaseSettings] | None = None) -> str:
    """A settings error as an operator reads it: each reason with the variable it names, no input values
    (pydantic's own text repeats the whole input, secrets included)."""
    prefix = str((settings.model_config.get("env_prefix") if settings else "") or "").upper()
    fields = settings.model_fields if settings else {}
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        loc = ".".join(str(part) for part in error.get("loc", ()))
        name = f"{prefix}{loc.upper()}" if loc in fields else loc  # aliases (ENV, AUTH_*) are the names already
        lines.append(f"{name}: {message}" if name else message)
    return f"{exc.title} refuses to start:\n" + "\n".join(lines)
