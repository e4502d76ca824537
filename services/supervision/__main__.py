"""python -m services.supervision api|consume|relay|ticker|migrate|dead-letters"""

import asyncio
from pathlib import Path

from services.supervision.bootstrap import NAME, bootstrap
from services.supervision.config import SupervisionSettings
from services.supervision.entrypoints.http import create_app
from services.supervision.entrypoints.ticker import run_ticker
from shared.cli import service_cli
from shared.logging import configure_logging
from shared.runtime import run_until_stopped

cli = service_cli(NAME, Path(__file__).parent, SupervisionSettings, bootstrap, create_app)


@cli.command()
def ticker() -> None:
    """Fire due lights and 督办 levels (run one or more)."""
    settings = SupervisionSettings()
    configure_logging(NAME, "ticker", settings.log_level)

    async def work(stop: asyncio.Event) -> None:
        container = await bootstrap(settings)
        try:
            await run_ticker(container, stop)
        finally:
            await container.close()

    asyncio.run(run_until_stopped(work))


if __name__ == "__main__":
    cli()
