"""Settings every service shares; each service adds its own class with its env prefix.

Names shared by the whole stack (ENV, KAFKA_BOOTSTRAP, AUTH_JWT_SECRET, CLOCK_*) are read without a
prefix so one environment drives every process; service-specific ones carry `<SERVICE>_`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "grid-dev-secret"


def shared_env(name: str) -> AliasChoices:
    """Read a field from an un-prefixed, stack-wide variable."""
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    env: Literal["dev", "test", "production"] = Field("dev", validation_alias=shared_env("ENV"))
    log_level: str = Field("INFO", validation_alias=shared_env("LOG_LEVEL"))
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias=shared_env("KAFKA_BOOTSTRAP"))
    # Lets tests run isolated copies of the contract topics on the shared broker.
    topic_prefix: str = Field("", validation_alias=shared_env("KAFKA_TOPIC_PREFIX"))
    auth_jwt_secret: SecretStr = Field(
        SecretStr(DEV_JWT_SECRET), validation_alias=shared_env("AUTH_JWT_SECRET")
    )
    clock_mode: Literal["real", "virtual"] = Field("real", validation_alias=shared_env("CLOCK_MODE"))
    clock_speed: float = Field(1.0, validation_alias=shared_env("CLOCK_SPEED"), gt=0)
    # Where followers read the stack's virtual clock (supervision owns it).
    clock_url: str = Field("http://127.0.0.1:8003/v1/clock", validation_alias=shared_env("CLOCK_URL"))

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    db_pool_min: int = 1
    db_pool_max: int = 8
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_workers: int = Field(1, ge=1, le=32)
    consumer_max_attempts: int = 3
    outbox_poll_seconds: float = 0.5

    def dev_secrets(self) -> list[str]:
        """Names of secrets still at their development default; subclasses add theirs."""
        return ["AUTH_JWT_SECRET"] if self.auth_jwt_secret.get_secret_value() == DEV_JWT_SECRET else []

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_production(self) -> ServiceSettings:
        if self.env == "production":
            if left := self.dev_secrets():
                raise ValueError(f"ENV=production refuses development secrets: {', '.join(left)}")
            if len(self.auth_jwt_secret.get_secret_value().encode()) < 32:
                raise ValueError("ENV=production needs an AUTH_JWT_SECRET of at least 32 bytes (RFC 7518)")
            if self.clock_mode == "virtual":
                raise ValueError("ENV=production refuses CLOCK_MODE=virtual")
        return self
