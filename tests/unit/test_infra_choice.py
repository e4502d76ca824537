"""Which servers the suite uses (tests/infra.py): containers when a Docker engine answers, else deploy/local's."""

from __future__ import annotations

import socket

import pytest

from tests.infra import Infrastructure, choose, docker_answers

CONTAINERS = Infrastructure("containers", "postgresql://grid_admin:grid_admin@10.0.0.5:32768/postgres",
                            "127.0.0.1:40001")


def started() -> Infrastructure:
    return CONTAINERS


def no_engine() -> Infrastructure:
    raise AssertionError("containers started without a Docker engine")


def test_a_docker_engine_means_containers():
    assert choose({}, lambda: True, started) is CONTAINERS


def test_no_engine_means_the_local_servers_at_their_addresses():
    chosen = choose({"KAFKA_BOOTSTRAP": "127.0.0.1:59092"}, lambda: False, no_engine)
    assert (chosen.path, chosen.kafka_bootstrap) == ("deploy/local", "127.0.0.1:59092")
    assert chosen.database_url.endswith("@%2Fvar%2Frun%2Fpostgresql:5432/postgres")  # the Unix socket
    assert chosen.header() == "infrastructure: deploy/local (Postgres /var/run/postgresql:5432, Kafka 127.0.0.1:59092)"
    assert CONTAINERS.header() == "infrastructure: containers (Postgres 10.0.0.5:32768, Kafka 127.0.0.1:40001)"


def test_the_choice_can_be_forced_either_way():
    assert choose({"GRID_TEST_INFRA": "local"}, lambda: True, no_engine).path == "deploy/local"
    assert choose({"GRID_TEST_INFRA": "containers"}, lambda: False, started) is CONTAINERS
    with pytest.raises(ValueError, match="local or containers"):
        choose({"GRID_TEST_INFRA": "docker"}, lambda: True, started)


def test_docker_host_or_an_answering_socket_counts_as_an_engine(tmp_path):
    assert docker_answers({"DOCKER_HOST": "tcp://10.0.0.5:2375"}, str(tmp_path / "none.sock"))
    assert not docker_answers({}, str(tmp_path / "none.sock"))
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listening.bind(str(tmp_path / "docker.sock"))
        listening.listen(1)
        assert docker_answers({}, str(tmp_path / "docker.sock"))
    finally:
        listening.close()
