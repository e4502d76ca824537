"""CloudEvents 1.0 envelope (structured JSON mode) around every event on the bus.

The envelope `id` is the idempotency key downstream; `subject` (the incident id) is the Kafka key, so
one case's events stay in order on one partition.

`traceparent`/`tracestate`: the CloudEvents distributed-tracing extension, the W3C trace context the event was
emitted in (shared/tracing.py); present only while tracing is on, and left out of the JSON when absent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from shared.ids import time_ordered_id

TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


class Event(BaseModel):
    """Base of every event payload; subclasses set `type` to `<service>.<aggregate>.<past_tense>`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: ClassVar[str]

    def subject(self) -> str:
        """The Kafka key and CloudEvents subject: the case the event is about."""
        raise NotImplementedError


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    source: str = Field(pattern=r"^/[a-z]+$")
    type: str = Field(pattern=r"^[a-z]+\.[a-z_]+\.[a-z_]+$")
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]
    correlationid: str | None = None
    causationid: str | None = None
    # The CloudEvents distributed-tracing extension (W3C Trace Context); absent while tracing is off.
    # Left out when absent (never null): the schema says what it is when present.
    traceparent: Annotated[str | None, WithJsonSchema({
        "type": "string", "pattern": TRACEPARENT_PATTERN,
        "description": "CloudEvents distributed tracing: the W3C traceparent of the span the event was emitted in"})
    ] = Field(default=None, exclude_if=lambda value: value is None)
    tracestate: Annotated[str | None, WithJsonSchema({
        "type": "string", "description": "CloudEvents distributed tracing: the W3C tracestate going with it"})
    ] = Field(default=None, exclude_if=lambda value: value is None)

    @classmethod
    def wrap(cls, event: Event, *, source: str, time: datetime, cause: Envelope | None = None,
             event_id: uuid.UUID | None = None, traceparent: str | None = None,
             tracestate: str | None = None) -> Envelope:
        event_id = event_id or time_ordered_id()
        correlationid, causationid = cause.lineage() if cause else (str(event_id), None)
        # The event was validated when it was built and the rest is ours: construct without validating again
        # (supervision's relay wraps hundreds of thousands of events after a catch-up).
        return cls.model_construct(
            specversion="1.0",
            datacontenttype="application/json",
            id=event_id,
            source=source,
            type=event.type,
            subject=event.subject(),
            time=time,
            data=event.model_dump(mode="json"),
            correlationid=correlationid,
            causationid=causationid,
            traceparent=traceparent,
            tracestate=tracestate,
        )

    def lineage(self) -> tuple[str, str]:
        """(correlationid, causationid) of an event this one causes: the same conversation, this as its cause."""
        return self.correlationid or str(self.id), str(self.id)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
