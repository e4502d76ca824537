import pytest

from tests.e2e.stack import Stack, new_database_names
from tests.support import create_database, drop_database

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack(tmp_path, topic_prefix):
    names = new_database_names()
    databases = {service: await create_database(name) for service, name in names.items()}
    stack = Stack(tmp_path, databases, topic_prefix)
    try:
        stack.up()
        yield stack
    except Exception:
        print(stack.logs())
        raise
    finally:
        stack.down()
        for name in names.values():
            await drop_database(name)
