"""shared/tracing.py: off (and not even imported) without an OTLP endpoint; when on, the trace context goes into
each envelope (the CloudEvents distributed-tracing extension), each event is applied in a child of the context it
came with, and a trace begins only with a request or an event."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared import tracing
from shared.db.unit_of_work import Envelopes
from shared.events.envelope import Envelope, Event
from tests.support import ROOT

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Pinged(Event):
    type = "test.thing.pinged"
    thing: str

    def subject(self) -> str:
        return self.thing


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 23, 9, tzinfo=UTC)


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, with a provider of the test's own (the global one is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(root=tracing._beginnings()))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "ENABLED", True)
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"), raising=False)
    monkeypatch.setattr(tracing, "_propagator", TraceContextTextMapPropagator(), raising=False)
    yield exporter
    provider.shutdown()


def test_an_envelope_without_trace_context_is_written_as_before():
    envelope = Envelope.wrap(Pinged(thing="a"), source="/test", time=FixedClock().now())
    assert b"traceparent" not in envelope.to_bytes() and b"tracestate" not in envelope.to_bytes()
    assert Envelope.model_validate_json(envelope.to_bytes()).traceparent is None


def test_an_envelope_carries_its_traceparent_through_json():
    envelope = Envelope.wrap(Pinged(thing="a"), source="/test", time=FixedClock().now(), traceparent=TRACEPARENT,
                             tracestate="grid=1")
    again = Envelope.model_validate_json(envelope.to_bytes())
    assert (again.traceparent, again.tracestate) == (TRACEPARENT, "grid=1")
    assert tracing.outbox_traceparent(envelope.model_dump_json()) is None  # off: not even looked for


def test_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not tracing.configure_tracing("routing", "consume")
    assert not tracing.ENABLED
    assert tracing.current_traceparent() == (None, None)
    envelope = Envelopes("/test", FixedClock()).emit(Pinged(thing="a"))
    assert envelope.traceparent is None
    with tracing.event_span("routing", envelope) as span:
        assert span is None
    with tracing.delivery_span("sms", [TRACEPARENT], {}) as span:
        assert span is None


def test_a_worker_loads_no_opentelemetry_while_tracing_is_off():
    probe = ("import sys, services.notifications.__main__, shared.messaging.consumer, shared.messaging.outbox; "
             "print(','.join(m for m in sys.modules if m.startswith('opentelemetry')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"ENV": "test", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""


def test_an_event_is_applied_in_a_child_of_the_context_it_came_with(exported: InMemorySpanExporter):
    cause = Envelope.wrap(Pinged(thing="case-1"), source="/intake", time=FixedClock().now(),
                          traceparent=TRACEPARENT)
    with tracing.event_span("routing", cause):
        emitted = Envelopes("/routing", FixedClock()).emit(Pinged(thing="case-1"), cause)
    [span] = exported.get_finished_spans()
    assert span.kind == SpanKind.CONSUMER and span.name == "test.thing.pinged process"
    assert span.parent is not None and span.parent.span_id == int("b7ad6b7169203331", 16)
    assert span.context.trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
    assert span.attributes is not None and span.attributes["grid.incident_id"] == "case-1"
    # What it emits carries its own span: the next consumer's span is its child.
    assert emitted.traceparent == f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"


def test_an_event_without_context_begins_a_trace(exported: InMemorySpanExporter):
    envelope = Envelope.wrap(Pinged(thing="case-1"), source="/supervision", time=FixedClock().now())
    with tracing.event_span("notifications", envelope):
        pass
    [span] = exported.get_finished_spans()
    assert span.parent is None


def test_a_send_joins_its_deliverys_trace_and_links_the_rest_of_a_bundle(exported: InMemorySpanExporter):
    other = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    with tracing.delivery_span("sms", [TRACEPARENT, None, other], {"grid.delivery_id": "d"}):
        pass
    [span] = exported.get_finished_spans()
    assert span.context.trace_id == int("0af7651916cd43dd8448eb211c80319c", 16)
    assert [f"{link.context.trace_id:032x}" for link in span.links] == [other.split("-")[1]]


def test_polling_outside_any_request_or_event_begins_no_trace(exported: InMemorySpanExporter):
    tracer = tracing._tracer
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        assert tracing.current_traceparent() == (None, None)  # an event emitted here may begin a trace downstream
    with tracer.start_as_current_span("t.intake.incidents.v1 receive", kind=SpanKind.CONSUMER):
        pass
    with tracer.start_as_current_span("t.intake.incidents.v1 send", kind=SpanKind.PRODUCER):
        pass
    assert exported.get_finished_spans() == ()
    with tracer.start_as_current_span("POST /v1/incidents", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("INSERT", kind=SpanKind.CLIENT):
            pass
    assert [s.name for s in exported.get_finished_spans()] == ["INSERT", "POST /v1/incidents"]


def test_a_relay_publishes_within_the_envelopes_context(exported: InMemorySpanExporter):
    envelope = Envelope.wrap(Pinged(thing="a"), source="/intake", time=FixedClock().now(), traceparent=TRACEPARENT)
    with tracing.within(tracing.outbox_traceparent(envelope.model_dump_json())):
        assert f"{trace.get_current_span().get_span_context().trace_id:032x}" == TRACEPARENT.split("-")[1]
    assert not trace.get_current_span().get_span_context().is_valid
