"""HTTP request and response bodies of intake (the API contract, DESIGN.md §6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from shared.events.intake import Urgency

# Mainland China's bounding box, generously: a point outside it is a client error.
CHINA_LON = (73.0, 135.5)
CHINA_LAT = (3.0, 54.0)
PHONE_PATTERN = r"^(\+?86[- ]?)?(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|12345)$"


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lon: float = Field(ge=CHINA_LON[0], le=CHINA_LON[1], description="WGS84 longitude inside China")
    lat: float = Field(ge=CHINA_LAT[0], le=CHINA_LAT[1], description="WGS84 latitude inside China")


class Reporter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(max_length=100)] | None = None
    phone: Annotated[str, Field(pattern=PHONE_PATTERN)] | None = None


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Literal["gridworker", "hotline", "public", "patrol", "supervisor", "sensor"]
    category: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=4000)
    urgency: Urgency = "normal"
    location: Location | None = None
    address: str | None = Field(None, max_length=500)
    grid_code: str | None = Field(None, pattern=r"^\d{15}(\d{3})?$")
    reporter: Reporter | None = None
    reported_at: datetime | None = None
    attachments: list[AnyHttpUrl] = Field(default_factory=list, max_length=20)

    @field_validator("reported_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("reported_at needs a timezone offset (e.g. +08:00 or Z)")
        return value


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    action: Literal["sign"]


class IncidentAccepted(BaseModel):
    id: uuid.UUID
    status: str
    received_at: datetime


class IncidentOut(BaseModel):
    id: uuid.UUID
    source: str
    category: str
    urgency: str
    title: str
    description: str
    status: str
    location: dict[str, float] | None
    address: str | None
    grid_code: str | None
    reporter: dict[str, Any] | None
    attachments: list[str]
    reported_at: datetime
    received_at: datetime
    owner: dict[str, Any] | None
    co_owners: list[dict[str, Any]]
    allowed_actions: list[str]
    timeline: list[dict[str, Any]]
