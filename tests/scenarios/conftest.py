"""Scenario stories: every role of every service as a real process on the real Postgres and Kafka, one stack per
module (its stories use cases of their own, so they share it), the small demo city loaded."""

from __future__ import annotations

import uuid

import pytest

from shared.messaging.topics import ALL_TOPICS, ensure_topics
from tests.e2e.stack import Stack, new_database_names
from tests.scenarios.story import City
from tests.support import KAFKA_BOOTSTRAP, ROOT, create_database, delete_topics, drop_database

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def city(tmp_path_factory):
    prefix = f"s{uuid.uuid4().hex[:10]}."
    await ensure_topics(KAFKA_BOOTSTRAP, prefix)
    names = new_database_names()
    databases = {service: await create_database(name) for service, name in names.items()}
    stack = Stack(tmp_path_factory.mktemp("scenario"), databases, prefix)
    try:
        stack.up()
        stack.run("routing", "load-city", str(ROOT / "deploy/demo/small-city.geojson"),
                  str(ROOT / "deploy/demo/small-city-people.json"))
        async with City.on(stack) as city:
            yield city
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.down()
        for name in names.values():
            await drop_database(name)
        await delete_topics(KAFKA_BOOTSTRAP, [prefix + t for t in ALL_TOPICS])
