"""Ids of rows that accumulate: time-ordered (so a year of them is written at one end of each index), and a
case's still carrying a public reference of its own in its first 8 characters."""

import time
import uuid

from services.intake.domain.commands import ReportIncident
from shared.ids import case_id, time_ordered_id


def test_case_ids_are_time_ordered_within_each_turn_of_their_clock():
    ids = [case_id() for _ in range(2000)]
    assert {i.version for i in ids} == {8} and {i.variant for i in ids} == {uuid.RFC_4122}
    assert ids == sorted(ids)


def test_each_case_made_by_a_process_has_a_public_reference_of_its_own():
    """Two thousand cases in a burst (faster than one a millisecond) still get two thousand references."""
    refs = [str(case_id())[:8] for _ in range(2000)]
    assert len(set(refs)) == len(refs)


def test_a_case_reference_is_the_millisecond_it_was_made_modulo_2_to_the_32():
    before_ms = time.time_ns() // 1_000_000
    made = case_id()
    ms = (made.int >> 96) | (((made.int >> 80) & 0xFFFF) << 32)  # the rotation undone
    assert ms >= before_ms and ms - before_ms < 60_000
    assert int(str(made)[:8], 16) == ms % 2**32


def test_cases_and_events_share_one_clock_so_neither_repeats_the_others_millisecond():
    event, case = time_ordered_id(), case_id()
    case_ms = (case.int >> 96) | (((case.int >> 80) & 0xFFFF) << 32)
    assert case_ms > event.int >> 80


def test_a_reported_case_gets_a_time_ordered_id():
    first = ReportIncident(source="gridworker", category="city.garbage", urgency="normal", title="一")
    second = ReportIncident(source="gridworker", category="city.garbage", urgency="normal", title="二")
    assert first.incident_id.version == 8 and first.incident_id < second.incident_id
