"""The event backbone against the real Postgres and the real Kafka: outbox relay, inbox, dead letters."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgUnitOfWork
from shared.events.envelope import Envelope
from shared.events.intake import IncidentReceived, IncidentSigned
from shared.messaging.consumer import EventProcessor, Incoming, run_consumer
from shared.messaging.kafka import make_consumer, make_producer
from shared.messaging.outbox import OutboxRelay, leader_lock_key
from shared.messaging.topics import INCIDENTS, PARTITIONS
from tests.e2e.stack import eventually
from tests.support import KAFKA_BOOTSTRAP, SERVICE_DIRS, FixedClock

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def received(incident_id: uuid.UUID | None = None) -> IncidentReceived:
    return IncidentReceived(incident_id=incident_id or uuid.uuid4(), at=NOW, source="gridworker",
                            category="city.garbage", urgency="normal", title="垃圾", reported_at=NOW)


@pytest.fixture
async def pool(fresh_database):
    dsn = await fresh_database("msg")
    await migrate(dsn, SERVICE_DIRS["intake"])  # any service: the messaging tables are shared
    pool = await create_pool(dsn, 1, 6)
    await pool.execute("CREATE TABLE applied (event_id uuid, incident_id uuid)")
    yield pool
    await pool.close()


@pytest.fixture
async def producer():
    producer = make_producer(KAFKA_BOOTSTRAP)
    await producer.start()
    yield producer
    await producer.stop()


async def read_all(topic: str, expected: int, timeout: float = 20.0) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA_BOOTSTRAP, auto_offset_reset="earliest",
                                group_id=f"reader-{uuid.uuid4().hex[:6]}", enable_auto_commit=False)
    await consumer.start()
    records = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for recs in batch.values():
                    records.extend(recs)
    finally:
        await consumer.stop()
    return records


async def write_events(pool: asyncpg.Pool, events: list) -> list[Envelope]:
    uow = PgUnitOfWork(pool, "/intake", FixedClock(NOW))
    async with uow:
        envelopes = [uow.emit(e) for e in events]
        await uow.commit()
    return envelopes


async def test_relay_publishes_committed_rows_in_order_keyed_by_incident_and_deletes_them(
        pool, producer, topic_prefix):
    case = uuid.uuid4()
    envelopes = await write_events(pool, [received(case), IncidentSigned(incident_id=case, at=NOW, actor="w1")]
                                   + [received() for _ in range(8)])
    relay = OutboxRelay(pool, producer, service="t", topic_prefix=topic_prefix)
    assert await relay.publish_batch() == 10
    records = await read_all(topic_prefix + INCIDENTS, 10)
    ids = [Envelope.model_validate_json(r.value).id for r in records]
    assert sorted(map(str, ids)) == sorted(str(e.id) for e in envelopes)
    same_case = [Envelope.model_validate_json(r.value) for r in records if r.key == str(case).encode()]
    assert [e.type for e in same_case] == ["intake.incident.received", "intake.incident.signed"]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # gone once on the broker
    assert await relay.publish_batch() == 0


async def test_a_rolled_back_unit_of_work_leaves_no_outbox_row(pool):
    uow = PgUnitOfWork(pool, "/intake", FixedClock(NOW))
    with pytest.raises(RuntimeError):
        async with uow:
            uow.emit(received())
            raise RuntimeError("the handler failed")
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_only_one_relay_leads_and_the_standby_takes_over(pool, producer, topic_prefix):
    first = OutboxRelay(pool, producer, service="lead", topic_prefix=topic_prefix, poll_seconds=0.05)
    second = OutboxRelay(pool, producer, service="lead", topic_prefix=topic_prefix, poll_seconds=0.05)
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    task_first = asyncio.create_task(first.run(stop_first))
    await asyncio.sleep(0.3)
    task_second = asyncio.create_task(second.run(stop_second))
    await write_events(pool, [received() for _ in range(5)])
    await _until(lambda: first.published == 5)
    assert second.published == 0
    stop_first.set()
    await task_first
    await write_events(pool, [received() for _ in range(3)])
    await _until(lambda: second.published == 3)
    stop_second.set()
    await task_second
    assert len(await read_all(topic_prefix + INCIDENTS, 8)) == 8


async def _leading(pool: asyncpg.Pool, service: str) -> None:
    """Until a relay of `service` holds its leader lock (a bigint advisory lock: its halves in classid and objid)."""
    key = leader_lock_key(service) & 0xFFFFFFFFFFFFFFFF
    async with asyncio.timeout(15):
        while not await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
                " AND classid::bigint = $1 AND objid::bigint = $2", key >> 32, key & 0xFFFFFFFF):
            await asyncio.sleep(0.05)


async def test_a_woken_relay_takes_the_commits_that_follow_in_the_same_batch(pool, producer, topic_prefix):
    """COALESCE_MS: woken by one commit, the relay waits for the next ones and publishes them together."""
    relay = OutboxRelay(pool, producer, service="gather", topic_prefix=topic_prefix, poll_seconds=30,
                        coalesce_seconds=1.0)
    batches: list[int] = []
    publish = relay.publish_batch

    async def counted() -> int:
        published = await publish()
        if published:
            batches.append(published)
        return published

    relay.publish_batch = counted  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await _leading(pool, "gather")
    await write_events(pool, [received()])
    await _until(lambda: relay.published == 1)  # past its first reads: from here it waits for a hint
    for _ in range(3):
        await write_events(pool, [received()])  # three transactions, each waking the relay
    await _until(lambda: relay.published == 4)
    stop.set()
    await task
    assert batches == [1, 3]
    assert len(await read_all(topic_prefix + INCIDENTS, 4)) == 4


async def test_every_commit_wakes_a_caught_up_relay_without_its_poll(pool, producer, topic_prefix):
    """After a batch short of full the relay reads no more until a commit's hint wakes it: none may be missed, or a
    row would wait for the poll (thirty seconds here, longer than the test's patience)."""
    relay = OutboxRelay(pool, producer, service="hints", topic_prefix=topic_prefix, poll_seconds=30)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await _leading(pool, "hints")
    for _ in range(20):
        await write_events(pool, [received()])
    await _until(lambda: relay.published == 20)
    stop.set()
    await task
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def _until(condition, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def counting_processor(pool, fail_on: set[uuid.UUID] | None = None) -> EventProcessor:
    async def apply(event, envelope, uow):
        if fail_on and event.incident_id in fail_on:
            raise ValueError("poison")
        await uow.conn.execute("INSERT INTO applied VALUES ($1, $2)", envelope.id, event.incident_id)

    return EventProcessor("counter", {IncidentReceived.type: apply},
                          lambda: PgUnitOfWork(pool, "/test", FixedClock(NOW)), pool,
                          max_attempts=3, backoff_seconds=0.01)


def record_of(envelope: Envelope, offset: int = 0) -> Incoming:
    return Incoming("intake.incidents.v1", 0, offset, envelope.subject, envelope.model_dump_json())


async def test_inbox_applies_a_redelivered_event_once(pool):
    processor = counting_processor(pool)
    envelope = Envelope.wrap(received(), source="/intake", time=NOW)
    assert await processor.process(record_of(envelope, 0)) == "applied"
    assert await processor.process(record_of(envelope, 1)) == "duplicate"
    assert await pool.fetchval("SELECT count(*) FROM applied") == 1


async def test_poison_event_is_parked_after_bounded_retries_and_the_next_one_is_applied(pool):
    bad, good = received(), received()
    processor = counting_processor(pool, fail_on={bad.incident_id})
    bad_env = Envelope.wrap(bad, source="/intake", time=NOW)
    assert await processor.process(record_of(bad_env, 0)) == "parked"
    assert await processor.process(record_of(Envelope.wrap(good, source="/intake", time=NOW), 1)) == "applied"
    parked = await pool.fetch("SELECT event_id, attempts, error, replayed_at FROM dead_letter")
    assert [(r["event_id"], r["attempts"]) for r in parked] == [(bad_env.id, 3)]
    assert "poison" in parked[0]["error"]
    assert await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", bad_env.id) == 0

    # Replaying while it still fails keeps it parked; after the fix it is applied once.
    assert (await processor.replay_parked())[0][1].startswith("still failing")
    fixed = counting_processor(pool)
    assert [outcome for _, outcome in await fixed.replay_parked()] == ["applied"]
    assert await fixed.replay_parked() == []
    assert await pool.fetchval("SELECT count(*) FROM applied WHERE event_id = $1", bad_env.id) == 1


async def test_a_batch_is_one_transaction_and_a_poison_record_sends_it_one_by_one(pool):
    events = [received() for _ in range(5)]
    envelopes = [Envelope.wrap(e, source="/intake", time=NOW) for e in events]
    records = [record_of(env, n) for n, env in enumerate([*envelopes, envelopes[1]])]  # with a redelivery
    processor = counting_processor(pool)
    await pool.execute("ALTER TABLE applied ADD COLUMN tx bigint DEFAULT txid_current()")
    assert await processor.process_many(records) == ["applied"] * 5 + ["duplicate"]
    rows = await pool.fetch("SELECT event_id, tx FROM applied")
    assert [r["event_id"] for r in rows] == [env.id for env in envelopes]  # in order, once each
    assert len({r["tx"] for r in rows}) == 1  # one transaction (one commit) for the batch
    # A later batch: what an earlier batch applied is a duplicate, the rest is applied.
    later = Envelope.wrap(received(), source="/intake", time=NOW)
    assert await processor.process_many([record_of(envelopes[0], 6), record_of(later, 7)]) == ["duplicate", "applied"]
    assert await pool.fetchval("DELETE FROM applied WHERE event_id = $1 RETURNING 1", later.id) == 1

    more = [received() for _ in range(3)]
    poisoned = counting_processor(pool, fail_on={more[1].incident_id})
    batch = [record_of(Envelope.wrap(e, source="/intake", time=NOW), 10 + n) for n, e in enumerate(more)]
    assert await poisoned.process_many(batch) == ["applied", "parked", "applied"]
    assert await pool.fetchval("SELECT count(*) FROM applied") == 5 + 2
    assert await pool.fetchval("SELECT count(*) FROM dead_letter") == 1


async def test_a_run_of_one_type_goes_through_its_batch_handler_in_order_and_a_failing_batch_one_by_one(pool):
    """Consecutive events of a type with a batch handler are applied by one call of it (in the batch's transaction,
    in partition order); an event of another type ends the run, so does a second event of a case in it (the batch
    handler meets each case once), and a run of one takes the one-event handler. When a batch fails, its records go
    again one by one, each through its one-event handler."""
    calls: list[tuple[str, list[uuid.UUID]]] = []
    poison: set[uuid.UUID] = set()

    async def one(event, envelope, uow):
        calls.append(("one", [event.incident_id]))
        if event.incident_id in poison:
            raise ValueError("poison")
        await uow.conn.execute("INSERT INTO applied VALUES ($1, $2)", envelope.id, event.incident_id)

    async def many(events, uow):
        calls.append(("many", [event.incident_id for event, _ in events]))
        if poison & {event.incident_id for event, _ in events}:
            raise ValueError("poison")
        await uow.conn.executemany("INSERT INTO applied VALUES ($1, $2)",
                                   [(envelope.id, event.incident_id) for event, envelope in events])

    processor = EventProcessor("runs", {IncidentReceived.type: one, IncidentSigned.type: one},
                               lambda: PgUnitOfWork(pool, "/test", FixedClock(NOW)), pool,
                               max_attempts=1, backoff_seconds=0.01, batch_handlers={IncidentReceived.type: many})
    r1, r2, r3, r4, r5 = (received() for _ in range(5))
    again = received(r2.incident_id)  # the same case, re-published (a new event id)
    signed = IncidentSigned(incident_id=r1.incident_id, at=NOW)
    envelopes = [Envelope.wrap(e, source="/intake", time=NOW) for e in (r1, r2, r3, again, r5, signed, r4)]
    records = [record_of(env, n) for n, env in enumerate([*envelopes[:2], envelopes[0], *envelopes[2:]])]
    assert await processor.process_many(records) == ["applied", "applied", "duplicate", "applied", "applied",
                                                     "applied", "applied", "applied"]
    assert calls == [("many", [r1.incident_id, r2.incident_id, r3.incident_id]),
                     ("many", [r2.incident_id, r5.incident_id]), ("one", [r1.incident_id]), ("one", [r4.incident_id])]
    assert [r["event_id"] for r in await pool.fetch("SELECT event_id FROM applied")] == [e.id for e in envelopes]

    calls.clear()
    bad, good = received(), received()
    poison.add(bad.incident_id)
    batch = [record_of(Envelope.wrap(e, source="/intake", time=NOW), 10 + n) for n, e in enumerate((good, bad))]
    assert await processor.process_many(batch) == ["applied", "parked"]
    assert calls == [("many", [good.incident_id, bad.incident_id]), ("one", [good.incident_id]),
                     ("one", [bad.incident_id])]
    assert await pool.fetchval("SELECT count(*) FROM applied WHERE incident_id = $1", good.incident_id) == 1


async def test_batches_of_two_partitions_lock_their_cases_in_one_order_and_never_deadlock(pool):
    """A consumer applies its partitions side by side, and two topics' partitions carry events of the same cases
    in different orders. Batch A holds case X (its handler paused on X's event); batch B, with Y's event before
    X's, waits at its start for the cases' lock rather than taking Y: A then takes Y without a deadlock."""
    await pool.execute("CREATE TABLE case_row (incident_id uuid PRIMARY KEY, events int NOT NULL)")
    x, y = uuid.uuid4(), uuid.uuid4()
    a_holds_x, release_a = asyncio.Event(), asyncio.Event()

    async def apply(event, envelope, uow):
        await uow.conn.execute("INSERT INTO case_row VALUES ($1, 1) ON CONFLICT (incident_id) "
                               "DO UPDATE SET events = case_row.events + 1", event.incident_id)
        if envelope.source == "/a" and event.incident_id == x:
            a_holds_x.set()
            await release_a.wait()

    processor = EventProcessor("locks", {IncidentReceived.type: apply},
                               lambda: PgUnitOfWork(pool, "/test", FixedClock(NOW)), pool,
                               max_attempts=1, backoff_seconds=0.01)
    batch_a = [record_of(Envelope.wrap(received(i), source="/a", time=NOW), n) for n, i in enumerate((x, y))]
    batch_b = [record_of(Envelope.wrap(received(i), source="/b", time=NOW), n) for n, i in enumerate((y, x))]
    a = asyncio.create_task(processor.process_many(batch_a))
    await asyncio.wait_for(a_holds_x.wait(), 10)
    b = asyncio.create_task(processor.process_many(batch_b))

    async def b_waits_for_the_case_lock() -> bool:
        return await pool.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 1

    async with asyncio.timeout(10):
        while not await b_waits_for_the_case_lock():
            await asyncio.sleep(0.02)
    release_a.set()
    assert await asyncio.wait_for(asyncio.gather(a, b), 20) == [["applied", "applied"], ["applied", "applied"]]
    assert await pool.fetchval("SELECT sum(events) FROM case_row") == 4
    assert await pool.fetchval("SELECT count(*) FROM dead_letter") == 0


async def test_garbage_bytes_are_parked_not_looped(pool):
    processor = counting_processor(pool)
    outcome = await processor.process(Incoming("intake.incidents.v1", 2, 7, None, "{not json"))
    assert outcome == "parked"
    row = await pool.fetchrow("SELECT kafka_partition, kafka_offset, event_id, error FROM dead_letter")
    assert (row["kafka_partition"], row["kafka_offset"], row["event_id"]) == (2, 7, None)
    assert "CloudEvents" in row["error"]


async def test_consumer_loop_over_kafka_dedupes_redelivery_and_commits_offsets(pool, topic_prefix):
    topic = topic_prefix + INCIDENTS
    envelopes = [Envelope.wrap(received(), source="/intake", time=NOW) for _ in range(5)]
    await publish(topic, envelopes + envelopes[:2])  # the first two delivered twice
    group = f"g-{uuid.uuid4().hex[:6]}"
    processor = counting_processor(pool)
    stop = asyncio.Event()
    # An hour between commits: what is committed below, the stop committed.
    task = asyncio.create_task(run_consumer(make_consumer(KAFKA_BOOTSTRAP, group, [topic]), processor, stop,
                                            commit_interval=3600))
    await _until(lambda: processor.applied == 5, timeout=30)
    await asyncio.sleep(1.0)  # let the duplicates arrive too
    stop.set()
    await task
    assert await pool.fetchval("SELECT count(*) FROM applied") == 5
    # Each partition's offset committed up to its end (the cases' keys spread them over several partitions; one
    # commit covers all of them).
    offsets = await committed_and_end_offsets(group, topic)
    assert len(offsets) > 1 and all(committed == end for committed, end in offsets.values()), offsets

    # A new consumer in the same group starts after the committed offsets: nothing is applied again.
    again = counting_processor(pool)
    stop2 = asyncio.Event()
    task2 = asyncio.create_task(run_consumer(make_consumer(KAFKA_BOOTSTRAP, group, [topic]), again, stop2))
    await asyncio.sleep(3)
    stop2.set()
    await task2
    assert again.applied == 0
    assert await pool.fetchval("SELECT count(*) FROM applied") == 5


async def test_offsets_are_committed_while_the_consumer_runs_not_only_when_it_stops(pool, topic_prefix):
    topic = topic_prefix + INCIDENTS
    await publish(topic, [Envelope.wrap(received(), source="/intake", time=NOW) for _ in range(5)])
    group = f"g-{uuid.uuid4().hex[:6]}"
    processor = counting_processor(pool)
    stop = asyncio.Event()
    task = asyncio.create_task(run_consumer(make_consumer(KAFKA_BOOTSTRAP, group, [topic]), processor, stop,
                                            commit_interval=0.2))
    try:
        await _until(lambda: processor.applied == 5, timeout=30)
        # No more records come: the empty polls commit what the last one applied (a crash now reads nothing again).
        committed: dict[int, tuple[int | None, int]] = {}

        async def all_committed() -> bool:
            committed.update(await committed_and_end_offsets(group, topic))
            return len(committed) > 1 and all(done == end for done, end in committed.values())

        await eventually(all_committed, timeout=30)
        assert not task.done()
    finally:
        stop.set()
        await task


async def publish(topic: str, envelopes: list[Envelope]) -> Any:
    """Straight onto the topic, keyed by case, each acknowledged before the next; the last one's record metadata."""
    raw = AIOKafkaProducer(bootstrap_servers=KAFKA_BOOTSTRAP)
    await raw.start()
    try:
        for env in envelopes:
            sent = await raw.send_and_wait(topic, env.to_bytes(), key=env.subject.encode())
    finally:
        await raw.stop()
    return sent


async def committed_and_end_offsets(group: str, topic: str) -> dict[int, tuple[int | None, int]]:
    """The group's committed offset and the end offset of each of the topic's partitions that holds records."""
    from aiokafka import TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=KAFKA_BOOTSTRAP, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]  # as ensure_topics made them
        reader.assign(partitions)
        ends = await reader.end_offsets(partitions)
        return {tp.partition: (await reader.committed(tp), ends[tp]) for tp in partitions if ends[tp] > 0}
    finally:
        await reader.stop()


async def test_rows_an_earlier_relay_marked_sent_are_not_published_again_and_are_purged(pool):
    """While an upgrade rolls, a relay of the version before may still mark rows sent instead of deleting them:
    the new relay leaves them alone and its purge deletes them."""
    from shared.messaging.outbox import EnvelopeOutbox

    await write_events(pool, [received() for _ in range(3)])
    await pool.execute("UPDATE outbox SET sent_at = now() WHERE id = (SELECT min(id) FROM outbox)")
    table = EnvelopeOutbox()
    async with pool.acquire() as conn:
        assert len(await table.unsent(conn, 10)) == 2
    assert await table.purge_sent(pool, 24) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_the_metrics_samplers_read_outbox_age_dead_letters_and_lag(pool, topic_prefix):
    """What shared/metrics.py reports while a role serves metrics: the oldest unsent row's age (one indexed query),
    the unreplayed dead letters, and a consumer's lag per partition (highwater - position)."""
    from aiokafka import TopicPartition

    from shared import metrics
    from shared.messaging.outbox import EnvelopeOutbox

    assert await metrics.note_outbox_age(pool, EnvelopeOutbox(), "intake") == 0.0
    await write_events(pool, [received() for _ in range(2)])
    await pool.execute("UPDATE outbox SET created_at = now() - interval '90 seconds' "
                       "WHERE id = (SELECT min(id) FROM outbox)")
    age = await metrics.note_outbox_age(pool, EnvelopeOutbox(), "intake")
    assert 89 < age < 120
    assert metrics.OUTBOX_AGE.labels("intake")._value.get() == age
    await pool.execute("DELETE FROM outbox")  # as the relay does once they are published
    assert await metrics.note_outbox_age(pool, EnvelopeOutbox(), "intake") == 0.0

    bad = received()
    parked = counting_processor(pool, fail_on={bad.incident_id})
    parked.backoff = 0.0
    assert await parked.process(record_of(Envelope.wrap(bad, source="/intake", time=NOW))) == "parked"
    assert await metrics.count_dead_letters(pool, "counter") == 1
    await counting_processor(pool).replay_parked()
    assert await metrics.count_dead_letters(pool, "counter") == 0

    topic = topic_prefix + INCIDENTS
    one_case = uuid.uuid4()  # one key: one partition
    sent = await publish(topic, [Envelope.wrap(received(one_case), source="/intake", time=NOW) for _ in range(5)])
    client = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA_BOOTSTRAP, group_id=f"g-{uuid.uuid4().hex[:6]}",
                              enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=2)
    await client.start()
    lag = metrics.ConsumerLag("lag-test")
    try:
        taken = 0
        while taken < 2:
            taken += sum(len(r) for r in (await client.getmany(timeout_ms=1000, max_records=2 - taken)).values())
        await lag.note(client)
        tp = TopicPartition(topic, sent.partition)
        assert metrics.CONSUMER_LAG.labels("lag-test", topic, str(sent.partition))._value.get() == \
            client.highwater(tp) - await client.position(tp) == 3
        assert tp in lag.reported
    finally:
        await client.stop()
    lag.forget()
    assert not any(s.labels.get("consumer") == "lag-test" for m in metrics.CONSUMER_LAG.collect() for s in m.samples)


def test_a_worker_role_serves_its_metrics_over_http(monkeypatch):
    """<SERVICE>_METRICS_PORT: what Prometheus scrapes from a role without an HTTP server of its own."""
    import socket
    import urllib.request

    from prometheus_client import start_http_server

    from shared import metrics

    monkeypatch.setattr(metrics, "SERVING", False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    servers = []

    def start(port: int, addr: str) -> None:
        servers.append(start_http_server(port, addr=addr))

    assert metrics.serve_metrics(port, "127.0.0.1", start=start) and metrics.SERVING
    httpd, _ = servers[0]
    try:
        metrics.count_events("scraped", ["applied"])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
        # A second role on the same port: logged, not fatal.
        assert metrics.serve_metrics(port, "127.0.0.1") is False
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert 'consumer_events_total{consumer="scraped",outcome="applied"} 1.0' in body
    assert "# TYPE outbox_oldest_unsent_age_seconds gauge" in body
