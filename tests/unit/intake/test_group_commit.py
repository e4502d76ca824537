"""Group commit of reports: many reports, one transaction, each answered on its own (fakes, no sockets)."""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from services.intake.domain.commands import IdempotencyKey, ReportIncident
from services.intake.domain.duplicates import DuplicatePolicy
from services.intake.domain.errors import IdempotencyConflict, UnknownCategory
from services.intake.service_layer.group_commit import ReportCommitter
from services.intake.service_layer.handlers import Outcome, report_incidents
from shared.events.intake import Point
from tests.unit.intake.fakes import DUPLICATES, FakeIncidents, FakeIntakeUnitOfWork, IntakeStore, report


async def take(reports: list[ReportIncident], uow: FakeIntakeUnitOfWork) -> list[Outcome]:
    return await report_incidents(reports, uow, DUPLICATES)


def keyed(key: IdempotencyKey, **overrides) -> ReportIncident:
    return replace(report(**overrides), idempotency_key=key)


NEAR = Point(lon=120.0503, lat=31.1002)  # ~35 m from report()'s point
FAR = Point(lon=120.06, lat=31.1)        # ~950 m


async def test_a_batch_is_one_commit_and_each_report_gets_its_own_outcome_in_order():
    uow = FakeIntakeUnitOfWork()
    outcomes = await take(
        [report(title="一"), report(category="no.such"), report(title="三", location=FAR)],
        uow)
    assert isinstance(outcomes[1], UnknownCategory)
    assert [o.title for o in (outcomes[0], outcomes[2])] == ["一", "三"]
    assert uow.commits == 1 and len(uow.incidents.rows) == 2
    assert [e.subject for e in uow.published] == [str(outcomes[0].id), str(outcomes[2].id)]


async def test_a_batch_of_refused_reports_commits_nothing():
    uow = FakeIntakeUnitOfWork()
    outcomes = await take([report(category="no.such")], uow)
    assert isinstance(outcomes[0], UnknownCategory)
    assert uow.commits == 0 and uow.published == []


async def test_one_key_twice_in_a_batch_makes_one_case_and_another_body_with_it_conflicts():
    uow = FakeIntakeUnitOfWork()
    same = IdempotencyKey("app-1", "k-1", '{"title":"a"}')
    other = IdempotencyKey("app-1", "k-1", '{"title":"b"}')
    first, resend, conflicting = await take(
        [keyed(same), keyed(same), keyed(other)], uow)
    assert resend.id == first.id
    assert isinstance(conflicting, IdempotencyConflict)
    assert len(uow.incidents.rows) == 1 and len(uow.published) == 1


async def test_a_key_held_before_the_batch_answers_with_the_earlier_case_and_stores_nothing_new():
    uow = FakeIntakeUnitOfWork()
    key = IdempotencyKey("app-1", "k-1", "{}")
    [earlier] = await take([keyed(key)], uow)
    [again, other] = await take([keyed(key), report(location=FAR)], uow)
    assert again.id == earlier.id and again is not other
    assert set(uow.incidents.rows) == {earlier.id, other.id}
    assert [e.subject for e in uow.published] == [str(earlier.id), str(other.id)]


async def test_reports_of_one_batch_are_linked_as_duplicates_as_if_they_came_one_after_the_other():
    uow = FakeIntakeUnitOfWork()
    master, near, far, other = await take(
        [report(), report(location=NEAR), report(location=FAR),
         report(category="safety.gas", location=NEAR)], uow)
    assert master.duplicate_of is None
    assert near.duplicate_of == master.id
    assert far.duplicate_of is None and other.duplicate_of is None


@pytest.mark.parametrize("policy", [DuplicatePolicy(radius_m=0, window=timedelta(hours=24)),
                                    DuplicatePolicy(radius_m=50, window=timedelta(0))])
async def test_a_radius_or_window_of_zero_links_nothing_not_even_reports_at_one_point(policy):
    uow = FakeIntakeUnitOfWork()
    [stored] = await report_incidents([report()], uow, policy)
    first, same_point = await report_incidents([report(), report()], uow, policy)
    assert stored.duplicate_of is None and first.duplicate_of is None and same_point.duplicate_of is None
    [linked] = await take([report()], uow)  # the same point under the default rule: linked to the first stored
    assert linked.duplicate_of == stored.id


async def test_the_committer_takes_the_reports_waiting_together_in_one_transaction():
    uow = FakeIntakeUnitOfWork()
    committer = ReportCommitter(lambda: uow, DUPLICATES, max_batch=64, concurrency=1)
    cases = await asyncio.gather(*[committer.submit(report(title=f"r{n}", location=None))
                                   for n in range(10)])
    await committer.close()
    assert [case.title for case in cases] == [f"r{n}" for n in range(10)]
    assert committer.batches == 1 and uow.commits == 1 and len(uow.published) == 10


async def test_a_batch_is_no_larger_than_its_limit():
    uow = FakeIntakeUnitOfWork()
    committer = ReportCommitter(lambda: uow, DUPLICATES, max_batch=4, concurrency=1)
    await asyncio.gather(*[committer.submit(report(location=None)) for _ in range(10)])
    await committer.close()
    assert committer.batches == 3 and uow.commits == 3 and len(uow.incidents.rows) == 10


class ExplodingIncidents(FakeIncidents):
    """A store that refuses the whole write when one case breaks a rule only the database knows."""

    async def insert_cases(self, incidents, claims=(), envelopes=()):
        if any(incident.title == "boom" for incident in incidents):
            raise RuntimeError("violates a database constraint")
        return await super().insert_cases(incidents, claims, envelopes)


async def test_a_failed_batch_is_taken_again_one_by_one_so_only_the_bad_report_fails():
    store = IntakeStore()
    store.incidents = ExplodingIncidents()
    uow = FakeIntakeUnitOfWork(store)
    committer = ReportCommitter(lambda: uow, DUPLICATES, concurrency=1)
    outcomes = await asyncio.gather(*[committer.submit(report(title=title, location=None))
                                      for title in ("good-1", "boom", "good-2")], return_exceptions=True)
    await committer.close()
    assert outcomes[0].title == "good-1" and outcomes[2].title == "good-2"
    assert isinstance(outcomes[1], RuntimeError)
    assert sorted(i.title for i in uow.incidents.rows.values()) == ["good-1", "good-2"]
    assert len(uow.published) == 2


async def test_a_refused_report_is_answered_with_its_own_error():
    committer = ReportCommitter(FakeIntakeUnitOfWork, DUPLICATES, concurrency=1)
    with pytest.raises(UnknownCategory):
        await committer.submit(report(category="no.such"))
    await committer.close()


async def test_a_closed_committer_takes_no_more_reports():
    committer = ReportCommitter(FakeIntakeUnitOfWork, DUPLICATES)
    await committer.close()
    with pytest.raises(RuntimeError):
        await committer.submit(report())
