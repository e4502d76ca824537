"""Time-limit policies by 事项性质 (DOMAIN.md §7, a proposal) on top of §5's limits per category × urgency × phase
(defaults): the most specific policy applies, and a clock keeps the nature its policy was chosen by, so an
extension and a calendar recount find the same policy."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from services.supervision.domain import commands as c
from services.supervision.domain.errors import InvalidPolicy, NoPolicy
from services.supervision.domain.model import Policy, lookup_order
from shared.calendar import ZONE, WorkCalendar
from shared.events import intake as ev
from shared.events.routing import IncidentAssigned, Owner
from tests.support import FixedClock, handle
from tests.unit.supervision.fakes import DEFAULT_POLICIES, NOW, FakePolicies, SupervisionStore, fake_bus

GRID = "320508019044001"
OWNER = Owner(unit_id="grid-1", unit_name="一网格", unit_kind="grid", worker_id="w1")
CATEGORY = "city.garbage"

ANY_ANY = Policy("*", "normal", "handle", 5, "working_days")
ANY_COMPLAINT = Policy("*", "normal", "handle", 4, "working_days", nature="complaint")
CAT_ANY = Policy(CATEGORY, "normal", "handle", 3, "working_days")
CAT_COMPLAINT = Policy(CATEGORY, "normal", "handle", 2, "working_days", nature="complaint")


def test_the_lookup_order_goes_from_the_most_specific_to_the_default():
    """DOMAIN.md §5/§7: exact category and nature, exact category with '*', '*' with exact nature, '*'/'*'."""
    assert lookup_order(CATEGORY, "complaint") == [(CATEGORY, "complaint"), (CATEGORY, "*"), ("*", "complaint"),
                                                    ("*", "*")]
    assert lookup_order(CATEGORY, None) == [(CATEGORY, "*"), ("*", "*")]  # not a 12345 order: any-nature only


async def test_each_policy_gives_way_only_to_a_more_specific_one():
    """DOMAIN.md §5/§7: removing the most specific policy, one by one, falls back in lookup order."""
    ladder = [CAT_COMPLAINT, CAT_ANY, ANY_COMPLAINT, ANY_ANY]
    for present in range(len(ladder)):
        policies = FakePolicies(ladder[present:])
        assert await policies.for_phase(CATEGORY, "normal", "handle", "complaint") == ladder[present]
    policies = FakePolicies(ladder)
    assert await policies.for_phase(CATEGORY, "normal", "handle") == CAT_ANY  # a case without a nature
    assert await policies.for_phase(CATEGORY, "normal", "handle", "consultation") == CAT_ANY
    assert await policies.for_phase("city.ads", "normal", "handle", "complaint") == ANY_COMPLAINT
    assert await policies.for_phase("city.ads", "normal", "handle", "praise") == ANY_ANY
    with pytest.raises(NoPolicy):
        await FakePolicies([ANY_COMPLAINT]).for_phase(CATEGORY, "normal", "handle", "consultation")


def test_a_policy_names_a_known_nature_or_any():
    """DOMAIN.md §7: the natures of a 12345 order, in English (the HTTP layer maps the Chinese ones)."""
    Policy("*", "normal", "handle", 1, "working_days", nature="consultation").check()
    with pytest.raises(InvalidPolicy, match="unknown nature 'gossip'"):
        Policy("*", "normal", "handle", 1, "working_days", nature="gossip").check()


# ---- Through the handlers ---------------------------------------------------------------------------------

CONSULTATION = Policy("*", "normal", "handle", 1, "working_days", nature="consultation")
COMPLAINT = Policy("*", "normal", "handle", 3, "working_days", nature="complaint",
                   ladder={"red_card": (2, "working_days"), "leader": (3, "working_days")})


def store_with_natures() -> SupervisionStore:
    return SupervisionStore([*DEFAULT_POLICIES, CONSULTATION, COMPLAINT])


async def signed_order(bus, nature: str | None, at: datetime = NOW) -> uuid.UUID:
    """A case received (a 12345 order of that nature, or a grid worker's report), assigned and signed at `at`."""
    case = uuid.uuid4()
    hotline = {"source": "hotline", "hotline_order_no": f"GD-{case.hex[:6]}", "nature": nature} if nature else {
        "source": "gridworker"}
    for event in (ev.IncidentReceived(incident_id=case, at=at, category=CATEGORY, urgency="normal", title="垃圾",
                                      reported_at=at, **hotline),
                  IncidentAssigned(incident_id=case, at=at, category=CATEGORY, urgency="normal", grid_code=GRID,
                                   owner=OWNER, reason="located"),
                  ev.IncidentSigned(incident_id=case, at=at, actor="w1")):
        await handle(bus, event)
    return case


async def test_a_complaint_and_a_consultation_get_different_handle_limits():
    """DOMAIN.md §5 (handle starts at 签收; wd counted from the next working day, due at the close of the Nth)
    with §7's 事项性质: signed Mon 11-23, a 咨询 on its 1 wd is due Tue, a 投诉 on its 3 wd Thu, a grid worker's
    report (no nature) on the '*' default of 5 wd the next Monday. Each clock keeps its nature."""
    store = store_with_natures()
    bus = fake_bus(store, FixedClock(NOW), WorkCalendar())
    consultation = await signed_order(bus, "consultation")
    complaint = await signed_order(bus, "complaint")
    report = await signed_order(bus, None)
    dues = {}
    for case in (consultation, complaint, report):
        handle_clock = store.clocks.of(case)[-1]
        assert handle_clock.phase == "handle"
        dues[store.cases.rows[case].nature] = (handle_clock.limit_amount, handle_clock.due_at, handle_clock.nature)
    assert dues == {
        "consultation": (1, datetime(2026, 11, 24, 17, 30, tzinfo=ZONE), "consultation"),
        "complaint": (3, datetime(2026, 11, 26, 17, 30, tzinfo=ZONE), "complaint"),
        None: (5, datetime(2026, 11, 30, 17, 30, tzinfo=ZONE), None),
    }
    # The sign phase has no nature-specific policy: both orders fall back to the '*'/'*' one (1 wd).
    assert {store.clocks.of(case)[0].limit_amount for case in (consultation, complaint)} == {1}


async def test_a_later_event_without_the_nature_keeps_it():
    """DOMAIN.md §7: the nature comes with the order's receipt; an assignment (which does not carry it) keeps it."""
    store = store_with_natures()
    bus = fake_bus(store, FixedClock(NOW), WorkCalendar())
    case = await signed_order(bus, "complaint")
    assert store.cases.rows[case].nature == "complaint"


async def test_an_extension_on_a_complaint_uses_the_complaint_ladder():
    """DOMAIN.md §5 (延期: approved days added to due, the 督办 ladder counted from the new due): 12345's 2 wd
    move the 投诉's due Thu 11-26 → Mon 11-30, its red card 2 wd and leader 3 wd after (its policy's ladder,
    not the default's 1 and 5)."""
    store = store_with_natures()
    clock = FixedClock(NOW)
    bus = fake_bus(store, clock, WorkCalendar())
    case = await signed_order(bus, "complaint")
    await handle(bus, ev.ExtensionDecided(incident_id=case, at=NOW, actor="12345", approved=True, amount=2,
                                          unit="working_days"))
    extended = store.clocks.of(case)[-1]
    assert (extended.due_version, extended.extension_amount) == (2, 2)
    assert extended.due_at == datetime(2026, 11, 30, 17, 30, tzinfo=ZONE)
    assert extended.red_card_at == datetime(2026, 12, 2, 17, 30, tzinfo=ZONE)
    assert extended.leader_at == datetime(2026, 12, 3, 17, 30, tzinfo=ZONE)


async def test_a_calendar_recount_uses_the_clock_natures_policy():
    """DOMAIN.md §5 (a calendar change recounts running clocks): Wed 11-25 off moves the 投诉's due Thu → Fri
    11-27; its red card comes 2 wd later (Tue 12-01) by the complaint ladder, not 1 wd (Mon) by the default."""
    store = store_with_natures()
    calendar = WorkCalendar()
    bus = fake_bus(store, FixedClock(NOW), calendar)
    case = await signed_order(bus, "complaint")
    assert await bus.handle(c.OverrideCalendarDay(datetime(2026, 11, 25).date(), False, "临时")) == 1
    moved = store.clocks.of(case)[-1]
    assert moved.due_at == datetime(2026, 11, 27, 17, 30, tzinfo=ZONE)
    assert moved.red_card_at == datetime(2026, 12, 1, 17, 30, tzinfo=ZONE)
