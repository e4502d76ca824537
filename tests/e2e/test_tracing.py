"""One case, one trace: every role exports over OTLP/HTTP to a receiver of the test's own, and the report's trace
runs through intake's API, routing's and supervision's consumers, notifications' consumer and its deliverer's
SMS send, whose `traceparent` header reaches the SMS gateway (shared/tracing.py)."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shared.signing import sign
from tests.e2e.stack import SERVICES, Stack, eventually, running_stack
from tests.e2e.test_journey import GRID_1_WORKER, load_city, report_urgent, sms_to

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    role: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    attributes: dict[str, Any]


class OtlpReceiver:
    """POST /v1/traces (OTLP/HTTP, protobuf), decoded into spans; everything else 404."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(
                        resource.get("service.name", ""), resource.get("grid.role", ""), span.trace_id.hex(),
                        span.span_id.hex(), span.parent_span_id.hex(), span.name, span.kind,
                        {a.key: _value(a.value) for a in span.attributes}))
        with self.lock:
            self.spans.extend(received)

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    @contextmanager
    def serving(self) -> Iterator[OtlpReceiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver().serving() as receiver:
        yield receiver


@pytest.fixture
async def stack(tmp_path, topic_prefix, receiver: OtlpReceiver) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, topic_prefix, extra_env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans leave each process a tenth of a second after they end
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
    }) as stack:
        yield stack


SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP's Span.SpanKind


async def test_one_trace_from_the_report_to_the_sms(stack: Stack, receiver: OtlpReceiver):
    load_city(stack)
    async with httpx.AsyncClient(timeout=10) as http:
        incident_id = await report_urgent(http, stack)
        sms = await eventually(lambda: sms_to(http, stack, GRID_1_WORKER["phone"]))
    assert "新案件" in sms[0]["text"]

    def report_span() -> ReceivedSpan | None:
        return next((s for s in receiver.snapshot() if s.service == "intake" and s.kind == SERVER
                     and s.attributes.get("http.route") == "/v1/incidents"
                     and s.attributes.get("http.request.method", s.attributes.get("http.method")) == "POST"), None)

    report = await eventually(report_span_async(report_span))
    trace_id = report.trace_id

    # Each consumer applies its event within the trace, as a child of the span that emitted it.
    expected_processing = {("routing", "intake.incident.received process"),
                           ("supervision", "routing.incident.assigned process"),
                           ("notifications", "routing.incident.assigned process")}

    def processed_in(by_service: dict[str, list[ReceivedSpan]]) -> set[tuple[str, str]]:
        return {(s.service, s.name) for spans in by_service.values() for s in spans
                if s.kind == CONSUMER and s.name.endswith(" process")}

    def the_whole_trace() -> dict[str, list[ReceivedSpan]] | None:
        # Each process exports its spans on its own 100 ms schedule, so the deliverer's send can reach the receiver
        # before the consumer's span that caused it: wait for every span named, not only for the send.
        in_trace = [s for s in receiver.snapshot() if s.trace_id == trace_id]
        by_service = {service: [s for s in in_trace if s.service == service] for service in SERVICES}
        sends = [s for s in by_service["notifications"] if s.role == "deliver" and s.name == "sms send"]
        if all(by_service.values()) and sends and expected_processing <= processed_in(by_service):
            return by_service
        return None

    try:
        by_service = await eventually(report_span_async(the_whole_trace), timeout=30)
    except AssertionError:
        seen = {(s.service, s.role, s.name, s.trace_id == trace_id) for s in receiver.snapshot()}
        raise AssertionError(f"no trace {trace_id} through every service; spans seen: {sorted(seen)}") from None

    assert expected_processing <= processed_in(by_service)
    for spans in by_service.values():
        for span in spans:
            if span.name.endswith(" process"):
                assert span.attributes["grid.incident_id"] == incident_id
    # The relays published within the trace too (the aiokafka instrumentation's send spans).
    assert {s.role for s in by_service["intake"] if s.kind == PRODUCER} == {"relay"}
    assert {s.role for s in by_service["routing"] if s.kind == PRODUCER} == {"relay"}

    # The SMS send, and the gateway got its context as a header: the HTTP call is a child of the send span.
    send = next(s for s in by_service["notifications"] if s.name == "sms send")
    assert send.attributes["grid.incident_id"] == incident_id
    calls = [s for s in by_service["notifications"] if s.parent_span_id == send.span_id]
    assert calls and calls[0].attributes.get("http.request.method", calls[0].attributes.get("http.method")) == "POST"
    traceparent = sms[0].get("traceparent", "")
    assert traceparent.split("-")[1:3] == [trace_id, calls[0].span_id], (traceparent, trace_id)
    # Every span names a real trace: ids are what W3C says they are.
    assert len(trace_id) == 32 and uuid.UUID(trace_id)


async def test_a_12345_callback_carries_the_orders_trace(stack: Stack, receiver: OtlpReceiver):
    load_city(stack)
    body = json.dumps({"order_no": "GD-TRACE-0001", "title": "邻居装修噪声", "content": "周末早上七点开始装修",
                       "category": "邻里纠纷", "urgency": "紧急", "lon": 120.612, "lat": 31.31,
                       "received_at": "2026-11-23T09:00:00+08:00"}, ensure_ascii=False).encode()
    ts = str(int(time.time()))
    headers = {"X-Hotline-Timestamp": ts, "Content-Type": "application/json",
               "X-Hotline-Signature": sign("hotline-dev-secret", "POST", "/v1/hotline/orders", ts, body)}
    async with httpx.AsyncClient(timeout=10) as http:
        accepted = await http.post(stack.url("intake") + "/v1/hotline/orders", content=body, headers=headers)
        assert accepted.status_code == 202, accepted.text

        async def first_callback() -> list[dict] | None:
            received = (await http.get(stack.url("sms") + "/webhook", params={"order_no": "GD-TRACE-0001"})).json()
            return received or None

        callback = (await eventually(first_callback))[0]

    def order_span() -> ReceivedSpan | None:
        return next((s for s in receiver.snapshot() if s.service == "intake" and s.kind == SERVER
                     and s.attributes.get("http.route") == "/v1/hotline/orders"), None)

    trace_id = (await eventually(report_span_async(order_span))).trace_id

    def webhook_send() -> ReceivedSpan | None:
        return next((s for s in receiver.snapshot() if s.trace_id == trace_id and s.service == "notifications"
                     and s.role == "deliver" and s.name == "webhook send"), None)

    send = await eventually(report_span_async(webhook_send), timeout=30)
    assert send.attributes["grid.recipient"].startswith("12345:")
    assert callback["traceparent"].split("-")[1] == trace_id


def report_span_async(probe: Any) -> Any:
    async def run() -> Any:
        return probe()

    return run
