"""OpenTelemetry traces, from the HTTP request through the outbox, Kafka and each consumer to the SMS and the
12345 callback: one trace per case's chain of events.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set: then nothing of the
SDK is even imported, the API stays the no-op it is by default, and every helper here returns at once on the
module flag `ENABLED`. When set, `configure_tracing` (called once per process by shared/cli.py, and by the HTTP
app of each uvicorn worker) installs a provider (resource: service.name = the service, `grid.role` = the role)
with a batching OTLP/HTTP exporter (the standard OTEL_* variables apply: OTEL_BSP_SCHEDULE_DELAY, headers,
timeouts...), and the official instrumentations of asyncpg, httpx, aiohttp's client and aiokafka; FastAPI's is
applied to each app (`instrument_app`).

How the context travels:
- an event's envelope carries the span context it was emitted in, as the CloudEvents distributed-tracing
  extension's `traceparent`/`tracestate` attributes (shared/events/envelope.py; set by the unit of work's
  `Envelopes.emit`, within the request's or the consumer's span), so it goes through the outbox and Kafka
  inside the event itself;
- the relay publishes each record within its envelope's context (the aiokafka instrumentation's send span, and
  its Kafka headers, join the trace);
- the consumer applies each event in a span whose parent is the envelope's context (`event_span`), per event,
  also within a batch;
- a notifications delivery keeps the context of the event that made it (the `traceparent` column), and the
  deliverer sends it in a span of that trace (`delivery_span`); the aiohttp (SMS) and httpx (webhooks, 12345)
  instrumentations pass it on as a `traceparent` header.

Supervision's clock alerts (light changes, 督办) are rendered by its relay from narrow rows that keep no context:
a change the ticker makes starts a trace of its own at the consumers (it is not caused by a request); the case
it belongs to is on every span as `grid.incident_id`.

Sampling: everything with a parent is kept (ParentBased); of the spans without one, only those that begin
something (an HTTP request served, an event consumed) start a trace. A query or a send outside any of them (the
relay's and the deliverer's polling, the ticker, readiness probes) would otherwise be a trace of its own a few
times a second.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when tracing is configured: a worker without it loads no OpenTelemetry at all
    from fastapi import FastAPI
    from opentelemetry.context import Context
    from opentelemetry.trace import Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from shared.events.envelope import Envelope

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# Probes and scrapes are not traced.
EXCLUDED_URLS = "/health,/ready,/metrics"

# Whether this process traces. Every helper below returns at once while it is False (the default).
ENABLED = False
_tracer: Tracer
_propagator: TraceContextTextMapPropagator
_NOTHING = contextlib.nullcontext()


def wanted() -> bool:
    """Whether this process is to export traces: an OTLP endpoint is configured (and OTEL_SDK_DISABLED is not)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure_tracing(service: str, role: str) -> bool:
    """Install the provider, the exporter and the instrumentations once per process; nothing without an endpoint.
    Returns whether tracing is on."""
    global ENABLED, _tracer, _propagator
    if ENABLED or not wanted():
        return ENABLED
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    resource = Resource.create({SERVICE_NAME: service, "service.namespace": "grid-incidents", "grid.role": role})
    provider = TracerProvider(resource=resource, sampler=ParentBased(root=_beginnings()))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # flushed and shut down at exit (shutdown_on_exit)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider)  # the SMS channel's client
    AIOKafkaInstrumentor().instrument(tracer_provider=provider)
    _tracer = provider.get_tracer("grid")
    _propagator = TraceContextTextMapPropagator()
    ENABLED = True
    return True


def instrument_app(app: FastAPI, service: str) -> None:
    """FastAPI's official instrumentation on a service's app, when tracing is wanted (configured here if this
    process has not yet: a uvicorn worker imports the app itself). FastAPI's own native telemetry is switched
    off where the app is made (shared/web.py), so a request is one server span, not two."""
    if not configure_tracing(service, "api"):
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=trace.get_tracer_provider(), excluded_urls=EXCLUDED_URLS)


def current_traceparent() -> tuple[str | None, str | None]:
    """(traceparent, tracestate) of the current span, for an envelope or a delivery row; (None, None) when off or
    outside any sampled span."""
    if not ENABLED:
        return None, None
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().trace_flags.sampled:
        return None, None  # outside any span, or in one not recorded (a poll): what follows may begin a trace
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate") or None


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The remote context a `traceparent` names (None when it names none, or while tracing is off)."""
    if not ENABLED or not traceparent:
        return None
    from opentelemetry import trace
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    ctx = _propagator.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def event_span(consumer: str, envelope: Envelope) -> contextlib.AbstractContextManager[Any]:
    """The span one event is applied in, a child of the context it was emitted in (its envelope's)."""
    if not ENABLED:
        return _NOTHING
    from opentelemetry.trace import SpanKind

    return _tracer.start_as_current_span(
        f"{envelope.type} process", context=context_of(envelope.traceparent, envelope.tracestate),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                    "messaging.consumer.group.name": consumer, "messaging.message.id": str(envelope.id),
                    "cloudevents.event_type": envelope.type, "cloudevents.event_source": envelope.source,
                    "cloudevents.event_id": str(envelope.id), "grid.incident_id": envelope.subject})


@contextlib.contextmanager
def within(traceparent: str | None) -> Iterator[None]:
    """Run the block in the context a stored `traceparent` names (the relay's publishing of one record)."""
    ctx = context_of(traceparent)
    if ctx is None:
        yield
        return
    from opentelemetry import context as otel_context

    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def delivery_span(channel: str, traceparents: Sequence[str | None], attributes: dict[str, Any]
                  ) -> contextlib.AbstractContextManager[Any]:
    """The span of one send to a provider, in the trace of the event that caused its (first) delivery; a bundle's
    other deliveries are linked."""
    if not ENABLED:
        return _NOTHING
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    contexts = [trace.get_current_span(c).get_span_context() for tp in traceparents
                if (c := context_of(tp)) is not None]
    parent = context_of(next((tp for tp in traceparents if tp), None))
    links = [Link(c) for c in contexts[1:]]
    return _tracer.start_as_current_span(f"{channel} send", context=parent, kind=SpanKind.PRODUCER, links=links,
                                         attributes={"grid.channel": channel, **attributes})


def outbox_traceparent(payload: str) -> str | None:
    """The `traceparent` of a rendered envelope in the outbox (only looked for while tracing is on)."""
    if not ENABLED or '"traceparent"' not in payload:
        return None
    import json

    value = json.loads(payload).get("traceparent")
    return value if isinstance(value, str) else None


def _beginnings() -> Any:
    """Root sampler: a trace begins with a request served or an event applied (`event_span`); a database query,
    a Kafka send, a poll of Kafka (the aiokafka instrumentation's `<topics> receive`) or an HTTP call outside
    any of them is not recorded. (Built here: the SDK is imported only when tracing is on.)"""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind

    class Beginnings(Sampler):
        def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                          attributes: Any = None, links: Any = None, trace_state: Any = None) -> SamplingResult:
            keep = kind == SpanKind.SERVER or (kind == SpanKind.CONSUMER and not name.endswith("receive"))
            return SamplingResult(Decision.RECORD_AND_SAMPLE if keep else Decision.DROP,
                                  attributes if keep else None)

        def get_description(self) -> str:
            return "GridBeginnings"

    return Beginnings()
