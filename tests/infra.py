"""Where the suite's Postgres and Kafka come from: containers (testcontainers) on a machine with a Docker engine,
else the native servers `make test` starts (deploy/local/).

Chosen once, when tests/conftest.py is imported, before any test module reads TEST_DATABASE_URL or
KAFKA_BOOTSTRAP: with containers, those two are set to theirs. GRID_TEST_INFRA=local (or =containers) forces a
path. The pytest header says which one ran.
"""

from __future__ import annotations

import atexit
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from shared.settings import local_database_url

# The same servers as deploy/local: Postgres 15 with PostGIS, Apache Kafka 4 in KRaft mode (one node).
POSTGIS_IMAGE = "postgis/postgis:15-3.5"
KAFKA_IMAGE = "apache/kafka:4.1.1"
ADMIN = "grid_admin"  # the local stack's admin role (tests/throwaway.py), a superuser in the container too
# deploy/local's: over the Unix socket, as the services connect (shared/settings.py local_database_url).
LOCAL_ADMIN_DSN = local_database_url(ADMIN, "postgres")


@dataclass(frozen=True)
class Infrastructure:
    path: str  # "containers" or "deploy/local"
    database_url: str
    kafka_bootstrap: str

    def header(self) -> str:
        where = urlsplit(self.database_url)
        return (f"infrastructure: {self.path} (Postgres {unquote(where.hostname or '')}:{where.port}, "
                f"Kafka {self.kafka_bootstrap})")


def docker_answers(environ: Mapping[str, str] | None = None, socket_path: str = "/var/run/docker.sock") -> bool:
    """DOCKER_HOST is set, or the engine's socket accepts a connection."""
    if (os.environ if environ is None else environ).get("DOCKER_HOST"):
        return True
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def choose(environ: dict[str, str], docker: Callable[[], bool], start_containers: Callable[[], Infrastructure]
           ) -> Infrastructure:
    forced = environ.get("GRID_TEST_INFRA", "")
    if forced not in ("", "local", "containers"):
        raise ValueError(f"GRID_TEST_INFRA={forced!r}: say local or containers")
    if forced == "containers" or (forced == "" and docker()):
        return start_containers()
    return Infrastructure("deploy/local",
                          environ.get("TEST_DATABASE_URL", LOCAL_ADMIN_DSN),
                          environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_containers() -> Infrastructure:  # pragma: no cover - needs a Docker engine (none on the CI machine)
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer

    postgres = PostgresContainer(POSTGIS_IMAGE, username=ADMIN, password=ADMIN, dbname="postgres", driver=None)
    postgres.start()
    atexit.register(postgres.stop)
    # The broker advertises the host's port, so it is chosen before the start (as deploy/local/kafka.sh's
    # single node: broker and controller, topics made by the project, never on demand).
    port = _free_port()
    kafka = (DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
             .with_env("KAFKA_NODE_ID", "1").with_env("KAFKA_PROCESS_ROLES", "broker,controller")
             .with_env("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093")
             .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
             .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
             .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
             .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
             .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false").with_env("KAFKA_NUM_PARTITIONS", "6")
             .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
             .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
             .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
             .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "1")
             .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "1")
             .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"))
    kafka.start()
    atexit.register(kafka.stop)
    wait_for_logs(kafka, "Kafka Server started", timeout=120)
    host, mapped = postgres.get_container_host_ip(), postgres.get_exposed_port(5432)
    return Infrastructure("containers", f"postgresql://{ADMIN}:{ADMIN}@{host}:{mapped}/postgres",
                          f"127.0.0.1:{port}")


def provide() -> Infrastructure:
    """The suite's servers; with containers, their addresses go into the environment the test modules (and the
    service processes the e2e tests start) read."""
    chosen = choose(dict(os.environ), docker_answers, start_containers)
    if chosen.path == "containers":
        os.environ["TEST_DATABASE_URL"] = chosen.database_url
        os.environ["KAFKA_BOOTSTRAP"] = chosen.kafka_bootstrap
    return chosen
