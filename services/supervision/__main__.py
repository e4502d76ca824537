"""python -m services.supervision api|consume|relay|ticker|migrate|dead-letters"""

from pathlib import Path

from services.supervision.bootstrap import NAME, bootstrap
from services.supervision.config import SupervisionSettings
from services.supervision.entrypoints.ticker import run_ticker
from shared.cli import service_cli

cli = service_cli(NAME, Path(__file__).parent, SupervisionSettings, bootstrap,
                  workers={"ticker": ("Fire due lights and 督办 levels (run one or more).", run_ticker)},
                  unyielding=("ticker",))

if __name__ == "__main__":
    cli()
