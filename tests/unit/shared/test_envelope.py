import time
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import EVENT_MODELS, Envelope, parse_event
from shared.events.intake import IncidentReceived, IncidentSigned, Point
from shared.messaging.topics import topic_for_event_type

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def received() -> IncidentReceived:
    return IncidentReceived(incident_id=uuid.uuid4(), at=AT, source="gridworker", category="city.garbage",
                            urgency="normal", title="垃圾", location=Point(lon=120.1, lat=30.2), reported_at=AT)


def test_envelope_is_cloudevents_structured_with_subject_as_incident_id():
    event = received()
    env = Envelope.wrap(event, source="/intake", time=AT)
    body = env.model_dump(mode="json")
    assert body["specversion"] == "1.0"
    assert body["type"] == "intake.incident.received"
    assert body["subject"] == str(event.incident_id)
    assert body["datacontenttype"] == "application/json"
    assert body["correlationid"] == str(env.id) and body["causationid"] is None


def test_round_trip_through_bytes_gives_the_same_typed_event():
    event = received()
    env = Envelope.model_validate_json(Envelope.wrap(event, source="/intake", time=AT).to_bytes())
    assert parse_event(env) == event


def test_caused_event_inherits_correlation_and_names_its_cause():
    first = Envelope.wrap(received(), source="/intake", time=AT)
    signed = IncidentSigned(incident_id=uuid.uuid4(), at=AT, actor="w1")
    second = Envelope.wrap(signed, source="/intake", time=AT, cause=first)
    assert second.correlationid == str(first.id)
    assert second.causationid == str(first.id)


def test_event_ids_are_time_ordered_so_inbox_and_outbox_rows_append():
    """UUIDv7: a consumer's inbox insert lands at its index's right edge, not in a random leaf of a year of ids."""
    before_ms = time.time_ns() // 1_000_000
    ids = [Envelope.wrap(received(), source="/intake", time=AT).id for _ in range(500)]
    assert {i.version for i in ids} == {7}
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Their order is the real time they were made (not the event's `time`, which a replay or a virtual clock sets).
    assert ids[0].int >> 80 >= before_ms


def test_unknown_field_in_event_data_is_rejected():
    env = Envelope.wrap(received(), source="/intake", time=AT)
    env.data["surprise"] = 1
    with pytest.raises(ValidationError):
        parse_event(env)


def test_every_event_type_maps_to_its_producers_topic():
    for event_type in EVENT_MODELS:
        service = event_type.split(".")[0]
        assert topic_for_event_type(event_type).startswith(service + ".")
