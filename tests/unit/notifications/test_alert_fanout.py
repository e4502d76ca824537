"""The alert fan-out's bookkeeping, without a database: ids handed out in order, holes waited for, areas,
caps, and a stream that falls behind ended rather than buffered without end."""

from __future__ import annotations

import pytest

from services.notifications.entrypoints.alert_fanout import Alert, AlertFanout, TooManyStreams


def alert(id_: int, grid_code: str | None = "320508019044001") -> Alert:
    return Alert(id_, grid_code, {"id": str(id_), "event": "supervision.light.changed", "data": "{}"})


async def fanout(**kwargs) -> AlertFanout:
    hub = AlertFanout(**kwargs)
    hub._task = object()  # type: ignore[assignment]  # as if started: no reader, no database
    return hub


def pending(subscription) -> list[int]:
    return [a.id for a in subscription.pending]


async def test_alerts_go_out_in_id_order_and_a_hole_is_waited_for_until_the_grace_ends():
    hub = await fanout(gap_grace_seconds=2.0)
    everyone = await hub.subscribe("sup", [""], 0)
    assert hub.hand_out([alert(1), alert(2), alert(4), alert(5)], now=100.0) == 2
    assert pending(everyone) == [1, 2] and hub.published == 2  # 3 is not committed yet: 4 and 5 wait
    assert hub.hand_out([alert(4), alert(5)], now=101.0) == 0
    assert hub.hand_out([alert(3), alert(4), alert(5)], now=101.5) == 3  # 3 came: all in order
    assert pending(everyone) == [1, 2, 3, 4, 5]
    assert hub.hand_out([alert(7)], now=102.0) == 0
    assert hub.hand_out([alert(7)], now=104.1) == 1  # 6 never came (a rolled back insert): passed
    assert pending(everyone)[-1] == 7 and hub.published == 7
    assert hub.hand_out([alert(6), alert(7)], now=105.0) == 0  # late and behind the mark: never twice


async def test_each_stream_gets_its_own_area_and_the_caps_hold():
    hub = await fanout(max_per_caller=2, max_streams=3)
    district = await hub.subscribe("a", ["320508"], 0)
    other = await hub.subscribe("b", ["310101"], 0)
    hub.hand_out([alert(1, "320508019044001"), alert(2, "310101001001001"), alert(3, None)], now=0.0)
    assert pending(district) == [1] and pending(other) == [2]  # an unplaced case: city-wide callers only
    await hub.subscribe("a", ["320508"], 0)
    with pytest.raises(TooManyStreams) as per_caller:
        await hub.subscribe("a", ["320508"], 0)
    assert per_caller.value.status == 429 and per_caller.value.headers == {"Retry-After": "5"}
    with pytest.raises(TooManyStreams, match="holds its 3 alert streams"):
        await hub.subscribe("c", [""], 0)
    district.close()
    district.close()  # idempotent: the response and the generator both give the slot back
    assert hub.streams == 2
    await hub.subscribe("c", [""], 0)


async def test_a_stream_that_does_not_read_is_ended_after_what_it_holds():
    hub = await fanout(buffer=2)
    slow = await hub.subscribe("sup", [""], 0)
    hub.hand_out([alert(1), alert(2), alert(3)], now=0.0)
    assert slow.ended and pending(slow) == [1, 2]
    events = [event async for event in slow.events()]  # joined at 0: nothing to catch up from the database
    assert [e["id"] for e in events] == ["1", "2"]
    assert hub.streams == 0
