"""python -m services.intake api|consume|relay|resumer|fetcher|migrate|dead-letters"""

from pathlib import Path

from services.intake.bootstrap import NAME, bootstrap
from services.intake.config import IntakeSettings
from services.intake.entrypoints.fetcher import run_fetcher
from services.intake.entrypoints.resumer import run_resumer
from shared.cli import service_cli

cli = service_cli(NAME, Path(__file__).parent, IntakeSettings, bootstrap,
                  workers={"resumer": ("End each 挂起 whose `until` has come (run one or more).", run_resumer),
                           "fetcher": ("Fetch the files 12345 orders and Open311 requests came with (run one or more).",
                                       run_fetcher)})

if __name__ == "__main__":
    cli()
