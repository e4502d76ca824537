"""Scenario stories: every role of every service as a real process on the real Postgres and Kafka, one stack per
module (its stories use cases of their own, so they share it), the small demo city loaded."""

from __future__ import annotations

import uuid

import pytest

from shared.messaging.topics import ALL_TOPICS, ensure_topics
from tests.e2e.stack import running_stack
from tests.scenarios.story import City
from tests.support import KAFKA_BOOTSTRAP, ROOT, delete_topics

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def city(tmp_path_factory):
    prefix = f"s{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    try:
        async with running_stack(tmp_path_factory.mktemp("scenario"), prefix) as stack:
            stack.run("routing", "load-city", str(ROOT / "deploy/demo/small-city.geojson"),
                      str(ROOT / "deploy/demo/small-city-people.json"))
            async with City.on(stack) as city:
                yield city
    finally:
        await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])
