"""shared/metrics.py and the metrics the services keep: how a worker role serves them, and what they count."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta

from aiokafka.errors import IllegalStateError
from aiokafka.structs import TopicPartition
from prometheus_client import REGISTRY

from shared import metrics


def value(name: str, labels: dict[str, str] | None = None) -> float | None:
    return REGISTRY.get_sample_value(name, labels or {})


def test_metrics_are_served_only_with_a_port_and_a_taken_port_does_not_stop_the_role(monkeypatch):
    monkeypatch.setattr(metrics, "SERVING", False)
    calls = []
    assert metrics.serve_metrics(0, start=lambda *a, **k: calls.append((a, k))) is False
    assert calls == [] and metrics.SERVING is False

    def taken(*_, **__):
        raise OSError(errno.EADDRINUSE, "Address already in use")

    assert metrics.serve_metrics(9464, start=taken) is False and metrics.SERVING is False
    assert metrics.serve_metrics(9464, "0.0.0.0", start=lambda *a, **k: calls.append((a, k))) is True
    assert calls == [((9464,), {"addr": "0.0.0.0"})] and metrics.SERVING is True


def test_a_worker_setting_names_the_port_per_service(monkeypatch):
    from services.intake.config import IntakeSettings

    monkeypatch.setenv("ENV", "test")
    assert IntakeSettings().metrics_port == 0
    monkeypatch.setenv("INTAKE_METRICS_PORT", "9101")
    assert IntakeSettings().metrics_port == 9101


def test_consumer_outcomes_are_counted():
    before = value("consumer_events_total", {"consumer": "unit", "outcome": "applied"}) or 0
    metrics.count_events("unit", ["applied", "duplicate", "applied"])
    assert value("consumer_events_total", {"consumer": "unit", "outcome": "applied"}) == before + 2


class FakeClient:
    def __init__(self, state: dict[TopicPartition, tuple[int | None, int]]) -> None:
        self.state = state

    def assignment(self) -> set[TopicPartition]:
        return set(self.state)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.state[tp][0]

    async def position(self, tp: TopicPartition) -> int:
        if tp not in self.state:
            raise IllegalStateError("not assigned")
        return self.state[tp][1]


async def test_lag_is_per_owned_partition_and_a_lost_partition_drops_out():
    a, b = TopicPartition("intake.incidents.v1", 0), TopicPartition("intake.incidents.v1", 1)
    lag = metrics.ConsumerLag("unit-lag")
    await lag.note(FakeClient({a: (120, 100), b: (None, 0)}))  # nothing fetched from b yet: not reported
    labels = {"consumer": "unit-lag", "topic": a.topic}
    assert value("consumer_lag_records", {**labels, "partition": "0"}) == 20
    assert value("consumer_lag_records", {**labels, "partition": "1"}) is None
    await lag.note(FakeClient({b: (7, 7)}))  # a rebalance gave a to another replica
    assert value("consumer_lag_records", {**labels, "partition": "0"}) is None
    assert value("consumer_lag_records", {**labels, "partition": "1"}) == 0
    lag.forget()
    assert value("consumer_lag_records", {**labels, "partition": "1"}) is None


class FakeConn:
    def __init__(self, rows, due):
        self.rows, self.due = rows, due

    async def fetch(self, _sql):
        return self.rows

    async def fetchval(self, _sql):
        return self.due


class FakePool:
    def __init__(self, conn):
        self.conn = conn

    def acquire(self):
        pool = self

        class Acquired:
            async def __aenter__(self):
                return pool.conn

            async def __aexit__(self, *_):
                return False

        return Acquired()


class Clock:
    speed = 2.0

    def now(self) -> datetime:
        return datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def test_red_lights_per_district_and_the_ticker_overdue_come_from_two_aggregates(monkeypatch):
    from services.supervision.entrypoints import metrics as clock_metrics

    monkeypatch.setattr(clock_metrics, "MAX_DISTRICTS", 2)
    rows = [{"district": "320508", "light": "red", "clocks": 3}, {"district": "320508", "light": "green", "clocks": 9},
            {"district": "", "light": "red", "clocks": 1}, {"district": "320509", "light": "yellow", "clocks": 2},
            {"district": "320510", "light": "red", "clocks": 4}, {"district": "320511", "light": "red", "clocks": 5}]
    conn = FakeConn(rows, Clock().now() - timedelta(seconds=60))
    sampler = clock_metrics.ClockMetrics(FakePool(conn), Clock())
    await sampler.refresh()
    running = "supervision_clocks_running"
    assert value(running, {"district": "320508", "light": "red"}) == 3
    assert value(running, {"district": "320508", "light": "yellow"}) == 0
    assert value(running, {"district": "none", "light": "red"}) == 1
    assert value(running, {"district": "other", "light": "red"}) == 9  # beyond MAX_DISTRICTS
    assert value("supervision_ticker_overdue_seconds") == 30  # 60 clock seconds at speed 2
    conn.rows, conn.due = [], None  # every clock stopped, nothing due
    await sampler.refresh()
    assert value(running, {"district": "320508", "light": "red"}) == 0
    assert value("supervision_ticker_overdue_seconds") == 0
