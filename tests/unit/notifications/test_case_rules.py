"""Issue 14's rules in the domain, without handlers: who an assignment concerns (主办, 协办, the owner a case
was taken from), which 督办 never waits, and the outcome a merged or duplicate 12345 order takes over."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications.domain.cases import (
    CaseOutcomes,
    CaseOwner,
    HotlineCase,
    Outcome,
    assignment_parties,
    party_unit_keys,
    previous_owner,
    told_of_assignment,
)
from services.notifications.domain.contacts import Person, UnitContact
from services.notifications.domain.notices import assignment_notices, escalation_notice, urge_notice
from shared.events.intake import IncidentUrged
from shared.events.routing import IncidentAssigned, IncidentReassigned, Owner
from shared.events.supervision import EscalationRaised

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
GRID = "320508019044007"
CASE = uuid.UUID("0f1e2d3c-0000-4000-8000-000000000001")
WORKER_1 = Owner(unit_id="grid-320508019044007", unit_name="第7网格", unit_kind="grid", worker_id="w1",
                 worker_name="张伟", worker_phone="13900000001")
WORKER_2 = Owner(unit_id="grid-320508019044007", unit_name="第7网格", unit_kind="grid", worker_id="w2",
                 worker_name="王芳", worker_phone="13900000002")
COMMUNITY = Owner(unit_id="community-320508019044", unit_name="平江社区", unit_kind="community")
STREET = Owner(unit_id="street-320508019", unit_name="平江街道", unit_kind="street")
OTHER_STREET = Owner(unit_id="street-320508020", unit_name="观前街道", unit_kind="street")
DEPARTMENT = Owner(unit_id="dept-water-320508", unit_name="区水务局", unit_kind="department")
DIRECTORY = {c.unit_code: c for c in (
    UnitContact("320508019044", "平江社区", liaison=Person("社区联络员", "13900000012")),
    UnitContact("320508019", "平江街道", leader=Person("街道主任", "13900000109")),
    UnitContact("320508020", "观前街道", liaison=Person("观前联络员", "13900000120")),
    UnitContact("dept-water-320508", "区水务局", liaison=Person("水务值班", "13900000130")),
)}


def reassigned(owner: Owner, previous: str | None, co_owners: tuple[Owner, ...] = ()) -> IncidentReassigned:
    return IncidentReassigned(incident_id=CASE, at=NOW, category="infra.drainage", urgency="urgent", grid_code=GRID,
                              owner=owner, co_owners=list(co_owners), previous_unit_id=previous, reason="退单改派")


def known(owner: Owner) -> CaseOwner:
    return CaseOwner.assigned(IncidentAssigned(incident_id=CASE, at=NOW, category="infra.drainage",
                                               urgency="urgent", grid_code=GRID, owner=owner, reason="rule"))


def told(event, before: CaseOwner | None = None) -> list[tuple[str, str]]:
    return [(r.key, part) for r, part in told_of_assignment(assignment_parties(event, before), DIRECTORY)]


def test_on_reassignment_the_owner_it_was_taken_from_is_the_one_notifications_knew():
    """DOMAIN.md §4 改派 (returned → assigned, routing or the centre): the previous owner, with its grid
    worker, is the owner notifications knew when routing names that unit as the previous one."""
    before = known(WORKER_1)
    assert previous_owner(reassigned(STREET, "grid-320508019044007"), before) == before
    assert previous_owner(reassigned(STREET, None), before) == before  # routing named none: the one we knew
    assert told(reassigned(STREET, "grid-320508019044007"), before) == [
        ("contact:320508019:leader", "owner"), ("worker:w1", "previous")]


def test_a_previous_owner_notifications_did_not_know_is_told_at_its_units_desk():
    """DOMAIN.md §4 改派: routing's `previous_unit_id` names the unit; its desk comes from the contacts
    directory by the code in the unit's id (a department by its id)."""
    event = reassigned(STREET, "community-320508019044")
    assert told(event) == [("contact:320508019:leader", "owner"), ("contact:320508019044:liaison", "previous")]
    assert told(event, known(WORKER_1)) == told(event)  # what we knew was stale: routing's word wins
    assert told(reassigned(STREET, "dept-water-320508")) == [("contact:320508019:leader", "owner"),
                                                             ("contact:dept-water-320508:liaison", "previous")]


def test_nothing_was_taken_from_anyone_when_the_case_stays_in_the_same_hands():
    """One delivery per (event, recipient, channel) (DESIGN §6): a re-dispatch to the same hands, or a replay
    of the event after its owner was stored, tells nobody that the case was taken away."""
    assert previous_owner(reassigned(WORKER_1, "grid-320508019044007"), known(WORKER_1)) is None
    assert previous_owner(reassigned(STREET, "grid-320508019044007"), known(STREET)) is None  # a replay
    assert previous_owner(reassigned(STREET, "street-320508019"), None) is None
    assert previous_owner(reassigned(STREET, None), None) is None
    # the same grid's other worker: the case was taken from the first one
    assert told(reassigned(WORKER_2, "grid-320508019044007"), known(WORKER_1)) == [
        ("worker:w2", "owner"), ("worker:w1", "previous")]


def test_co_owners_are_told_at_their_own_desks_and_each_person_once():
    """DOMAIN.md §4: one lead owner (主办) and optional co-owners (协办单位), each told at its desk (a unit's
    liaison, else its head); a co-owner's code comes from its id, not from the case's grid, so a street
    beside the case's is found. A previous owner kept on as a co-owner hears as a co-owner, once."""
    event = reassigned(STREET, "community-320508019044", co_owners=(OTHER_STREET, COMMUNITY, DEPARTMENT))
    assert told(event) == [("contact:320508019:leader", "owner"), ("contact:320508020:liaison", "co_owner"),
                           ("contact:320508019044:liaison", "co_owner"),
                           ("contact:dept-water-320508:liaison", "co_owner")]
    assert party_unit_keys(assignment_parties(event, None)) == ["320508019", "320508020", "320508019044",
                                                                "dept-water-320508"]
    nobody = IncidentAssigned(incident_id=CASE, at=NOW, category="infra.drainage", urgency="urgent",
                              grid_code=GRID, owner=STREET, reason="rule",
                              co_owners=[Owner(unit_id="dept-x", unit_name="无联系人", unit_kind="department")])
    assert told(nobody) == [("contact:320508019:leader", "owner")]  # a co-owner nobody answers for: skipped


def test_each_party_hears_its_own_text_with_the_category_in_chinese():
    """DOMAIN.md §3 names (积水、排水不畅, not infra.drainage) in every message; the new owner, each co-owner and
    the previous owner each get their template (sms.assigned, sms.co_assigned, sms.reassigned_away)."""
    notices = assignment_notices(reassigned(STREET, "grid-320508019044007"))
    texts = {part: notice.message({}).text for part, notice in notices.items()}
    assert texts["owner"] == "【网格督办】新案件0f1e2d3c（积水、排水不畅，紧急）已派至平江街道，请及时签收。"
    assert texts["co_owner"] == "【网格督办】案件0f1e2d3c（积水、排水不畅，紧急）由平江街道主办，请你单位协办配合。"
    assert texts["previous"] == ("【网格督办】案件0f1e2d3c（积水、排水不畅）已改派至平江街道，你方不再办理，"
                                 "请停止处置并做好交接。")
    assert {notice.urgent for notice in notices.values()} == {True}  # an urgent case: all at once


def escalation(level: str, urgency: str = "normal") -> EscalationRaised:
    return EscalationRaised(incident_id=CASE, at=NOW, phase="handle", due_at=NOW, due_version=1,
                            category="city.garbage", urgency=urgency, grid_code=GRID, unit_id="street-320508019",
                            level=level, previous_level="none")


@pytest.mark.parametrize("level, urgent", [("reminder", False), ("yellow_card", True), ("red_card", True),
                                           ("leader", True)])
def test_from_the_yellow_card_up_escalation_never_waits(level, urgent):
    """DOMAIN.md §5 / DESIGN §6: quiet hours spare emergencies and red lights; 黄牌督办 fires at the red light,
    so it goes at once like 红牌 and 领导督办. Only 催办 (the yellow light's) waits, unless an emergency."""
    assert escalation_notice(escalation(level)).urgent is urgent
    assert escalation_notice(escalation(level, urgency="emergency")).urgent


def test_an_urge_names_the_known_category_and_waits_unless_the_case_is_an_emergency():
    """DOMAIN.md §7 催办 from 12345: the event names no category, the owner notifications knows does."""
    event = IncidentUrged(incident_id=CASE, at=NOW, note="市民再次来电")
    owner = known(WORKER_1)
    notice = urge_notice(event, owner)
    assert notice.message({}).text == ("【网格督办】催办：案件0f1e2d3c（积水、排水不畅）请加快办理并及时反馈。"
                                       "催办意见：市民再次来电")
    assert not notice.urgent
    assert urge_notice(event, replace(owner, urgency="emergency")).urgent
    assert "（—）" in urge_notice(IncidentUrged(incident_id=CASE, at=NOW), None).message({}).text


def outcome(callback: str, at: datetime, **data: object) -> Outcome:
    return Outcome(CASE, callback, uuid.uuid4(), f"intake.incident.{callback}", at, dict(data))


def test_a_case_keeps_its_latest_result_and_closing_for_orders_that_follow_it_later():
    """DOMAIN.md §4/§7: each linked 12345 order gets its callbacks; one merged after the master's result (or
    closing) catches up, result before closed. A new result (after 重办) undoes the closing until the next."""
    outcomes = CaseOutcomes(CASE)
    assert outcomes.in_order() == []
    first, closed = outcome("result", NOW, result="已清理"), outcome("closed", NOW + timedelta(hours=1))
    outcomes.record(closed)
    outcomes.record(first)  # recorded out of order: a result still comes first and undoes the closing
    assert outcomes.in_order() == [first]
    outcomes.record(closed)
    assert outcomes.in_order() == [first, closed]
    again = outcome("result", NOW + timedelta(days=2), result="重办后已清理")
    outcomes.record(again)
    assert outcomes.in_order() == [again]
    with pytest.raises(ValueError):
        outcomes.record(outcome("signed", NOW))


def test_a_merged_order_hears_the_masters_outcome_as_its_own_callback():
    """DESIGN §6 12345 callbacks, per order: the body is the order's, the detail the master's result and id."""
    order = HotlineCase(uuid.uuid4(), "GD-0009")
    body = json.loads(order.outcome_body(outcome("result", NOW, incident_id=str(CASE), result="已清理")))
    assert body == {"order_no": "GD-0009", "callback": "result", "incident_id": str(order.incident_id),
                    "at": NOW.isoformat(), "detail": {"result": "已清理", "master_incident_id": str(CASE)}}
