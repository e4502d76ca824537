"""python -m services.notifications api|consume|relay|deliver|sms-gateway|migrate|dead-letters"""

from pathlib import Path

import uvicorn

from services.notifications.bootstrap import NAME, bootstrap
from services.notifications.config import NotificationsSettings
from services.notifications.entrypoints.deliverer import run_deliverer
from services.notifications.entrypoints.http import create_app
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(NAME, Path(__file__).parent, NotificationsSettings, bootstrap, create_app,
                  workers={"deliver": ("Send pending deliveries (retries with backoff; one send per delivery).",
                                       run_deliverer)})


@cli.command("sms-gateway")
def sms_gateway() -> None:
    """Run the local gateway that records SMS, 12345 callbacks and mail (SMTP sink) (development and tests)."""
    # Imported here: its SMTP sink (aiosmtpd) is the `gateway` extra, which production installs do not have.
    from services.notifications.adapters.local_sms_gateway import create_gateway_app

    settings = NotificationsSettings()
    configure_logging(NAME, "sms-gateway", settings.log_level)
    app = create_gateway_app(Path(settings.sms_gateway_log), settings.hotline_secret.get_secret_value(),
                             smtp_port=settings.smtp_sink_port, smtp_host=settings.sms_gateway_host,
                             webhook_secret=settings.webhook_secret.get_secret_value())
    uvicorn.run(app, host=settings.sms_gateway_host, port=settings.sms_gateway_port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    cli()
