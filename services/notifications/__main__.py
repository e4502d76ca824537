"""python -m services.notifications api|consume|relay|deliver|sms-gateway|migrate|dead-letters"""

from pathlib import Path

from services.notifications.bootstrap import NAME, bootstrap
from services.notifications.config import NotificationsSettings
from services.notifications.entrypoints.deliverer import run_deliverer
from shared.cli import service_cli
from shared.logging import configure_logging

cli = service_cli(NAME, Path(__file__).parent, NotificationsSettings, bootstrap,
                  workers={"deliver": ("Send pending deliveries (retries with backoff; one send per delivery).",
                                       run_deliverer)})


@cli.command("sms-gateway")
def sms_gateway() -> None:
    """Run the local gateway that records SMS, 12345 callbacks and mail (SMTP sink) (development and tests)."""
    # Imported here: its SMTP sink (aiosmtpd) is the `gateway` extra, which production installs do not have.
    import uvicorn

    from services.notifications.adapters.local_sms_gateway import create_gateway_app

    settings = NotificationsSettings()
    if not settings.is_dev:  # it records phone numbers and texts and takes orders to fail: never a deployment's
        raise SystemExit("the local gateway is for development and tests only (ENV=dev or test), "
                         f"not ENV={settings.env}")
    configure_logging(NAME, "sms-gateway", settings.log_level)
    # Its records and controls answer loopback clients only, however it is bound (compose binds 0.0.0.0 so the
    # other containers can send to it).
    app = create_gateway_app(Path(settings.sms_gateway_log), settings.hotline_callback_secret.get_secret_value(),
                             smtp_port=settings.smtp_sink_port, smtp_host=settings.sms_gateway_host)
    uvicorn.run(app, host=settings.sms_gateway_host, port=settings.sms_gateway_port, log_config=None,
                access_log=False)


if __name__ == "__main__":
    cli()
