from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, local_database_url


class SupervisionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SUPERVISION_", extra="ignore", populate_by_name=True)

    database_url: str = local_database_url("supervision")
    http_port: int = 8003
    ticker_batch: int = 2000
    # Concurrent passes in one ticker process: the firing runs in Postgres, so two sessions use both cores
    # of the 2-core target during a catch-up (SKIP LOCKED keeps them apart).
    ticker_sessions: int = 2
    # Upper bound on how long a due light waits when no notification wakes the ticker.
    ticker_idle_seconds: float = 0.1
