"""Riding out the dependencies (shared/resilience.py, issue 17 item 1): which errors mean "Postgres or Kafka is
away" (and are waited out) and which are bugs (and are raised); the capped, jittered backoff; one log line when
an outage starts and one when it ends, however many attempts and loops; a stop ends the wait. The clock and the
sleeps are injected: nothing here really waits. And an API answers 503 problem+json with Retry-After, never a
500, while its database is away."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
)
from fastapi import APIRouter
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from services.supervision.config import SupervisionSettings
from shared.access import public
from shared.problems import PROBLEM_JSON
from shared.resilience import (
    KAFKA,
    POSTGRES,
    RETRY_AFTER_SECONDS,
    Backoff,
    Outages,
    QuietRetries,
    RideOut,
    Stopped,
    first_of,
    is_transient,
    ride_out,
    unavailable,
    watch_kafka,
)
from shared.settings import DEV_JWT_SECRET
from shared.web import create_service_app

# ---- which errors are a dependency away -----------------------------------------------------------------------

POSTGRES_AWAY = [
    asyncpg.CannotConnectNowError("the database system is starting up"),  # crash recovery after a restart
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.ConnectionFailureError("server closed the connection unexpectedly"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),  # a pooled connection it dropped
    ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    BrokenPipeError(errno.EPIPE, "Broken pipe"),
    TimeoutError(),  # asyncpg's connect timeout, a pool acquire's
    socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    OSError(errno.EHOSTUNREACH, "No route to host"),
    # A FATAL read on an idle pooled connection before its close: whoever takes it in between gets this.
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
]

KAFKA_AWAY = [
    KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]"),
    KafkaTimeoutError(),
    NodeNotReadyError(),
    RequestTimedOutError(),
]

NOT_AWAY = [
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.UndefinedTableError('relation "outbox" does not exist'),  # not migrated: a person must act
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.InterfaceError("pool is closed"),  # the process is stopping
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),  # a bug
    TopicAuthorizationFailedError(),
    FileNotFoundError(errno.ENOENT, "No such file or directory"),
    PermissionError(errno.EACCES, "Permission denied"),
    ValueError("bad"),
    KeyError("x"),
]


@pytest.mark.parametrize("exc", POSTGRES_AWAY, ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_postgres_away_is_waited_out(exc: BaseException) -> None:
    assert unavailable(exc) == POSTGRES
    assert is_transient(exc)


@pytest.mark.parametrize("exc", KAFKA_AWAY, ids=lambda e: type(e).__name__)
def test_kafka_away_is_waited_out(exc: BaseException) -> None:
    assert unavailable(exc) == KAFKA


@pytest.mark.parametrize("exc", NOT_AWAY, ids=lambda e: f"{type(e).__name__}:{e}"[:60])
def test_anything_else_is_raised_not_waited_for(exc: BaseException) -> None:
    assert unavailable(exc) is None
    assert not is_transient(exc)


def test_a_plain_socket_error_counts_against_the_dependency_the_step_talks_to() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    assert unavailable(refused, default=KAFKA) == KAFKA
    assert unavailable(asyncpg.CannotConnectNowError("starting up"), default=KAFKA) == POSTGRES


def test_an_error_raised_from_an_outage_and_a_group_of_outages_are_outages() -> None:
    try:
        try:
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        except asyncpg.CannotConnectNowError as away:
            raise RuntimeError("could not load the calendar") from away
    except RuntimeError as wrapped:
        assert unavailable(wrapped) == POSTGRES
    assert unavailable(ExceptionGroup("passes", [asyncpg.AdminShutdownError("x"), ConnectionResetError()])) \
        == POSTGRES
    assert unavailable(ExceptionGroup("passes", [asyncpg.AdminShutdownError("x"), ValueError("bug")])) is None


# ---- the backoff ------------------------------------------------------------------------------------------------

def test_backoff_doubles_from_the_first_delay_up_to_its_cap() -> None:
    backoff = Backoff(first=0.1, cap=2.0)
    assert [backoff.ceiling(n) for n in range(1, 8)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0])
    assert backoff.ceiling(10_000) == 2.0  # no overflow however long the outage


def test_backoff_jitter_stays_between_half_the_ceiling_and_the_ceiling() -> None:
    backoff = Backoff(first=0.1, cap=2.0)
    for attempt in (1, 3, 9):
        ceiling = backoff.ceiling(attempt)
        assert backoff.delay(attempt, rand=lambda: 0.0) == pytest.approx(ceiling / 2)
        assert backoff.delay(attempt, rand=lambda: 0.999999) == pytest.approx(ceiling, rel=1e-5)
    delays = {Backoff().delay(6) for _ in range(50)}  # the real random source: replicas do not retry in step
    assert len(delays) > 40 and all(1.0 <= d <= 2.0 for d in delays)


# ---- riding out: retries, one line per outage, stop ---------------------------------------------------------------

class FakeTime:
    """A clock that moves only when the fake sleep is awaited."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, exc: BaseException, result: Any = "done") -> Any:
    calls = {"n": 0}

    async def step() -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc
        return result

    step.calls = calls  # type: ignore[attr-defined]
    return step


async def test_ride_out_retries_with_backoff_and_logs_the_outage_once_and_its_end_once() -> None:
    time = FakeTime()
    outages = Outages(clock=time.clock)
    step = failing(7, asyncpg.CannotConnectNowError("the database system is starting up"))
    with capture_logs() as logs:
        result = await ride_out(step, outages=outages, sleep=time.sleep, rand=lambda: 1.0,
                                backoff=Backoff(first=0.1, cap=1.0))
    assert result == "done" and step.calls["n"] == 8
    assert time.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])  # capped
    assert [line["event"] for line in logs] == ["postgres_unavailable", "postgres_recovered"]
    unavailable_line, recovered = logs
    assert unavailable_line["error_type"] == "CannotConnectNowError"
    assert "starting up" in unavailable_line["error"]
    assert recovered["outage_seconds"] == pytest.approx(4.5)
    assert recovered["failed_attempts"] == 7
    assert not outages[POSTGRES].down


async def test_a_bug_is_raised_at_once_without_waiting() -> None:
    time = FakeTime()
    step = failing(1, asyncpg.UniqueViolationError("duplicate key"))
    with capture_logs() as logs, pytest.raises(asyncpg.UniqueViolationError):
        await ride_out(step, outages=Outages(clock=time.clock), sleep=time.sleep)
    assert time.sleeps == [] and logs == []


async def test_several_loops_of_one_process_log_one_outage_between_them() -> None:
    time = FakeTime()
    outages = Outages(clock=time.clock)
    away = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    riders = [RideOut(outages=outages, sleep=time.sleep, rand=lambda: 0.5) for _ in range(4)]
    with capture_logs() as logs:
        for _ in range(5):
            for rider in riders:
                assert await rider.failed(away, began=time.now)
        for rider in riders:
            rider.succeeded()
    assert [line["event"] for line in logs] == ["postgres_unavailable", "postgres_recovered"]
    assert logs[1]["failed_attempts"] == 20


async def test_an_attempt_begun_before_the_recovery_starts_no_new_outage() -> None:
    time = FakeTime()
    outages = Outages(clock=time.clock)
    away = asyncpg.AdminShutdownError("terminating connection due to administrator command")
    fast, slow = (RideOut(outages=outages, sleep=time.sleep) for _ in range(2))
    with capture_logs() as logs:
        began_slow = time.now
        await fast.failed(away, began=time.now)
        time.now += 1
        fast.succeeded()                       # the database is back
        await slow.failed(away, began=began_slow)  # a request that was in flight through the outage
        time.now += 30
        await slow.failed(away, began=time.now)    # a new outage
    assert [line["event"] for line in logs] == ["postgres_unavailable", "postgres_recovered",
                                                "postgres_unavailable"]


async def test_kafka_and_postgres_outages_are_told_apart() -> None:
    time = FakeTime()
    outages = Outages(clock=time.clock)
    rider = RideOut(outages=outages, sleep=time.sleep, default=KAFKA)
    with capture_logs() as logs:
        await rider.failed(KafkaConnectionError("Unable to bootstrap"))
        await rider.failed(ConnectionRefusedError())  # the producer's socket: Kafka's
        await rider.failed(asyncpg.CannotConnectNowError("the database system is starting up"))
        rider.succeeded()
    assert sorted(line["event"] for line in logs) == ["kafka_recovered", "kafka_unavailable",
                                                      "postgres_recovered", "postgres_unavailable"]


async def test_a_stop_ends_the_wait_at_once() -> None:
    stop = asyncio.Event()
    step = failing(10**9, ConnectionRefusedError())
    waiting = asyncio.create_task(ride_out(step, stop=stop, outages=Outages(),
                                           backoff=Backoff(first=3600, cap=3600)))
    await asyncio.sleep(0)
    assert not waiting.done()
    stop.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(waiting, timeout=5)  # not an hour
    with pytest.raises(Stopped):  # told to stop before it starts: no attempt at all
        await ride_out(step, stop=stop, outages=Outages())


async def test_first_of_returns_when_any_event_is_set() -> None:
    a, b = asyncio.Event(), asyncio.Event()
    b.set()
    await asyncio.wait_for(first_of(a, b), timeout=5)
    await first_of(a, timeout=0)


# ---- the libraries' own lines: folded into the outage's -----------------------------------------------------------

def record(name: str, level: int, msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_asyncpgs_floor_retries_are_dropped_when_they_are_an_outage() -> None:
    quiet = QuietRetries(outages=Outages())
    floor = "Failed to restore the pool connection floor; retrying"
    assert not quiet.filter(record("asyncpg.pool", logging.WARNING, floor, exc=ConnectionRefusedError()))
    assert not quiet.filter(record("asyncpg.pool", logging.WARNING, floor,
                                   exc=asyncpg.CannotConnectNowError("the database system is starting up")))
    assert quiet.filter(record("asyncpg.pool", logging.WARNING, floor,
                               exc=asyncpg.InvalidPasswordError("password authentication failed")))
    assert quiet.filter(record("asyncpg.pool", logging.WARNING, "something else"))


def test_aiokafkas_retries_while_the_broker_is_away_are_one_outage_line() -> None:
    time = FakeTime()
    outages = Outages(clock=time.clock)
    quiet = QuietRetries(clock=time.clock, outages=outages)
    lines = [("aiokafka", "Unable connect to node with id %s: %s", (1, "[Errno 111] Connect call failed")),
             ("aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s",
              (1, "KafkaConnectionError: Connection at 127.0.0.1:9092 closed")),
             ("aiokafka.consumer.group_coordinator", "Marking the coordinator dead (node %s)for group %s.",
              (1, "routing")),
             ("aiokafka.producer.sender", "Got error produce response: %s", ("KafkaConnectionError: closed",))]
    with capture_logs() as logs:
        for _ in range(300):  # a minute of a consumer and a producer retrying
            for name, msg, args in lines:
                assert not quiet.filter(record(name, logging.WARNING, msg, *args))
            time.now += 0.2
    assert [line["event"] for line in logs] == ["kafka_unavailable"]
    assert outages[KAFKA].down and outages[KAFKA].failures == 1200


def test_aiokafkas_other_warnings_pass_once_a_minute_each_and_other_libraries_untouched() -> None:
    time = FakeTime()
    quiet = QuietRetries(every=60, clock=time.clock, outages=Outages(clock=time.clock))
    commit = ("aiokafka.consumer.group_coordinator", logging.ERROR, "OffsetCommit failed before join, ignoring: %s")
    passed = []
    for _ in range(100):
        passed.append(quiet.filter(record(*commit, "RebalanceInProgressError")))
        time.now += 3
    assert passed.count(True) == 5  # 300 s of it: one line a minute
    assert all(quiet.filter(record("uvicorn.error", logging.ERROR, "boom")) for _ in range(3))


async def test_watch_kafka_ends_the_outage_once_the_broker_answers() -> None:
    time = FakeTime()
    outages = Outages(clock=time.clock)
    stop = asyncio.Event()
    answers = iter([ConnectionRefusedError(), ConnectionRefusedError(), None])

    async def probe() -> None:
        if (answer := next(answers)) is not None:
            raise answer

    with capture_logs() as logs:
        watching = asyncio.create_task(watch_kafka("127.0.0.1:9092", stop, outages=outages, probe=probe,
                                                   sleep=time.sleep))
        await asyncio.sleep(0)
        assert logs == []  # nothing to watch while the broker answers
        outages[KAFKA].failed(KafkaConnectionError("Connection at 127.0.0.1:9092 closed"))
        for _ in range(20):
            await asyncio.sleep(0)
        stop.set()
        await asyncio.wait_for(watching, timeout=5)
    assert [line["event"] for line in logs] == ["kafka_unavailable", "kafka_recovered"]
    assert logs[1]["outage_seconds"] == pytest.approx(sum(time.sleeps), abs=0.001) and len(time.sleeps) == 2
    assert not outages[KAFKA].down


# ---- an API while its database is away: 503 with Retry-After, never a 500 --------------------------------------

def failing_routes() -> APIRouter:
    router = APIRouter()
    errors: dict[str, Exception] = {
        "starting": asyncpg.CannotConnectNowError("the database system is starting up"),
        "terminated": asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        "dropped": asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        "closed": asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        "refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
        "bug": asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        "file": FileNotFoundError(errno.ENOENT, "No such file or directory: '/secret/path'"),
    }

    @router.get("/v1/fail/{kind}")
    async def fail(kind: str) -> None:
        raise errors[kind]

    return router


def started_app() -> TestClient:
    async def start() -> Any:
        async def close() -> None:
            pass
        return SimpleNamespace(settings=SupervisionSettings(), pool=None, close=close)

    app = create_service_app("probe", "Probe", start, [failing_routes()], jwt_secret=DEV_JWT_SECRET,
                             access={("GET", "/v1/fail/{kind}"): public()})
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("kind", ["starting", "terminated", "dropped", "closed", "refused"])
def test_an_api_answers_503_with_retry_after_while_its_database_is_away(kind: str) -> None:
    with started_app() as client, capture_logs():
        response = client.get(f"/v1/fail/{kind}")
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["status"] == 503 and problem["title"] == "Service Unavailable"
    assert "Traceback" not in response.text and "asyncpg" not in response.text


@pytest.mark.parametrize("kind", ["bug", "file"])
def test_other_errors_of_the_same_classes_stay_a_logged_500(kind: str) -> None:
    with started_app() as client, capture_logs() as logs:
        response = client.get(f"/v1/fail/{kind}")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert any(line["event"] == "unhandled_error" for line in logs)
