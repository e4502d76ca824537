"""Ids of rows that accumulate: time-ordered, so a year of them is written at one moving point of each index; a
case's public reference (its first 8 hex characters) as unlikely to repeat as a random id's."""

import multiprocessing
import time
import uuid

import uuid6

import shared.ids
from services.intake.domain.commands import ReportIncident
from services.notifications.domain.templates import case_ref
from shared.ids import case_id, case_reference, time_ordered_id


def test_case_ids_are_uuid8_in_the_order_a_process_made_them():
    ids = [case_id() for _ in range(2000)]
    assert {i.version for i in ids} == {8} and {i.variant for i in ids} == {uuid.RFC_4122}
    # at most one step down: where the reference passes ffffffff
    wrapped = [i for a, i in zip(ids, ids[1:], strict=False) if i < a]
    assert len(wrapped) <= 1


def test_a_process_never_repeats_a_reference_even_in_a_burst():
    refs = [case_reference(case_id()) for _ in range(5000)]
    assert len(set(refs)) == len(refs)
    made = case_id()
    assert case_reference(made) == str(made)[:8] == case_ref(made)   # the SMS texts' reference is this one


def test_the_reference_is_the_processs_millisecond_plus_its_offset():
    before_ms = time.time_ns() // 1_000_000
    made = case_id()
    ms = int(str(made)[:8], 16) - shared.ids._offset
    assert (ms - before_ms) % 2**32 < 60_000


def test_two_processes_making_cases_in_the_same_millisecond_get_different_references(monkeypatch):
    """Two intake replicas: the same clock, their own offsets (a burst on both used to share every reference)."""
    # Put back afterwards as they are now (not as frozen below): later tests read the real clock again.
    monkeypatch.setattr(uuid6, "_last_v7_timestamp", uuid6._last_v7_timestamp)
    monkeypatch.setattr(shared.ids, "_offset", shared.ids._offset)
    frozen_ns = time.time_ns() + 3_600_000_000_000   # ahead of any millisecond this process has used
    monkeypatch.setattr(time, "time_ns", lambda: frozen_ns)
    mine = case_reference(case_id())
    # What another process has: uuid6's clock of its own (so the same millisecond again) and its own offset.
    monkeypatch.setattr(uuid6, "_last_v7_timestamp", None)
    shared.ids._draw_offset()
    theirs = case_reference(case_id())
    assert mine != theirs


def test_a_forked_worker_draws_its_own_offset():
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child_offset = pool.apply(_offset_here)
    assert child_offset != shared.ids._offset


def _offset_here() -> int:
    return shared.ids._offset


def test_event_ids_are_uuid7_in_order():
    before_ms = time.time_ns() // 1_000_000
    ids = [time_ordered_id() for _ in range(500)]
    assert {i.version for i in ids} == {7} and ids == sorted(ids) and ids[0].int >> 80 >= before_ms


def test_a_reported_case_gets_a_case_id():
    first = ReportIncident(source="gridworker", category="city.garbage", urgency="normal", title="一")
    assert first.incident_id.version == 8
