"""The AsyncAPI 3.0 document of the bus (DESIGN.md §4): each contract topic (its partitions and key, Kafka
bindings from shared/messaging/topics.py), who sends on it, which consumer group takes which of its events (each
service's EVENT_HANDLERS), and every event type it carries as a CloudEvents envelope whose `data` is the event's
JSON Schema. Generated from the pydantic models and the handlers, so it cannot drift from them; `tests/contract`
keeps the committed copy (`asyncapi.json`) current.

    python -m shared.events.asyncapi > tests/contract/asyncapi.json
"""

from __future__ import annotations

import json
from typing import Any

from shared.events import EVENT_MODELS, Envelope
from shared.messaging.topics import ALL_TOPICS, PARTITIONS, topic_for_event_type

PRODUCERS = {"intake.incidents.v1": "intake", "routing.assignments.v1": "routing",
             "supervision.alerts.v1": "supervision", "notifications.deliveries.v1": "notifications"}


KAFKA_BINDING = "0.5.0"
SERVICES = ("intake", "routing", "supervision", "notifications")


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def consumed_types() -> dict[str, set[str]]:
    """Event types each service's consumer group applies (its EVENT_HANDLERS; the rest of a topic it skips).
    Imported here, not at the top: the services build on shared, not the other way round."""
    import importlib

    return {service: set(importlib.import_module(f"services.{service}.service_layer.handlers").EVENT_HANDLERS)
            for service in SERVICES}


def document() -> dict[str, Any]:
    envelope = Envelope.model_json_schema()
    envelope_properties = {k: v for k, v in envelope.get("properties", {}).items() if k != "data"}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    consumers = consumed_types()
    for topic in ALL_TOPICS:
        channel = topic.replace(".", "_")
        types = sorted(t for t in EVENT_MODELS if topic_for_event_type(t) == topic)
        channels[channel] = {
            "address": topic,
            "description": f"Published by {PRODUCERS[topic]} through its outbox relay; Kafka key = the subject "
                           "(the incident id), so one case's events stay in order.",
            "messages": {_message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"} for t in types},
            "bindings": {"kafka": {"topic": topic, "partitions": PARTITIONS, "bindingVersion": KAFKA_BINDING}},
        }
        operations[f"{PRODUCERS[topic]}_publishes"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{_message_name(t)}"} for t in types],
        }
        for service, handled in consumers.items():
            taken = [t for t in types if t in handled]
            if taken:
                operations[f"{service}_consumes_{channel}"] = {
                    "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": f"{service}'s consumer group applies these once each (inbox) and skips the rest",
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{_message_name(t)}"} for t in taken],
                    "bindings": {"kafka": {"groupId": {"type": "string", "const": service},
                                           "bindingVersion": KAFKA_BINDING}},
                }
        for event_type in types:
            model = EVENT_MODELS[event_type]
            data = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in data.pop("$defs", {}).items():
                schemas[name] = definition
            schemas[model.__name__] = data
            messages[_message_name(event_type)] = {
                "name": event_type,
                "title": model.__name__,
                "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else event_type,
                "contentType": "application/cloudevents+json",
                "bindings": {"kafka": {"key": {"type": "string", "format": "uuid",
                                               "description": "the envelope's subject: the incident id"},
                                       "bindingVersion": KAFKA_BINDING}},
                "payload": {
                    "type": "object",
                    "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
                    "properties": {**envelope_properties, "type": {"const": event_type},
                                   "data": {"$ref": f"#/components/schemas/{model.__name__}"}},
                },
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Grid incidents: the event bus", "version": "1",
                 "description": "CloudEvents 1.0 in structured JSON mode on four Kafka topics (DESIGN.md §4). "
                                "The envelope's `id` is the idempotency key everywhere downstream."},
        "defaultContentType": "application/cloudevents+json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "deploy/local's broker (KAFKA_BOOTSTRAP); topics may carry "
                                             "KAFKA_TOPIC_PREFIX"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
