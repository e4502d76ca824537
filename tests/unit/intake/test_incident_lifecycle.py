from dataclasses import replace
from datetime import timedelta

import pytest

from services.intake.domain import commands as c
from services.intake.domain.commands import Actor, IdempotencyKey, SignIncident
from services.intake.domain.errors import IdempotencyConflict, IllegalTransition, NotPermitted, UnknownCategory
from services.intake.domain.model import Incident, Status
from shared.events.intake import Point
from shared.events.routing import IncidentAssigned, Owner
from tests.support import handle
from tests.unit.intake.fakes import NOW, FakeIntake, report

GRID = "320508019044001"
OWNER = Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid", worker_id="w1", worker_name="张三",
              worker_phone="13900000001")
WORKER = Actor("w1", "gridworker", ("",), "g-1")


async def test_reporting_stores_the_case_and_publishes_received_once():
    intake = FakeIntake()
    incident = await intake.bus.handle(report())
    assert intake.store.incidents.rows[incident.id].status is Status.RECEIVED
    assert [e.type for e in intake.store.published] == ["intake.incident.received"]
    assert intake.store.published[0].subject == str(incident.id)


async def test_unknown_category_stores_nothing_and_publishes_nothing():
    intake = FakeIntake()
    with pytest.raises(UnknownCategory):
        await intake.bus.handle(report(category="no.such"))
    assert intake.store.incidents.rows == {} and intake.store.published == [] and intake.store.commits == 0


async def test_offline_report_keeps_its_past_reported_at_but_never_a_future_one():
    earlier = NOW - timedelta(hours=5)
    assert Incident.report(report(reported_at=earlier), NOW).reported_at == earlier
    assert Incident.report(report(reported_at=NOW + timedelta(hours=1)), NOW).reported_at == NOW


async def assigned_case(intake: FakeIntake) -> Incident:
    incident = await intake.bus.handle(report())
    await handle(intake.bus, IncidentAssigned(incident_id=incident.id, at=NOW, category="city.garbage",
                                              urgency="normal", grid_code=GRID, owner=OWNER, reason="located"))
    return incident


async def test_assignment_records_owner_and_grid_and_allows_sign():
    intake = FakeIntake()
    incident = await assigned_case(intake)
    assert incident.status is Status.ASSIGNED and incident.owner["worker_id"] == "w1"
    assert incident.grid_code == GRID
    assert incident.allowed_actions() == ["sign", "return", "refer_up", "request_suspension", "decide_suspension",
                                         "suspend", "merge"]
    assert [t.action for t in intake.store.incidents.timeline] == ["received", "assigned"]


async def test_owner_signs_and_the_event_is_published():
    intake = FakeIntake()
    incident = await assigned_case(intake)
    await intake.bus.handle(SignIncident(incident.id, WORKER))
    assert incident.status is Status.IN_PROGRESS
    assert intake.store.published[-1].type == "intake.incident.signed"


async def test_signing_twice_is_an_illegal_move_listing_what_is_allowed():
    intake = FakeIntake()
    incident = await assigned_case(intake)
    await intake.bus.handle(SignIncident(incident.id, WORKER))
    published = len(intake.store.published)
    with pytest.raises(IllegalTransition) as exc:
        await intake.bus.handle(SignIncident(incident.id, WORKER))
    assert exc.value.status_now is Status.IN_PROGRESS and exc.value.status == 409
    assert exc.value.allowed == ["progress", "return", "refer_up", "request_extension", "decide_extension",
                                 "request_suspension", "decide_suspension", "suspend", "submit_result", "merge"]
    assert len(intake.store.published) == published


async def test_only_the_owner_may_sign():
    intake = FakeIntake()
    incident = await assigned_case(intake)
    with pytest.raises(NotPermitted):
        await intake.bus.handle(SignIncident(incident.id, Actor("w9", "gridworker", ("320508019044",), "g-9")))
    with pytest.raises(NotPermitted):
        await intake.bus.handle(SignIncident(incident.id, Actor("boss", "supervisor", ("",), "g-1")))
    assert incident.status is Status.ASSIGNED


async def test_sign_before_assignment_is_illegal():
    intake = FakeIntake()
    incident = await intake.bus.handle(report())
    with pytest.raises(IllegalTransition):
        await intake.bus.handle(SignIncident(incident.id, WORKER))


async def test_same_idempotency_key_and_body_returns_the_first_case_and_publishes_once():
    intake = FakeIntake()
    key = IdempotencyKey("app-1", "k-1", '{"title":"a"}')
    first = await intake.bus.handle(replace(report(), idempotency_key=key))
    again = await intake.bus.handle(replace(report(), idempotency_key=key))
    assert again.id == first.id
    assert len(intake.store.incidents.rows) == 1 and len(intake.store.published) == 1


async def test_same_idempotency_key_with_another_body_is_a_conflict():
    intake = FakeIntake()
    await intake.bus.handle(replace(report(), idempotency_key=IdempotencyKey("app-1", "k-1", '{"title":"a"}')))
    with pytest.raises(IdempotencyConflict):
        await intake.bus.handle(replace(report(), idempotency_key=IdempotencyKey("app-1", "k-1", '{"title":"b"}')))
    assert len(intake.store.incidents.rows) == 1


async def test_idempotency_keys_are_scoped_per_caller():
    intake = FakeIntake()
    await intake.bus.handle(replace(report(), idempotency_key=IdempotencyKey("app-1", "k-1", "{}")))
    await intake.bus.handle(replace(report(), idempotency_key=IdempotencyKey("app-2", "k-1", "{}")))
    assert len(intake.store.incidents.rows) == 2


async def test_a_near_report_of_the_same_category_is_linked_as_a_duplicate():
    intake = FakeIntake()
    master = await intake.bus.handle(report())
    near = await intake.bus.handle(report(location=Point(lon=120.0503, lat=31.1002)))  # ~35 m
    far = await intake.bus.handle(report(location=Point(lon=120.06, lat=31.1)))         # ~950 m
    other = await intake.bus.handle(report(category="safety.gas"))
    assert near.duplicate_of == master.id
    assert far.duplicate_of is None and other.duplicate_of is None
    assert intake.store.published[1].data["duplicate_of"] == str(master.id)


async def test_duplicates_are_merged_into_their_master_when_it_closes():
    intake = FakeIntake()
    master = await assigned_case(intake)
    duplicate = await intake.bus.handle(report())
    assert duplicate.duplicate_of == master.id
    await intake.bus.handle(SignIncident(master.id, WORKER))
    await intake.bus.handle(c.SubmitResult(master.id, WORKER, result="已清理"))
    await intake.bus.handle(c.VerifyResult(master.id, Actor("sup", "supervisor", ("",)), passed=True))
    assert duplicate.status is Status.MERGED and duplicate.merged_into == master.id
    assert [e.type for e in intake.store.published[-3:]] == ["intake.incident.verified", "intake.incident.closed",
                                                    "intake.incident.merged"]
