import pytest

from services.intake.config import IntakeSettings
from services.intake.entrypoints.http import create_app
from shared.db.migrate import migrate
from tests.support import SERVICE_DIRS, serving

pytestmark = pytest.mark.integration

HOTLINE_SECRET = "hotline-integration-secret"


@pytest.fixture
async def intake(fresh_database):
    dsn = await fresh_database("intake")
    await migrate(dsn, SERVICE_DIRS["intake"])
    app = create_app(IntakeSettings(database_url=dsn, hotline_secret=HOTLINE_SECRET))
    async with serving(app) as client:
        client.dsn = dsn
        yield client


