"""python -m services.intake api|consume|relay|migrate|dead-letters"""

from pathlib import Path

from services.intake.bootstrap import NAME, bootstrap
from services.intake.config import IntakeSettings
from services.intake.entrypoints.http import create_app
from shared.cli import service_cli

cli = service_cli(NAME, Path(__file__).parent, IntakeSettings, bootstrap, create_app)

if __name__ == "__main__":
    cli()
