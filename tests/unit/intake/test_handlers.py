"""Intake's handlers through its bus, as bootstrap wires it, over in-memory repositories (no sockets)."""

from datetime import timedelta

import pytest

from services.intake.domain import commands as c
from services.intake.domain.errors import (
    IncidentNotFound,
    InvalidMapping,
    InvalidRequest,
    NotPermitted,
    OrderNotFound,
    SignatureReplayed,
    UnknownApiKey,
)
from services.intake.domain.hotline import MappingRule
from shared.events.routing import IncidentAssigned, IncidentReassigned, IncidentUnroutable, Owner
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
    dev = await intake.bus.handle(c.SubmitPublicRequest(DEV_KEY, report(source="public", location=None,
                                                                        address="人民路1号")))
    assert intake.store.published[-1].data["actor"] == "open311:dev" and dev.id in intake.store.incidents.rows
    with pytest.raises(InvalidRequest):  # a public report says where, or it cannot be routed
        await intake.bus.handle(c.SubmitPublicRequest(key, report(source="public", location=None)))


async def test_an_assignment_for_a_case_intake_never_stored_is_raised_to_be_parked():
    intake = FakeIntake()
    stray = IncidentAssigned(incident_id=report().incident_id, at=NOW, category="city.garbage", urgency="normal",
                             grid_code="320508019044001", reason="located",
                             owner=Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid"))
    with pytest.raises(IncidentNotFound):
        await handle(intake.bus, stray)


GRID = "320508019044001"
FIRST = Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid", worker_id="w1")
SECOND = Owner(unit_id="community-1", unit_name="梅花社区", unit_kind="community")


async def signed_case(intake: FakeIntake):
    incident = await intake.bus.handle(report())
    await handle(intake.bus, IncidentAssigned(incident_id=incident.id, at=NOW, category="city.garbage",
                                              urgency="normal", grid_code=GRID, owner=FIRST, reason="located"))
    await intake.bus.handle(c.SignIncident(incident.id, c.Actor("w1", "gridworker", (GRID,), "g-1")))
    return incident


async def test_a_reassignment_after_signing_gives_the_case_to_its_new_owner_who_signs_afresh():
    """DOMAIN §4 改派: at any open state the case goes back to assigned for the new owner; the old one is out."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    await handle(intake.bus, IncidentReassigned(incident_id=incident.id, at=NOW, category="city.garbage",
                                                urgency="normal", grid_code=GRID, owner=SECOND,
                                                previous_unit_id="g-1", reason="dispatched by sup: 社区牵头"))
    case = intake.store.incidents.rows[incident.id]
    assert case.status.value == "assigned" and case.owner["unit_id"] == "community-1" and case.signed_at is None
    assert intake.store.incidents.timeline[-1].detail["previous_unit"] == "g-1"
    with pytest.raises(NotPermitted):  # the old owner can no longer act
        await intake.bus.handle(c.SignIncident(incident.id, c.Actor("w1", "gridworker", (GRID,), "g-1")))
    signed = await intake.bus.handle(c.SignIncident(incident.id, c.Actor("head", "community", ("",), "community-1")))
    assert signed.status.value == "in_progress"


async def test_a_reassignment_of_a_closed_case_changes_nothing():
    """DOMAIN §4: a closed case has no owner to change; routing refuses such a dispatch, a late event is ignored."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    worker = c.Actor("w1", "gridworker", (GRID,), "g-1")
    await intake.bus.handle(c.SubmitResult(incident.id, worker, result="已清理"))
    await intake.bus.handle(c.VerifyResult(incident.id, c.Actor("sup", "supervisor", ("",)), passed=True))
    await handle(intake.bus, IncidentReassigned(incident_id=incident.id, at=NOW, category="city.garbage",
                                                urgency="normal", grid_code=GRID, owner=SECOND, reason="late"))
    case = intake.store.incidents.rows[incident.id]
    assert case.status.value == "closed" and case.owner["unit_id"] == "g-1"


async def test_a_case_in_the_centres_queue_keeps_the_place_routing_found():
    """DESIGN §6: district supervisors work their district's fallback queue, so the case keeps its place."""
    intake = FakeIntake()
    incident = await intake.bus.handle(report(location=None, address="姑苏区某处"))
    await handle(intake.bus, IncidentUnroutable(incident_id=incident.id, at=NOW, category="city.garbage",
                                                urgency="normal", district_code="320508", reason="no grid matched"))
    case = intake.store.incidents.rows[incident.id]
    assert case.grid_code == "320508"
    assert case.visible_to(c.Actor("district-sup", "supervisor", ("320508",)))


async def hotline_case_in_progress(intake: FakeIntake):
    incident, _ = await intake.bus.handle(order(deadline=NOW + timedelta(days=5)))
    await handle(intake.bus, IncidentAssigned(incident_id=incident.id, at=NOW, category=incident.category,
                                              urgency="normal", grid_code=GRID, owner=FIRST, reason="located"))
    await intake.bus.handle(c.SignIncident(incident.id, c.Actor("w1", "gridworker", (GRID,), "g-1")))
    return incident


async def test_a_hotline_cases_extension_is_12345s_to_decide_not_a_local_supervisors():
    """DOMAIN §5 延期: for a hotline order, 12345 itself must agree to a later deadline."""
    intake = FakeIntake()
    incident = await hotline_case_in_progress(intake)
    worker = c.Actor("w1", "gridworker", (GRID,), "g-1")
    await intake.bus.handle(c.RequestExtension(incident.id, worker, amount=2, reason="需协调物业"))
    with pytest.raises(NotPermitted, match="12345"):
        await intake.bus.handle(c.DecideExtension(incident.id, c.Actor("sup", "supervisor", ("",)),
                                                  approved=True))
    _, applied = await intake.bus.handle(c.ApplyHotlineEvent(order_no="GD2026112300001", event_id="ev-ext",
                                                             kind="extension_decision", approved=True, amount=2))
    assert applied and intake.store.published[-1].type == "intake.incident.extension_decided"
    assert intake.store.published[-1].data["actor"] == "12345"


async def test_12345s_visit_result_is_taken_from_the_result_callback_on_and_the_case_is_visited_once_closed():
    """DOMAIN §7: 12345 calls the citizen back once it has our `result`; our 核查 may close the case after."""
    intake = FakeIntake()
    incident = await hotline_case_in_progress(intake)
    await intake.bus.handle(c.SubmitResult(incident.id, c.Actor("w1", "gridworker", (GRID,), "g-1"), result="已处理"))
    _, applied = await intake.bus.handle(c.ApplyHotlineEvent(
        order_no="GD2026112300001", event_id="ev-visit", kind="visit_result", contacted="yes", solved="yes",
        satisfied="basically"))
    case = intake.store.incidents.rows[incident.id]
    assert applied and case.status.value == "pending_verification" and case.visit["satisfied"] == "basically"
    await intake.bus.handle(c.VerifyResult(incident.id, c.Actor("sup", "supervisor", ("",)), passed=True))
    assert case.status.value == "visited"
    assert [e.type for e in intake.store.published[-3:]] == ["intake.incident.visited", "intake.incident.verified",
                                                             "intake.incident.closed"]


async def test_a_return_says_why_from_the_fields_list_and_routing_reads_it():
    """DOMAIN §4 退单 reasons: 非本单位职责, 非本辖区, 信息不全, 重复 (given, or read from the reason's words)."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    await intake.bus.handle(c.ReturnIncident(incident.id, c.Actor("w1", "gridworker", (GRID,), "g-1"),
                                             reason="非本辖区，位于邻网格"))
    returned = intake.store.published[-1]
    assert returned.type == "intake.incident.returned" and returned.data["kind"] == "not_our_area"
    assert intake.store.incidents.rows[incident.id].return_count == 1


async def test_referring_up_is_not_a_return():
    """上报: the case waits for the level above; no return is counted (回退率, the two-return limit)."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    case = await intake.bus.handle(c.ReferUp(incident.id, c.Actor("w1", "gridworker", (GRID,), "g-1"),
                                             reason="需街道协调"))
    assert case.status.value == "received" and case.return_count == 0
    assert intake.store.published[-1].type == "intake.incident.referred"
    assert intake.store.published[-1].data["unit_id"] == "g-1"
    await handle(intake.bus, IncidentReassigned(incident_id=incident.id, at=NOW, category="city.garbage",
                                                urgency="normal", grid_code=GRID, owner=SECOND,
                                                previous_unit_id="g-1", reason="referred up"))
    assert intake.store.incidents.rows[incident.id].owner["unit_id"] == "community-1"
