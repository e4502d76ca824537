from datetime import timedelta

import pytest

from services.intake.domain import commands as c
from services.intake.domain.commands import Actor, SignIncident
from services.intake.domain.model import IllegalTransition, Incident, NotPermitted, Status, UnknownCategory
from services.intake.service_layer import handlers
from shared.events.envelope import Envelope
from shared.events.intake import Point
from shared.events.routing import IncidentAssigned, Owner
from tests.unit.intake.fakes import NOW, FakeIntakeUoW, report

GRID = "320508019044001"
OWNER = Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid", worker_id="w1", worker_name="张三",
              worker_phone="13900000001")
WORKER = Actor("w1", "gridworker", "g-1")


async def test_reporting_stores_the_case_and_publishes_received_once():
    uow = FakeIntakeUoW()
    incident = await handlers.report_incident(report(), uow)
    assert uow.incidents.rows[incident.id].status is Status.RECEIVED
    assert [e.type for e in uow.published] == ["intake.incident.received"]
    assert uow.published[0].subject == str(incident.id)


async def test_unknown_category_stores_nothing_and_publishes_nothing():
    uow = FakeIntakeUoW()
    with pytest.raises(UnknownCategory):
        await handlers.report_incident(report(category="no.such"), uow)
    assert uow.incidents.rows == {} and uow.published == [] and uow.commits == 0


async def test_offline_report_keeps_its_past_reported_at_but_never_a_future_one():
    earlier = NOW - timedelta(hours=5)
    assert Incident.report(report(reported_at=earlier), NOW).reported_at == earlier
    assert Incident.report(report(reported_at=NOW + timedelta(hours=1)), NOW).reported_at == NOW


async def assigned_case(uow: FakeIntakeUoW) -> Incident:
    incident = await handlers.report_incident(report(), uow)
    event = IncidentAssigned(incident_id=incident.id, at=NOW, category="city.garbage", urgency="normal",
                             grid_code=GRID, owner=OWNER, reason="located")
    async with uow:
        await handlers.record_assignment(event, Envelope.wrap(event, source="/routing", time=NOW), uow)
        await uow.commit()
    return incident


async def test_assignment_records_owner_and_grid_and_allows_sign():
    uow = FakeIntakeUoW()
    incident = await assigned_case(uow)
    assert incident.status is Status.ASSIGNED and incident.owner["worker_id"] == "w1"
    assert incident.grid_code == GRID and incident.allowed_actions() == ["sign", "return", "suspend", "merge"]
    assert [t.action for t in uow.incidents.timeline] == ["received", "assigned"]


async def test_owner_signs_and_the_event_is_published():
    uow = FakeIntakeUoW()
    incident = await assigned_case(uow)
    await handlers.perform(SignIncident(incident.id, WORKER), uow)
    assert incident.status is Status.IN_PROGRESS
    assert uow.published[-1].type == "intake.incident.signed"


async def test_signing_twice_is_an_illegal_move_listing_what_is_allowed():
    uow = FakeIntakeUoW()
    incident = await assigned_case(uow)
    await handlers.perform(SignIncident(incident.id, WORKER), uow)
    published = len(uow.published)
    with pytest.raises(IllegalTransition) as exc:
        await handlers.perform(SignIncident(incident.id, WORKER), uow)
    assert exc.value.status is Status.IN_PROGRESS
    assert exc.value.allowed == ["progress", "return", "request_extension", "decide_extension", "suspend",
                                 "submit_result", "merge"]
    assert len(uow.published) == published


async def test_only_the_owner_may_sign():
    uow = FakeIntakeUoW()
    incident = await assigned_case(uow)
    with pytest.raises(NotPermitted):
        await handlers.perform(SignIncident(incident.id, Actor("w9", "gridworker", "g-9", ("320508019044",))), uow)
    with pytest.raises(NotPermitted):
        await handlers.perform(SignIncident(incident.id, Actor("boss", "supervisor", "g-1")), uow)
    assert incident.status is Status.ASSIGNED


async def test_sign_before_assignment_is_illegal():
    uow = FakeIntakeUoW()
    incident = await handlers.report_incident(report(), uow)
    with pytest.raises(IllegalTransition):
        await handlers.perform(SignIncident(incident.id, WORKER), uow)


async def test_same_idempotency_key_and_body_returns_the_first_case_and_publishes_once():
    uow = FakeIntakeUoW()
    key = handlers.IdempotencyKey("app-1", "k-1", '{"title":"a"}')
    first = await handlers.report_incident(report(), uow, key)
    again = await handlers.report_incident(report(), uow, key)
    assert again.id == first.id
    assert len(uow.incidents.rows) == 1 and len(uow.published) == 1


async def test_same_idempotency_key_with_another_body_is_a_conflict():
    uow = FakeIntakeUoW()
    await handlers.report_incident(report(), uow, handlers.IdempotencyKey("app-1", "k-1", '{"title":"a"}'))
    with pytest.raises(handlers.IdempotencyConflict):
        await handlers.report_incident(report(), uow, handlers.IdempotencyKey("app-1", "k-1", '{"title":"b"}'))
    assert len(uow.incidents.rows) == 1


async def test_idempotency_keys_are_scoped_per_caller():
    uow = FakeIntakeUoW()
    await handlers.report_incident(report(), uow, handlers.IdempotencyKey("app-1", "k-1", "{}"))
    await handlers.report_incident(report(), uow, handlers.IdempotencyKey("app-2", "k-1", "{}"))
    assert len(uow.incidents.rows) == 2


async def test_a_near_report_of_the_same_category_is_linked_as_a_duplicate():
    uow = FakeIntakeUoW()
    master = await handlers.report_incident(report(), uow)
    near = await handlers.report_incident(report(location=Point(lon=120.0503, lat=31.1002)), uow)  # ~35 m
    far = await handlers.report_incident(report(location=Point(lon=120.06, lat=31.1)), uow)         # ~950 m
    other = await handlers.report_incident(report(category="safety.gas"), uow)
    assert near.duplicate_of == master.id
    assert far.duplicate_of is None and other.duplicate_of is None
    assert uow.published[1].data["duplicate_of"] == str(master.id)


async def test_duplicates_are_merged_into_their_master_when_it_closes():
    uow = FakeIntakeUoW()
    master = await assigned_case(uow)
    duplicate = await handlers.report_incident(report(), uow)
    assert duplicate.duplicate_of == master.id
    await handlers.perform(SignIncident(master.id, WORKER), uow)
    await handlers.perform(c.SubmitResult(master.id, WORKER, result="已清理"), uow)
    await handlers.perform(c.VerifyResult(master.id, Actor("sup", "supervisor", None, ("",)), passed=True), uow)
    assert duplicate.status is Status.MERGED and duplicate.merged_into == master.id
    assert [e.type for e in uow.published[-3:]] == ["intake.incident.verified", "intake.incident.closed",
                                                    "intake.incident.merged"]
