import pytest

from tests.e2e.stack import running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack(tmp_path, topic_prefix):
    async with running_stack(tmp_path, topic_prefix) as stack:
        yield stack
