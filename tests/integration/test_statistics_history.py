"""A month's statistics find each fact's assignment among the assignments of the weeks before the month (the cost
stays the month's as history grows; bench/history.py) and still credit a fact whose assignment is older than that
(a case that waited weeks) to the unit that had it."""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.calendar import ZONE
from shared.events import intake as ev
from tests.integration.test_statistics import (
    COMMUNITY,
    COMMUNITY_UNIT,
    GRID,
    GRID_UNIT,
    NOVEMBER,
    STREET,
    assigned,
    at,
    facts,  # noqa: F401 (the fixture)
    feed,
    month_of,
    rates,
    received,
)

SEPTEMBER_20 = datetime(2026, 9, 21, 9, 0, tzinfo=ZONE)  # a Monday six weeks before November


async def test_a_fact_whose_assignment_is_weeks_older_than_the_month_counts_for_its_unit(facts):  # noqa: F811
    pool, clock, calendar = facts
    old, recent = uuid.uuid4(), uuid.uuid4()
    events = [
        # assigned and signed in September; its result waited until November, failed 核查 once, then passed,
        # was closed, visited and reopened: every November fact of it points at the September assignment.
        received(old, SEPTEMBER_20), assigned(old, GRID_UNIT, SEPTEMBER_20),
        ev.IncidentSigned(incident_id=old, at=SEPTEMBER_20.replace(hour=10), actor="w1"),
        ev.IncidentResultSubmitted(incident_id=old, at=at(3), actor="w1", result="已处理"),
        ev.IncidentVerified(incident_id=old, at=at(4), actor="sup", passed=False),
        ev.IncidentResultSubmitted(incident_id=old, at=at(5), actor="w1", result="已返工"),
        ev.IncidentVerified(incident_id=old, at=at(6), actor="sup", passed=True),
        ev.IncidentClosed(incident_id=old, at=at(6)),
        ev.IncidentVisited(incident_id=old, at=at(9), actor="v", contacted="yes", responded=True, solved="yes",
                           satisfied="satisfied"),
        ev.IncidentReopened(incident_id=old, at=at(12), actor="sup", reason="复查"),
        # a November case of the community: found through the recent assignments
        received(recent, at(2, 9)), assigned(recent, COMMUNITY_UNIT, at(2, 9)),
        ev.IncidentSigned(incident_id=recent, at=at(2, 10), actor="c1"),
        ev.IncidentResultSubmitted(incident_id=recent, at=at(3), actor="c1", result="已处理"),
        ev.IncidentVerified(incident_id=recent, at=at(3, 15), actor="sup", passed=True),
        ev.IncidentClosed(incident_id=recent, at=at(3, 15)),
    ]
    for event in events:
        clock._now = event.at
        await feed(pool, clock, calendar, event)
    clock._now = at(30, 12)
    [assigned_at] = [r["assigned_at"] for r in await pool.fetch(
        "SELECT assigned_at FROM assignment_fact WHERE incident_id = $1", old)]
    assert (datetime(2026, 11, 1, tzinfo=ZONE) - assigned_at).days > 14

    grid = await month_of(pool, clock, calendar, NOVEMBER, "grid")
    assert [u.key for u in grid.units] == [GRID]
    figures, row = rates(grid, GRID)
    assert figures["rework_rate"] == (1, 2)        # two November verifications of the old case, one failed
    assert figures["reopen_rate"] == (1, 1)
    assert figures["satisfaction_rate"] == (1, 1) and figures["solved_rate"] == (1, 1)
    assert figures["response_rate"] == (1, 1)
    assert figures["timely_sign_rate"] == (0, 1)   # the 重办 sign phase, still on the September assignment
    assert row.cases == 1                           # its 返工 handle phase and verify phases fall due in November

    community = await month_of(pool, clock, calendar, NOVEMBER, "community")
    assert [u.key for u in community.units] == [COMMUNITY]
    figures, row = rates(community, COMMUNITY)
    assert figures["rework_rate"] == (1, 3)        # the old case's two and the recent one's
    assert figures["reopen_rate"] == (1, 2)
    assert figures["timely_sign_rate"] == (1, 2)   # the recent case's, and the old case's 重办 sign (unsigned)
    assert row.cases == 2

    street = await month_of(pool, clock, calendar, NOVEMBER, "street")
    assert rates(street, STREET)[0]["reopen_rate"] == (1, 2)
