"""Suite-wide fixtures: throwaway databases and topics on the real local servers (see tests/support.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

os.environ["ENV"] = "test"  # settings have no default ENV; a shell's own never leaks into the suite

from tests.infra import provide  # noqa: E402

# Containers where a Docker engine answers, else deploy/local's servers; before any module reads the addresses.
INFRASTRUCTURE = provide()

from tests.support import KAFKA_BOOTSTRAP, create_database, drop_database  # noqa: E402


def pytest_report_header() -> str:
    return INFRASTRUCTURE.header()


@pytest.fixture
async def fresh_database() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Factory: an empty database (name prefix given), dropped after the test."""
    made: list[str] = []

    async def make(prefix: str) -> str:
        name = f"t_{prefix}_{uuid.uuid4().hex[:10]}"
        made.append(name)
        return await create_database(name)

    yield make
    for name in made:
        await drop_database(name)


@pytest.fixture
async def topic_prefix() -> AsyncIterator[str]:
    """A private copy of the contract topics on the real broker, deleted afterwards."""
    from shared.messaging.topics import ALL_TOPICS, ensure_topics
    from tests.support import delete_topics

    prefix = f"t{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    yield prefix
    await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Lets fixtures see whether the test body failed (the e2e stack prints its logs then).
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
