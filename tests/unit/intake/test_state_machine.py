"""Every action of DOMAIN.md §4 against the pure case model: who may do what from which state."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain import commands as c
from services.intake.domain.model import (
    RULES,
    IllegalTransition,
    Incident,
    InvalidRequest,
    NotPermitted,
    Status,
)
from shared.calendar import WorkCalendar
from shared.events.intake import Point
from shared.events.routing import Owner

CAL = WorkCalendar()
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
GRID = "320508019044001"
OWNER = Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1", worker_name="张三",
              worker_phone="13900000001")
WORKER = c.Actor("w1", "gridworker", (GRID,), "grid-1")
SUPERVISOR = c.Actor("sup", "supervisor", ("320508",), "centre")
LEADER = c.Actor("boss", "leader", ("320508",), "district")
OTHER_GRIDWORKER = c.Actor("w2", "gridworker", (GRID,), "grid-2")  # same grid, not the owner unit
FAR_SUPERVISOR = c.Actor("sup9", "supervisor", ("310101",), "other")


def new_case(status_after: str = "assigned") -> Incident:
    incident = Incident.report(c.ReportIncident(source="gridworker", category="city.garbage", urgency="normal",
                                                title="垃圾", location=Point(lon=120.6, lat=31.3)), T0)
    incident.record_assignment(OWNER, [], GRID, "located", T0, reassigned=False)
    steps = ["assigned", "in_progress", "pending_verification", "closed"]
    for step in steps[1:steps.index(status_after) + 1]:
        if step == "in_progress":
            incident.sign(c.SignIncident(incident.id, WORKER), T0)
        elif step == "pending_verification":
            incident.submit_result(c.SubmitResult(incident.id, WORKER, result="已清理"), T0)
        elif step == "closed":
            incident.verify(c.VerifyResult(incident.id, SUPERVISOR, passed=True), T0)
    incident.events.clear()
    return incident


def types(incident: Incident) -> list[str]:
    return [e.type.rsplit(".", 1)[1] for e in incident.events]


def test_the_rule_table_covers_every_action_of_the_design():
    assert set(RULES) == {"sign", "progress", "return", "request_extension", "decide_extension", "suspend",
                          "resume", "submit_result", "verify", "visit", "reopen", "merge", "reject",
                          "visit_result", "refer_up", "request_suspension", "decide_suspension", "return_decision",
                          "publish", "attach"}


def test_happy_path_to_visited_publishes_each_step():
    incident = new_case("closed")
    assert incident.status is Status.CLOSED and incident.closed_at == T0
    incident.record_visit(c.RecordVisit(incident.id, SUPERVISOR, contacted="yes", solved="yes",
                                        satisfied="basically"), T0)
    assert incident.status is Status.VISITED and types(incident) == ["visited"]


def test_verify_pass_publishes_verified_and_closed():
    incident = new_case("pending_verification")
    incident.verify(c.VerifyResult(incident.id, SUPERVISOR, passed=True), T0)
    assert types(incident) == ["verified", "closed"]


def test_verify_fail_is_rework_back_to_in_progress():
    incident = new_case("pending_verification")
    incident.verify(c.VerifyResult(incident.id, SUPERVISOR, passed=False), T0)
    assert incident.status is Status.IN_PROGRESS and types(incident) == ["verified"]
    assert incident.events[0].passed is False


def test_the_owner_never_verifies_its_own_result_but_another_grid_worker_of_the_grid_may():
    incident = new_case("pending_verification")
    with pytest.raises(NotPermitted):
        incident.verify(c.VerifyResult(incident.id, WORKER, passed=True), T0)
    incident.verify(c.VerifyResult(incident.id, OTHER_GRIDWORKER, passed=True), T0)
    assert incident.status is Status.CLOSED


@pytest.mark.parametrize("actor", [SUPERVISOR, OTHER_GRIDWORKER, c.Actor("x", "community", ("",), "comm-1")])
def test_only_the_owner_unit_signs(actor):
    incident = new_case()
    with pytest.raises(NotPermitted):
        incident.sign(c.SignIncident(incident.id, actor), T0)
    assert incident.status is Status.ASSIGNED and incident.events == []


def test_a_unit_role_owning_the_case_may_sign():
    incident = new_case()
    incident.sign(c.SignIncident(incident.id, c.Actor("head", "community", ("320508019044",), "grid-1")), T0)
    assert incident.status is Status.IN_PROGRESS


def test_illegal_move_names_what_is_allowed():
    incident = new_case("closed")
    with pytest.raises(IllegalTransition) as exc:
        incident.sign(c.SignIncident(incident.id, WORKER), T0)
    assert exc.value.allowed == ["visit", "reopen"]


def test_returns_are_limited_to_two_then_the_centre_decides():
    incident = new_case()
    for count in (1, 2):
        incident.return_case(c.ReturnIncident(incident.id, WORKER, reason="非本单位职责"), T0, CAL)
        assert incident.status is Status.RETURNED and incident.return_count == count
        incident.record_assignment(OWNER, [], GRID, "reassigned", T0, reassigned=True)
    with pytest.raises(IllegalTransition, match="终审"):
        incident.return_case(c.ReturnIncident(incident.id, WORKER, reason="非本单位职责"), T0, CAL)


def test_a_signed_case_can_be_returned_within_two_working_days_only():
    incident = new_case("in_progress")  # signed Monday 09:00 → window ends Wednesday 17:30
    late = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday 18:00 in Shanghai
    with pytest.raises(IllegalTransition, match="2 working days"):
        incident.return_case(c.ReturnIncident(incident.id, WORKER, reason="非本辖区"), late, CAL)
    incident.return_case(c.ReturnIncident(incident.id, WORKER, reason="非本辖区"),
                         datetime(2026, 11, 25, 9, 0, tzinfo=UTC), CAL)
    assert incident.status is Status.RETURNED and types(incident) == ["returned"]


def test_return_needs_a_reason():
    incident = new_case()
    with pytest.raises(InvalidRequest):
        incident.return_case(c.ReturnIncident(incident.id, WORKER, reason="  "), T0, CAL)


def test_extensions_one_pending_second_by_a_leader_capped_at_ten_working_days():
    incident = new_case("in_progress")
    ask = c.RequestExtension(incident.id, WORKER, amount=4, unit="working_days", reason="需协调产权单位")
    incident.request_extension(ask, T0)
    with pytest.raises(IllegalTransition, match="pending"):
        incident.request_extension(ask, T0)
    incident.decide_extension(c.DecideExtension(incident.id, SUPERVISOR, approved=True), T0)
    assert incident.extension_working_days == 4 and incident.pending_extension is None
    incident.request_extension(c.RequestExtension(incident.id, WORKER, amount=5, unit="working_days",
                                                  reason="材料未到"), T0)
    with pytest.raises(NotPermitted, match="leader"):
        incident.decide_extension(c.DecideExtension(incident.id, SUPERVISOR, approved=True), T0)
    incident.decide_extension(c.DecideExtension(incident.id, LEADER, approved=True, amount=3), T0)
    assert incident.extension_working_days == 7
    with pytest.raises(InvalidRequest, match="10 working days"):
        incident.request_extension(c.RequestExtension(incident.id, WORKER, amount=4, unit="working_days",
                                                      reason="again"), T0)
    assert types(incident) == ["extension_requested", "extension_decided"] * 2


def test_decide_without_a_request_is_illegal():
    incident = new_case("in_progress")
    with pytest.raises(IllegalTransition, match="no extension"):
        incident.decide_extension(c.DecideExtension(incident.id, SUPERVISOR, approved=True), T0)


def test_suspend_and_resume_return_to_the_previous_state():
    incident = new_case("assigned")
    with pytest.raises(NotPermitted):
        incident.suspend(c.SuspendIncident(incident.id, WORKER, reason="挂账"), T0)
    incident.suspend(c.SuspendIncident(incident.id, SUPERVISOR, reason="挂账"), T0)
    assert incident.status is Status.SUSPENDED
    incident.resume(c.ResumeIncident(incident.id, LEADER), T0)
    assert incident.status is Status.ASSIGNED and types(incident) == ["suspended", "resumed"]


def test_suspend_until_must_be_in_the_future():
    incident = new_case("in_progress")
    with pytest.raises(InvalidRequest):
        incident.suspend(c.SuspendIncident(incident.id, SUPERVISOR, reason="court", until=T0), T0)


def test_visit_that_reached_the_citizen_needs_the_answers_and_unreachable_needs_none():
    incident = new_case("closed")
    with pytest.raises(InvalidRequest):
        incident.record_visit(c.RecordVisit(incident.id, SUPERVISOR, contacted="yes"), T0)
    incident.record_visit(c.RecordVisit(incident.id, SUPERVISOR, contacted="unreachable"), T0)
    assert incident.visit == {"contacted": "unreachable", "responded": None, "solved": None, "satisfied": None}


def test_a_visit_records_whether_the_unit_responded_in_its_event():
    incident = new_case("closed")
    incident.record_visit(c.RecordVisit(incident.id, SUPERVISOR, contacted="yes", responded=True, solved="yes",
                                        satisfied="basically"), T0)
    assert incident.visit["responded"] is True
    assert incident.events[-1].responded is True and incident.events[-1].satisfied == "basically"


def test_reopen_within_thirty_days_goes_back_to_the_same_owner_unsigned():
    incident = new_case("closed")
    with pytest.raises(IllegalTransition, match="30 days"):
        incident.reopen(c.ReopenIncident(incident.id, SUPERVISOR, reason="回访不满意"), T0 + timedelta(days=31))
    incident.reopen(c.ReopenIncident(incident.id, SUPERVISOR, reason="回访不满意"), T0 + timedelta(days=3))
    assert incident.status is Status.ASSIGNED and incident.owner["unit_id"] == "grid-1"
    assert incident.signed_at is None and types(incident) == ["reopened"]


def test_merge_into_an_open_master_and_never_into_itself():
    incident, master = new_case(), new_case()
    with pytest.raises(InvalidRequest):
        incident.merge_into(c.MergeIncident(incident.id, SUPERVISOR, into=incident.id), incident, T0)
    incident.merge_into(c.MergeIncident(incident.id, SUPERVISOR, into=master.id), master, T0)
    assert incident.status is Status.MERGED and incident.merged_into == master.id
    with pytest.raises(IllegalTransition):
        incident.sign(c.SignIncident(incident.id, WORKER), T0)


def test_reject_only_before_anyone_works_on_it():
    incident = new_case("in_progress")
    with pytest.raises(IllegalTransition):
        incident.reject(c.RejectIncident(incident.id, SUPERVISOR, reason="恶意举报"), T0)
    fresh = Incident.report(c.ReportIncident(source="public", category="city.ads", urgency="normal", title="x"), T0)
    with pytest.raises(NotPermitted):  # not located yet: the city centre's, not a district's
        fresh.reject(c.RejectIncident(fresh.id, SUPERVISOR, reason="恶意举报"), T0)
    fresh.reject(c.RejectIncident(fresh.id, c.Actor("city", "supervisor", ("",)), reason="恶意举报"), T0)
    assert fresh.status is Status.REJECTED


def test_centre_actions_stay_inside_the_callers_area():
    incident = new_case("in_progress")
    with pytest.raises(NotPermitted, match="area"):
        incident.suspend(c.SuspendIncident(incident.id, FAR_SUPERVISOR, reason="挂账"), T0)
    assert not incident.visible_to(FAR_SUPERVISOR) and incident.visible_to(SUPERVISOR)


def test_every_action_leaves_a_timeline_entry_with_actor_and_time():
    incident = new_case("closed")
    actions = [(e.action, e.actor) for e in incident.new_timeline]
    assert actions == [("received", "gridworker"), ("assigned", "routing"), ("sign", "w1"),
                       ("submit_result", "w1"), ("verify", "sup"), ("close", "sup")]
    assert all(e.at == T0 for e in incident.new_timeline)


def test_ids_are_uuids():
    assert isinstance(new_case().id, uuid.UUID)
