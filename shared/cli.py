"""One command line per service: `python -m services.<name> api|consume|relay|migrate|dead-letters ...`.

Each role is its own process so that any of them can be scaled, killed and restarted alone.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog
import typer
import uvloop
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from shared import metrics
from shared.db.migrate import migrate
from shared.logging import configure_logging
from shared.messaging.consumer import EventProcessor, run_consumer
from shared.messaging.kafka import make_consumer, make_producer
from shared.messaging.outbox import OutboxRelay
from shared.resilience import KAFKA, Stopped, close_quietly, ride_out, watch_kafka
from shared.runtime import ServiceContainer, run_until_stopped, settle_heap
from shared.settings import ServiceSettings, refusal_message
from shared.tracing import configure_tracing

# The roles whose connections plan each statement once (shared/db/pool.py): the consumers, whose statements are fixed
# and keyed by the case, where re-planning cost most (bench/README.md, session 27). Not the APIs (searches with optional
# filters), not the relays and deliverers (batch reads under a LIMIT a generic plan cannot see: supervision's joins
# its alerts to ten million clocks; their planning was a tenth of the consumers'), not the ticker.
GENERIC_PLAN_ROLES = ("consume",)
S = TypeVar("S", bound=ServiceSettings)
C = TypeVar("C", bound=ServiceContainer[Any, Any])


def processor_for(container: ServiceContainer[Any, Any]) -> EventProcessor:
    return EventProcessor(container.name, container.bus.event_handlers, container.uow, container.pool,
                          max_attempts=container.settings.consumer_max_attempts,
                          batch_handlers=container.bus.batch_handlers)


async def started_producer(bootstrap: str, stop: asyncio.Event) -> AIOKafkaProducer:
    """A started producer, once the broker answers (a fresh client per attempt: a failed start leaves one
    half-built)."""

    async def start() -> AIOKafkaProducer:
        producer = make_producer(bootstrap)
        try:
            await producer.start()
        except BaseException:
            await close_quietly(producer.stop)
            raise
        return producer

    return await ride_out(start, stop=stop, default=KAFKA)


def yield_to_the_api(niceness: int, *, attempts: int = 30) -> None:
    """Run this worker role at `niceness` (never lowered: a process started nicer stays so, and raising priority
    needs privilege). Linux's scheduler autogroups share the CPU fairly between sessions, whatever their processes'
    niceness: a role started in a session of its own (as the e2e stack and the benchmarks start them) is niced
    through its session's autogroup too; a role sharing its session with others (under a supervisor) leaves that
    group alone, or it would nice its siblings, the API among them. Without CAP_SYS_ADMIN the kernel takes one
    autogroup change per tenth of a second across the machine (EAGAIN otherwise), and a stack starts its roles
    together: each tries again, a little later, for up to `attempts` times."""
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), niceness))
    autogroup = Path("/proc/self/autogroup")
    if os.getsid(0) != os.getpid() or not autogroup.exists():
        return
    for _ in range(attempts):
        try:
            current = int(autogroup.read_text().split()[-1])
            if current < niceness:
                autogroup.write_text(str(niceness))
            return
        except BlockingIOError:  # EAGAIN: another process changed its autogroup within the last tenth of a second
            time.sleep(random.uniform(0.1, 0.3))
        except (OSError, ValueError, IndexError):
            # autogroups off, a kernel that spells them otherwise, or an empty file (the task's group is the root
            # one, not an autogroup): the process's own niceness still holds
            return
    structlog.get_logger("cli").warning("autogroup_niceness_not_set", niceness=niceness)


# A long-running role beyond api/consume/relay: (help text, loop over the service's container until `stop`).
Worker = tuple[str, Callable[[C, asyncio.Event], Awaitable[None]]]


class ServiceCli(typer.Typer):
    """A service's command line: settings that refuse to start (shared/settings.py) end it with their reasons on
    stderr and exit status 2, not a traceback (which would also show the input, secrets included)."""

    service_name = ""
    settings_class: type[ServiceSettings] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            if not exc.title.endswith("Settings"):
                raise
            print(f"{self.service_name}: {refusal_message(exc, self.settings_class)}", file=sys.stderr)
            sys.exit(2)


def import_string(path: str) -> Any:
    """`module:attribute`, imported."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def service_cli(name: str, service_dir: Path, load_settings: Callable[[], S], bootstrap: Callable[[S], Awaitable[C]],
                workers: dict[str, Worker[C]] | None = None, unyielding: tuple[str, ...] = ()) -> typer.Typer:
    """The service's roles. Its HTTP app (services.<name>.entrypoints.http:create_app) is imported by the `api`
    role only: FastAPI, the routes and their models are some 20 MiB of every worker process otherwise.
    `unyielding`: worker roles that keep the API's priority (WORKER_NICE does not apply): the ticker, whose lag is a
    target of its own and whose CPU is small."""
    cli = ServiceCli(help=f"The {name} service: one command per process role.", no_args_is_help=True)
    cli.service_name = name
    cli.settings_class = load_settings if isinstance(load_settings, type) else None

    def settings(role: str) -> S:
        s = load_settings()
        configure_logging(name, role, s.log_level)
        return s

    def run_role(role: str, body: Callable[[C, asyncio.Event], Awaitable[None]]) -> None:
        """Build the container, run the role's loop until SIGTERM/SIGINT, close everything."""
        s = settings(role)
        s.db_generic_plans = role in GENERIC_PLAN_ROLES
        if role not in unyielding:
            yield_to_the_api(s.worker_nice)
        configure_tracing(name, role)  # off (nothing imported) unless OTEL_EXPORTER_OTLP_ENDPOINT is set
        metrics.serve_metrics(s.metrics_port, s.http_host)  # off unless <SERVICE>_METRICS_PORT is set

        async def work(stop: asyncio.Event) -> None:
            # Postgres (or Kafka) away at start or at any time after: the role waits for it, it never exits.
            try:
                container = await ride_out(lambda: bootstrap(s), stop=stop)
            except Stopped:
                return
            settle_heap()
            try:
                await body(container, stop)
            except Stopped:
                pass
            finally:
                await container.close()

        # uvloop, as the APIs run under uvicorn: libuv's socket writes and callbacks cost a fraction of the
        # selector loop's, and the workers spend most of their CPU on round trips to Postgres and Kafka.
        uvloop.run(run_until_stopped(work))

    def add_worker(role: str, help_text: str, loop: Callable[[C, asyncio.Event], Awaitable[None]]) -> None:
        def command() -> None:  # no parameters: typer would turn them into command-line options
            run_role(role, loop)

        cli.command(role, help=help_text)(command)

    for role, (help_text, loop) in (workers or {}).items():
        add_worker(role, help_text, loop)

    @cli.command("migrate")
    def migrate_db() -> None:
        """Apply the forward-only migrations this database lacks."""
        s = settings("migrate")
        applied = asyncio.run(migrate(s.database_url, service_dir))
        typer.echo(f"{name}: applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))

    @cli.command()
    def api() -> None:
        """Serve the HTTP API."""
        s = settings("api")
        configure_tracing(name, "api")  # the app instruments itself (shared/web.py), in each worker process too
        import uvicorn

        factory = f"services.{name}.entrypoints.http:create_app"
        # With several workers each process imports the app itself (from the same environment).
        app: Any = import_string(factory)(s) if s.http_workers == 1 else factory
        options: dict[str, Any] = dict(host=s.http_host, port=s.http_port, log_config=None, access_log=False,
                                       loop="uvloop", http="httptools", timeout_graceful_shutdown=5)
        if s.http_reuse_port and s.http_workers == 1:
            # A replica: its own socket on the shared port, so any one of them can die and the others still answer.
            sock = socket.socket(socket.AF_INET6 if ":" in s.http_host else socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((s.http_host, s.http_port))
            sock.set_inheritable(True)
            uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])
            return
        uvicorn.run(app, factory=s.http_workers > 1, workers=s.http_workers, **options)

    @cli.command()
    def consume() -> None:
        """Apply the events this service consumes (inbox-deduplicated, manual offset commits)."""

        async def loop(container: C, stop: asyncio.Event) -> None:
            s = container.settings
            # A private topic prefix (tests, benchmarks) gets its own group: stacks sharing one broker then
            # never rebalance each other.
            watching = asyncio.create_task(watch_kafka(s.kafka_bootstrap, stop))
            clients = metrics.WatchedClients()  # lag and dead letters, while metrics are served
            sampling = asyncio.create_task(metrics.sample_consumer(name, container.pool, clients, stop)
                                           if metrics.SERVING else asyncio.sleep(0))
            try:
                topics = [s.topic_prefix + t for t in container.consumes]
                await run_consumer(lambda: clients.track(make_consumer(s.kafka_bootstrap, s.topic_prefix + name,
                                                                       topics)),
                                   processor_for(container), stop)
            finally:
                watching.cancel()
                sampling.cancel()

        run_role("consume", loop)

    @cli.command()
    def relay() -> None:
        """Publish this service's outbox to Kafka (one leader at a time)."""

        async def loop(container: C, stop: asyncio.Event) -> None:
            s = container.settings
            watching = asyncio.create_task(watch_kafka(s.kafka_bootstrap, stop))
            # The oldest unsent row's age, while metrics are served (its own task: it grows while Kafka is away).
            sampling = asyncio.create_task(metrics.sample_outbox(name, container.pool, container.outbox, stop)
                                           if metrics.SERVING else asyncio.sleep(0))
            try:
                producer = await started_producer(s.kafka_bootstrap, stop)
                try:
                    await OutboxRelay(container.pool, producer, service=name, topic_prefix=s.topic_prefix,
                                      poll_seconds=s.outbox_poll_seconds, table=container.outbox,
                                      coalesce_seconds=s.coalesce_ms / 1000).run(stop)
                finally:
                    await producer.stop()
            finally:
                watching.cancel()
                sampling.cancel()

        run_role("relay", loop)

    dead = typer.Typer(help="Parked (dead-lettered) events.", no_args_is_help=True)
    cli.add_typer(dead, name="dead-letters")

    @dead.command("list")
    def dead_list(all_: bool = typer.Option(False, "--all", help="include replayed ones")) -> None:
        """List parked events with their error."""
        from shared.messaging.inbox import list_parked

        s = settings("dead-letters")

        async def go() -> None:
            container = await bootstrap(s)
            try:
                async with container.pool.acquire() as conn:
                    for row in await list_parked(conn, name, all_):
                        typer.echo(json.dumps(row, default=str, ensure_ascii=False))
            finally:
                await container.close()

        asyncio.run(go())

    @dead.command("replay")
    def dead_replay(dead_letter_id: int | None = typer.Argument(None, help="one id; default all")) -> None:
        """Run parked events through the handlers again (the inbox still prevents doubles)."""
        s = settings("dead-letters")

        async def go() -> None:
            container = await bootstrap(s)
            try:
                for row_id, outcome in await processor_for(container).replay_parked(dead_letter_id):
                    typer.echo(f"{row_id}: {outcome}")
            finally:
                await container.close()

        asyncio.run(go())

    return cli
