from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, local_database_url


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore", populate_by_name=True)

    database_url: str = local_database_url("routing")
    http_port: int = 8002
    # How often a process checks whether the grid registry changed (and reloads its locator).
    registry_check_seconds: float = 1.0
    # Two comprehensive grids may overlap by this much (digitising slivers) before an import is refused.
    overlap_tolerance_m2: float = Field(100.0, ge=0)
    # A grid import (POST /v1/grids/import, admin only) may send this many bytes, features and vertices (positions of
    # every ring); beyond: 413 or 422 naming the cap. Every other route is held to the 1 MB default. A city of 15,000
    # grids at ~50 vertices each is about 40 MB and 750,000 vertices.
    grid_import_max_bytes: int = Field(100 * 1024 * 1024, ge=1024)
    grid_import_max_features: int = Field(50_000, ge=1)
    grid_import_max_vertices: int = Field(3_000_000, ge=4)
