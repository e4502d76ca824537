"""How the consumer loop (shared/messaging/consumer.py run_consumer) cuts a poll into transactions: a small poll's
records of every partition in one, each partition's in order; a big poll's partitions side by side, one each. And
the offsets it commits once it stops: every partition's next offset."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiokafka import TopicPartition

from shared.messaging.consumer import TRANSACTION_BATCH, Incoming, run_consumer

P0, P1 = TopicPartition("t.incidents.v1", 0), TopicPartition("t.assignments.v1", 1)


def records(tp: TopicPartition, count: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=n, key=b"case", value=b"{}")
            for n in range(count)]


class OnePoll:
    """A Kafka client whose first poll returns `batch`, then stops the loop."""

    def __init__(self, batch: dict[TopicPartition, list[SimpleNamespace]], stop: asyncio.Event,
                 owned: set[TopicPartition] | None = None) -> None:
        self.batch, self.stop_loop = batch, stop
        self.owned = set(batch) if owned is None else owned  # a rebalance may have taken some since the poll
        self.committed: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[SimpleNamespace]]:
        self.stop_loop.set()
        batch, self.batch = self.batch, {}
        return batch

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert set(offsets) <= self.owned, "aiokafka refuses a commit naming a partition it does not own"
        self.committed.append(dict(offsets))


class Transactions:
    """Stands for EventProcessor: each process_many call is one transaction; notes what it held."""

    name = "test"
    stop: asyncio.Event | None = None

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, int, int]]] = []

    async def process_many(self, batch: list[Incoming]) -> list[str]:
        self.calls.append([(r.topic, r.partition, r.offset) for r in batch])
        await asyncio.sleep(0)
        return ["applied"] * len(batch)


async def consume(batch: dict[TopicPartition, list[SimpleNamespace]], owned: set[TopicPartition] | None = None
                  ) -> tuple[Transactions, OnePoll]:
    stop = asyncio.Event()
    client, transactions = OnePoll(batch, stop, owned), Transactions()
    await run_consumer(lambda: client, transactions, stop)  # type: ignore[arg-type,return-value]
    return transactions, client


async def test_a_small_poll_is_one_transaction_each_partition_in_order():
    transactions, client = await consume({P0: records(P0, 2), P1: records(P1, 1)})
    assert transactions.calls == [[(P0.topic, 0, 0), (P0.topic, 0, 1), (P1.topic, 1, 0)]]
    assert client.committed == [{P0: 2, P1: 1}]


async def test_a_big_poll_is_a_transaction_per_partition_each_in_order():
    half = TRANSACTION_BATCH // 2 + 1  # two partitions of this: more than one transaction's worth together
    transactions, client = await consume({P0: records(P0, half), P1: records(P1, half)})
    assert sorted(transactions.calls) == sorted([[(P0.topic, 0, n) for n in range(half)],
                                                 [(P1.topic, 1, n) for n in range(half)]])
    assert client.committed == [{P0: half, P1: half}]


async def test_a_partition_taken_by_a_rebalance_is_left_out_of_the_commit_not_the_others():
    transactions, client = await consume({P0: records(P0, 3), P1: records(P1, 2)}, owned={P1})
    assert len(transactions.calls) == 1
    assert client.committed == [{P1: 2}]
