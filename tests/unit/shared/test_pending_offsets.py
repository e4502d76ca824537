"""Offset commits while events flow (shared/messaging/consumer.py PendingOffsets): at most one per interval, the
latest offset of every partition applied since the last, nothing when nothing was applied. The clock is injected."""

from __future__ import annotations

from aiokafka import TopicPartition

from shared.messaging.consumer import PendingOffsets
from tests.support import FakeTime

A, B = TopicPartition("intake.incidents.v1", 0), TopicPartition("intake.incidents.v1", 1)


def test_applied_offsets_wait_for_the_interval_then_go_together_latest_per_partition():
    clock = FakeTime()
    offsets = PendingOffsets(interval=1.0, clock=clock)
    offsets.applied({A: 5})
    clock.now += 0.4
    offsets.applied({A: 9, B: 3})
    assert not offsets.due()  # 0.4 s since the last commit (the start)
    clock.now += 0.6
    assert offsets.due()
    assert offsets.take() == {A: 9, B: 3}
    # Taken: nothing pending, and the next interval starts now.
    assert not offsets.due() and offsets.take() == {}
    offsets.applied({B: 4})
    clock.now += 0.99
    assert not offsets.due()
    clock.now += 0.01
    assert offsets.take() == {B: 4}


def test_nothing_applied_is_never_due_however_long_it_waits():
    clock = FakeTime()
    offsets = PendingOffsets(interval=1.0, clock=clock)
    clock.now += 60
    assert not offsets.due()
    offsets.applied({})
    assert not offsets.due()
