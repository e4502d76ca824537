from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import ClockAnchor, VirtualClock
from shared.db.queries import Queries
from tests.support import FakeTime, FixedClock

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def test_virtual_clock_runs_at_its_speed_and_advances():
    real = FakeTime()
    clock = VirtualClock(ClockAnchor(T0, real.now, speed=60), real_time=real)
    real.now += 10
    assert clock.now() == T0 + timedelta(minutes=10)
    clock.set_anchor(clock.advanced(3600))
    assert clock.now() == T0 + timedelta(minutes=70)
    real.now += 1
    assert clock.now() == T0 + timedelta(minutes=71)


def test_virtual_clock_never_runs_backwards_on_a_stale_anchor():
    real = FakeTime()
    clock = VirtualClock(ClockAnchor(T0, real.now, speed=1), real_time=real)
    clock.set_anchor(clock.advanced(100))
    clock.set_anchor(ClockAnchor(T0, real.now, speed=1))  # an old reading arriving late
    assert clock.now() == T0 + timedelta(seconds=100)


def test_fixed_clock_needs_aware_time():
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


def test_named_queries_load_by_name(tmp_path):
    path = tmp_path / "queries.sql"
    path.write_text("-- name: one\nSELECT 1;\n\n-- name: two_things\nSELECT $1,\n $2;\n")
    q = Queries.load(path)
    assert q.one == "SELECT 1"
    assert q.two_things == "SELECT $1,\n $2"
    with pytest.raises(AttributeError):
        _ = q.three


def test_duplicate_query_names_are_an_error(tmp_path):
    path = tmp_path / "queries.sql"
    path.write_text("-- name: one\nSELECT 1;\n-- name: one\nSELECT 2;\n")
    with pytest.raises(ValueError, match="twice"):
        Queries.load(path)
