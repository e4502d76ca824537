import httpx
import pytest

from services.intake.config import IntakeSettings
from services.intake.entrypoints.http import create_app
from shared.db.migrate import migrate
from tests.support import SERVICE_DIRS

pytestmark = pytest.mark.integration

HOTLINE_SECRET = "hotline-integration-secret"


@pytest.fixture
async def intake(fresh_database):
    dsn = await fresh_database("intake")
    await migrate(dsn, SERVICE_DIRS["intake"])
    app = create_app(IntakeSettings(database_url=dsn, hotline_secret=HOTLINE_SECRET))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://intake") as client:
            client.app = app
            client.dsn = dsn
            yield client


