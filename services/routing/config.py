from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://routing:routing@127.0.0.1:5432/routing"
    http_port: int = 8002
    # How often a process checks whether the grid registry changed (and reloads its locator).
    registry_check_seconds: float = 1.0
    # Two comprehensive grids may overlap by this much (digitising slivers) before an import is refused.
    overlap_tolerance_m2: float = Field(100.0, ge=0)
