"""Intake's handlers through its bus, as bootstrap wires it, over in-memory repositories (no sockets)."""

from datetime import timedelta

import pytest

from services.intake.domain import commands as c
from services.intake.domain.errors import (
    IncidentNotFound,
    InvalidMapping,
    OrderNotFound,
    SignatureReplayed,
    UnknownApiKey,
)
from services.intake.domain.hotline import MappingRule
from shared.events.routing import IncidentAssigned, Owner
from tests.support import handle
from tests.unit.intake.fakes import DEV_KEY, NOW, FakeIntake, report


def order(**overrides) -> c.AcceptHotlineOrder:
    fields = dict(order_no="GD2026112300001", title="燃气味道很重", content="楼道里有燃气味", category="0301",
                  urgency="一般", received_at=NOW - timedelta(minutes=5), lon=120.05, lat=31.1)
    return c.AcceptHotlineOrder(**{**fields, **overrides})


async def test_a_hotline_order_is_mapped_to_our_category_and_takes_the_higher_urgency():
    intake = FakeIntake()
    intake.store.mapping_rules.rules = [MappingRule("code", "0301", "safety.gas")]
    incident, created = await intake.bus.handle(order())
    assert created and incident.category == "safety.gas"
    assert incident.urgency == "urgent"  # 12345 said 一般; the category's own default is urgent
    assert incident.hotline["mapped_by"] == "code" and incident.hotline_order_no == "GD2026112300001"
    assert [e.type for e in intake.store.published] == ["intake.incident.received"]


async def test_an_unmapped_hotline_category_goes_to_triage_never_a_rejection():
    intake = FakeIntake()
    incident, _ = await intake.bus.handle(order(category="9999", title="其他", content="无法归类"))
    assert incident.category == "triage.unknown" and incident.hotline["mapped_by"] == "triage"


async def test_a_resent_order_returns_the_same_case_and_publishes_nothing_more():
    intake = FakeIntake()
    first, _ = await intake.bus.handle(order())
    again, created = await intake.bus.handle(order(title="重复推送"))
    assert again.id == first.id and not created
    assert len(intake.store.incidents.rows) == 1 and len(intake.store.published) == 1


async def test_a_hotline_event_applies_once_per_event_id():
    intake = FakeIntake()
    incident, _ = await intake.bus.handle(order())
    urge = c.ApplyHotlineEvent(order_no="GD2026112300001", event_id="ev-1", kind="urge", note="市民再次来电")
    _, applied = await intake.bus.handle(urge)
    _, applied_again = await intake.bus.handle(urge)
    assert applied and not applied_again
    assert [e.type for e in intake.store.published] == ["intake.incident.received", "intake.incident.urged"]


async def test_a_hotline_event_for_an_unknown_order_is_a_404():
    intake = FakeIntake()
    with pytest.raises(OrderNotFound) as refused:
        await intake.bus.handle(c.ApplyHotlineEvent(order_no="NOPE", event_id="ev-1", kind="urge"))
    assert refused.value.status == 404 and intake.store.hotline_events.applied == {}


async def test_a_mapping_naming_an_unknown_category_is_refused_whole_with_each_bad_row():
    intake = FakeIntake()
    intake.store.mapping_rules.rules = [MappingRule("code", "01", "city.garbage")]
    bad = (MappingRule("code", "02", "no.such"), MappingRule("name", "噪声", "city.garbage"),
           MappingRule("name", "噪声", "safety.gas"))
    with pytest.raises(InvalidMapping) as refused:
        await intake.bus.handle(c.ReplaceHotlineMapping(bad))
    assert refused.value.status == 422
    assert [e["field"] for e in refused.value.errors or []] == ["rules.0.category", "rules.2.value"]
    assert intake.store.mapping_rules.rules == [MappingRule("code", "01", "city.garbage")]


async def test_a_mapping_replaces_the_whole_table_and_comes_back_sorted():
    intake = FakeIntake()
    rules = (MappingRule("name", "燃气", "safety.gas"), MappingRule("code", "01", "city.garbage"))
    loaded = await intake.bus.handle(c.ReplaceHotlineMapping(rules))
    assert loaded == [rules[1], rules[0]] and intake.store.mapping_rules.rules == list(rules)


async def test_a_signature_seen_before_is_a_replay():
    intake = FakeIntake()
    await intake.bus.handle(c.RememberHotlineSignature("ab12"))
    with pytest.raises(SignatureReplayed) as refused:
        await intake.bus.handle(c.RememberHotlineSignature("ab12"))
    assert refused.value.status == 401


async def test_a_public_request_needs_an_issued_api_key():
    intake = FakeIntake()
    with pytest.raises(UnknownApiKey) as refused:
        await intake.bus.handle(c.SubmitPublicRequest("guessed", report(source="public")))
    assert refused.value.status == 403 and intake.store.incidents.rows == {}
    key = await intake.bus.handle(c.IssueOpen311Key("市民随手拍"))
    incident = await intake.bus.handle(c.SubmitPublicRequest(key, report(source="public")))
    assert intake.store.incidents.rows[incident.id].source == "public"
    assert intake.store.published[-1].data["actor"] == "open311:市民随手拍"
    dev = await intake.bus.handle(c.SubmitPublicRequest(DEV_KEY, report(source="public", location=None)))
    assert intake.store.published[-1].data["actor"] == "open311:dev" and dev.id in intake.store.incidents.rows


async def test_an_assignment_for_a_case_intake_never_stored_is_raised_to_be_parked():
    intake = FakeIntake()
    stray = IncidentAssigned(incident_id=report().incident_id, at=NOW, category="city.garbage", urgency="normal",
                             grid_code="320508019044001", reason="located",
                             owner=Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid"))
    with pytest.raises(IncidentNotFound):
        await handle(intake.bus, stray)
