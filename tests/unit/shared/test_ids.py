"""Ids of rows that accumulate: time-ordered, so a year of them is written at one end of each index; a case's
public reference still its own."""

import time
import uuid

from services.intake.domain.commands import ReportIncident
from services.notifications.domain.templates import case_ref
from shared.ids import case_id, case_reference, time_ordered_id


def test_case_ids_are_uuid7_in_the_order_they_were_made():
    before_ms = time.time_ns() // 1_000_000
    ids = [case_id() for _ in range(2000)]
    assert {i.version for i in ids} == {7} and {i.variant for i in ids} == {uuid.RFC_4122}
    assert ids == sorted(ids)
    assert ids[0].int >> 80 >= before_ms


def test_the_public_reference_is_the_random_tail_so_cases_of_one_millisecond_differ():
    """Two intake processes may make cases in the same millisecond: their ids' first 8 characters are the same
    time, their last 8 random bits."""
    at_ms = time.time_ns() // 1_000_000
    same_millisecond = [uuid.UUID(int=(at_ms << 80) | (7 << 76) | (2 << 62) | (n * 0x9E3779B97F4A7C15 % 2**62))
                        for n in range(1, 2001)]
    assert len({str(i)[:8] for i in same_millisecond}) == 1
    assert len({case_reference(i) for i in same_millisecond}) == 2000
    made = case_id()
    assert case_reference(made) == str(made)[-8:] == case_ref(made)   # the SMS texts' reference is this one


def test_references_of_a_burst_of_cases_do_not_repeat():
    refs = [case_reference(case_id()) for _ in range(2000)]
    assert len(set(refs)) == len(refs)


def test_event_ids_and_case_ids_share_one_ordering():
    event, case = time_ordered_id(), case_id()
    assert event.version == case.version == 7 and event < case


def test_a_reported_case_gets_a_time_ordered_id():
    first = ReportIncident(source="gridworker", category="city.garbage", urgency="normal", title="一")
    second = ReportIncident(source="gridworker", category="city.garbage", urgency="normal", title="二")
    assert first.incident_id.version == 7 and first.incident_id < second.incident_id
