"""The four contract topics; each service publishes only on its own."""

from __future__ import annotations

INCIDENTS = "intake.incidents.v1"
ASSIGNMENTS = "routing.assignments.v1"
ALERTS = "supervision.alerts.v1"
DELIVERIES = "notifications.deliveries.v1"
ALL_TOPICS = (INCIDENTS, ASSIGNMENTS, ALERTS, DELIVERIES)
PARTITIONS = 6

_TOPIC_BY_SERVICE = {"intake": INCIDENTS, "routing": ASSIGNMENTS, "supervision": ALERTS,
                     "notifications": DELIVERIES}


def topic_for_event_type(event_type: str) -> str:
    """`intake.incident.signed` → `intake.incidents.v1`."""
    return _TOPIC_BY_SERVICE[event_type.split(".", 1)[0]]


async def ensure_topics(bootstrap: str, prefix: str = "", partitions: int = PARTITIONS) -> list[str]:
    """Create the contract topics that are missing (auto-creation is off on our broker)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [prefix + t for t in ALL_TOPICS if prefix + t not in existing]
        if missing:
            await admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
        return missing
    finally:
        await admin.close()
if __name__ == "__main__":  # python -m shared.messaging.topics
    import asyncio
    import os

    created = asyncio.run(ensure_topics(os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                                        os.environ.get("KAFKA_TOPIC_PREFIX", "")))
    print("created: " + (", ".join(created) if created else "none (all present)"))
