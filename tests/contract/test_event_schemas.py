"""The event models are the contract between services: a change to any JSON Schema fails here until the
snapshot is regenerated on purpose (`UPDATE_SNAPSHOTS=1 make test-unit`) and the change is reviewed."""

import json
import os
from pathlib import Path

import pytest

from shared.events import EVENT_MODELS, Envelope

SNAPSHOTS = Path(__file__).parent / "schemas"
CONTRACT = {**{t: m for t, m in EVENT_MODELS.items()}, "envelope": Envelope}


def schema_of(model) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_schema_matches_its_snapshot(name):
    path = SNAPSHOTS / f"{name}.json"
    current = schema_of(CONTRACT[name])
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(current, encoding="utf-8")
    assert path.exists(), f"no snapshot for {name}: run with UPDATE_SNAPSHOTS=1 to create it"
    assert path.read_text(encoding="utf-8") == current, f"the {name} contract changed"


def test_every_snapshot_still_has_a_model():
    assert {p.stem for p in SNAPSHOTS.glob("*.json")} == set(CONTRACT)


def test_event_types_follow_the_naming_convention():
    for event_type in EVENT_MODELS:
        service, aggregate, verb = event_type.split(".")
        assert service in {"intake", "routing", "supervision", "notifications"}
        # "unroutable" is the one state-like name the contract (DESIGN.md §4) fixes.
        assert verb.endswith("ed") or verb == "unroutable", event_type


def test_the_asyncapi_document_is_generated_from_the_models():
    """DESIGN.md §4: an AsyncAPI document describes the topics; it is rendered from the same models, and the
    committed copy is regenerated on purpose like the snapshots."""
    from shared.events.asyncapi import document, render

    path = Path(__file__).parent / "asyncapi.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(render(), encoding="utf-8")
    assert path.read_text(encoding="utf-8") == render(), (
        "the bus changed (an event model, a topic or a consumer's handlers): regenerate the document with "
        "`.venv/bin/python -m shared.events.asyncapi > tests/contract/asyncapi.json` "
        "(or `UPDATE_SNAPSHOTS=1 make test-unit`) and review the diff")
    described = {m["name"] for m in document()["components"]["messages"].values()}
    assert described == set(EVENT_MODELS)


def test_the_asyncapi_document_is_valid_asyncapi_3():
    """Checked against the specification's own JSON Schema (asyncapi/spec-json-schemas, Apache-2.0, commit 7dd3990,
    schemas/3.0.0-without-$id.json, committed as asyncapi-3.0.0.schema.json): bindings, operations and servers
    included."""
    import jsonschema_rs

    from shared.events.asyncapi import document

    schema = json.loads((Path(__file__).parent / "asyncapi-3.0.0.schema.json").read_text(encoding="utf-8"))
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message[:200]}"
              for e in jsonschema_rs.Draft7Validator(schema).iter_errors(document())]
    assert not errors, "\n".join(errors[:10])
