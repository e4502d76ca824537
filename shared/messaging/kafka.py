"""aiokafka clients configured the one way this platform uses them."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

SESSION_TIMEOUT_MS = 6000


def make_producer(bootstrap: str) -> AIOKafkaProducer:
    # Idempotent + acks=all: a retried send never duplicates or reorders within a partition.
    return AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                            linger_ms=2, request_timeout_ms=15000)


def make_consumer(bootstrap: str, group_id: str, topics: list[str]) -> AIOKafkaConsumer:
    # Offsets are committed by hand, after the database transaction that applied the events.
    # A member killed without leaving the group holds its partitions until its session times out: 6 s (the
    # broker's group.min.session.timeout.ms) bounds that stall; heartbeats every second leave five to miss first.
    # A spurious timeout only costs a rebalance: the inbox makes a redelivered event a no-op.
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group_id,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            max_poll_records=500, session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=1000)
