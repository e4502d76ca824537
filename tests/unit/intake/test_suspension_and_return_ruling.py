"""挂起 applied for by the owner, decided by the centre, ended by itself at `until`; and 12345's ruling on our
退单 of its order. Through intake's bus over the in-memory store, with the service clock moved by hand."""

from datetime import datetime, timedelta

import pytest

from services.intake.domain import commands as c
from services.intake.domain.errors import IllegalTransition, InvalidRequest, NotPermitted
from services.intake.domain.model import Status
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from tests.support import handle
from tests.unit.intake.fakes import NOW, FakeIntake, report

GRID = "320508019044001"
OWNER = Owner(unit_id="g-1", unit_name="一网格", unit_kind="grid", worker_id="w1")
WORKER = c.Actor("w1", "gridworker", (GRID,), "g-1")
CENTRE = c.Actor("sup", "supervisor", ("320508",))
ORDER_NO = "GD2026120500001"


async def signed_case(intake: FakeIntake):
    incident = await intake.bus.handle(report())
    await handle(intake.bus, IncidentAssigned(incident_id=incident.id, at=NOW, category=incident.category,
                                              urgency="normal", grid_code=GRID, owner=OWNER, reason="located"))
    await intake.bus.handle(c.SignIncident(incident.id, WORKER))
    return incident


def published(intake: FakeIntake) -> list[str]:
    return [e.type.rsplit(".", 1)[1] for e in intake.store.published]


async def test_the_owner_applies_for_a_suspension_and_the_centre_approves_it():
    """DOMAIN §5 挂起: approved by the centre for causes outside the unit; §4: the owner applies."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    until = NOW + timedelta(days=3)
    asked = await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="待法院判决", until=until))
    assert asked.status is Status.IN_PROGRESS and asked.pending_suspension["until"] == until.isoformat()
    with pytest.raises(IllegalTransition, match="already pending"):
        await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="again"))
    with pytest.raises(NotPermitted):  # the owner cannot grant its own request
        await intake.bus.handle(c.DecideSuspension(incident.id, WORKER, approved=True))

    decided = await intake.bus.handle(c.DecideSuspension(incident.id, CENTRE, approved=True, note="同意"))
    assert decided.status is Status.SUSPENDED and decided.suspended_until == until
    assert decided.pending_suspension is None
    assert published(intake)[-3:] == ["suspension_requested", "suspension_decided", "suspended"]
    assert datetime.fromisoformat(intake.store.published[-1].data["until"]) == until


async def test_a_refused_suspension_leaves_the_case_running_and_the_owner_may_ask_again():
    """DOMAIN §5 挂起 (approved by the centre): a refusal pauses nothing; the request is settled either way."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="资金未到位"))
    refused = await intake.bus.handle(c.DecideSuspension(incident.id, CENTRE, approved=False, note="请先协调"))
    assert refused.status is Status.IN_PROGRESS and refused.pending_suspension is None
    assert published(intake)[-1] == "suspension_decided"
    assert intake.store.published[-1].data["approved"] is False
    with pytest.raises(IllegalTransition, match="no 挂起 request"):
        await intake.bus.handle(c.DecideSuspension(incident.id, CENTRE, approved=True))
    again = await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="资金仍未到位"))
    assert again.pending_suspension is not None


async def test_a_suspension_asked_until_a_time_that_has_passed_cannot_be_approved():
    """DOMAIN §4 `suspend {reason, until?}`: `until` lies ahead, when asked and when granted."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    with pytest.raises(InvalidRequest, match="future"):
        await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="x", until=NOW))
    await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="季节原因", until=NOW + timedelta(hours=1)))
    intake.clock.advance(hours=2)
    with pytest.raises(IllegalTransition, match="has passed"):
        await intake.bus.handle(c.DecideSuspension(incident.id, CENTRE, approved=True))


async def test_a_suspension_ends_by_itself_at_until_once():
    """DOMAIN §4: suspended → previous state when `until` is reached (the system resumes it), on the timeline."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    until = NOW + timedelta(days=2)
    await intake.bus.handle(c.SuspendIncident(incident.id, CENTRE, reason="待鉴定结论", until=until))
    assert await intake.bus.handle(c.ResumeDueSuspensions()) == 0  # not yet
    intake.clock.advance(days=2)
    assert await intake.bus.handle(c.ResumeDueSuspensions()) == 1
    case = intake.store.incidents.rows[incident.id]
    assert case.status is Status.IN_PROGRESS and case.suspended_until is None
    resumed = intake.store.published[-1]
    assert resumed.type == "intake.incident.resumed" and resumed.data["automatic"] is True
    assert resumed.data["actor"] == "system"
    assert [t.action for t in intake.store.incidents.timeline][-1] == "resume"
    assert await intake.bus.handle(c.ResumeDueSuspensions()) == 0  # once


async def test_a_suspension_without_until_waits_for_a_person():
    """挂账 (DOMAIN §4) has no `until`: only a resume by the centre ends it."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    await intake.bus.handle(c.SuspendIncident(incident.id, CENTRE, reason="挂账"))
    intake.clock.advance(days=400)
    assert await intake.bus.handle(c.ResumeDueSuspensions()) == 0
    assert intake.store.incidents.rows[incident.id].status is Status.SUSPENDED


async def test_a_reassignment_drops_the_old_owners_pending_suspension_request():
    """DOMAIN §4 改派: what the old owner had pending goes with them."""
    intake = FakeIntake()
    incident = await signed_case(intake)
    await intake.bus.handle(c.RequestSuspension(incident.id, WORKER, reason="待法院判决"))
    other = Owner(unit_id="g-2", unit_name="二网格", unit_kind="grid", worker_id="w2")
    await handle(intake.bus, IncidentReassigned(incident_id=incident.id, at=NOW, category=incident.category,
                                                urgency="normal", grid_code=GRID, owner=other, reason="改派"))
    assert intake.store.incidents.rows[incident.id].pending_suspension is None


async def rejected_hotline_order(intake: FakeIntake):
    """A 12345 order its unit returned and the centre then ruled not ours (不予立案: the `returned` callback)."""
    incident, _ = await intake.bus.handle(c.AcceptHotlineOrder(
        order_no=ORDER_NO, title="噪声扰民", content="夜间施工", category="噪声", urgency="一般",
        received_at=NOW - timedelta(minutes=5), lon=120.05, lat=31.1))
    await handle(intake.bus, IncidentAssigned(incident_id=incident.id, at=NOW, category=incident.category,
                                              urgency="normal", grid_code=GRID, owner=OWNER, reason="located"))
    await intake.bus.handle(c.ReturnIncident(incident.id, WORKER, reason="非本单位职责"))
    await intake.bus.handle(c.RejectIncident(incident.id, CENTRE, reason="属住建部门，退回12345"))
    return incident


async def test_12345_refusing_our_return_gives_the_order_back_to_its_unit():
    """DOMAIN §7: 12345 rules on our 退单; refused, the order is ours again: back to the unit that had it."""
    intake = FakeIntake()
    incident = await rejected_hotline_order(intake)
    _, applied = await intake.bus.handle(c.ApplyHotlineEvent(order_no=ORDER_NO, event_id="ev-ret-1",
                                                             kind="return_decision", approved=False,
                                                             note="属地管理，请继续办理"))
    case = intake.store.incidents.rows[incident.id]
    assert applied and case.status is Status.ASSIGNED and case.owner["unit_id"] == "g-1"
    restored = intake.store.published[-1]
    assert restored.type == "intake.incident.restored" and restored.data["unit_id"] == "g-1"
    assert (await intake.bus.handle(c.SignIncident(incident.id, WORKER))).status is Status.IN_PROGRESS


async def test_12345_agreeing_to_our_return_ends_the_order():
    """DOMAIN §7: agreed, the order is not ours: it stays rejected, its `returned` callback already sent."""
    intake = FakeIntake()
    incident = await rejected_hotline_order(intake)
    before = len(intake.store.published)
    _, applied = await intake.bus.handle(c.ApplyHotlineEvent(order_no=ORDER_NO, event_id="ev-ret-1",
                                                             kind="return_decision", approved=True))
    case = intake.store.incidents.rows[incident.id]
    assert applied and case.status is Status.REJECTED and len(intake.store.published) == before
    assert intake.store.incidents.timeline[-1].action == "return_decision"


async def test_a_return_ruling_on_an_order_we_never_returned_is_an_illegal_move():
    """DOMAIN §7: 12345 rules only on a 退单 we sent it (the centre's `reject`)."""
    intake = FakeIntake()
    incident, _ = await intake.bus.handle(c.AcceptHotlineOrder(
        order_no=ORDER_NO, title="噪声扰民", content="夜间施工", category="噪声", urgency="一般",
        received_at=NOW - timedelta(minutes=5), lon=120.05, lat=31.1))
    with pytest.raises(IllegalTransition):
        await intake.bus.handle(c.ApplyHotlineEvent(order_no=ORDER_NO, event_id="ev-ret-1",
                                                    kind="return_decision", approved=False))
    # Refused whole: the event id is not spent, so 12345 may send it again once it applies.
    assert "ev-ret-1" not in intake.store.hotline_events.applied
    assert intake.store.incidents.rows[incident.id].status is Status.RECEIVED
