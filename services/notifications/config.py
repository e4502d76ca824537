from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

DEV_HOTLINE_SECRET = "hotline-dev-secret"
DEV_WEBHOOK_SECRET = "webhook-dev-secret"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://notifications:notifications@127.0.0.1:5432/notifications"
    http_port: int = 8004
    sms_url: str = "http://127.0.0.1:8025/sms"
    # 12345 status callbacks (signed like the 12345 webhook); the local gateway records them.
    hotline_callback_url: str = "http://127.0.0.1:8025/webhook"
    hotline_secret: SecretStr = SecretStr(DEV_HOTLINE_SECRET)
    # Signs webhooks to subscribers (X-Grid-Signature), the same HMAC scheme as 12345's.
    webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)
    sms_timeout_seconds: float = 5.0
    # Chinese SMS go as UCS-2: 70 characters alone, 67 per part; longer texts are cut to this many parts.
    sms_max_segments: int = Field(3, ge=1, le=10)
    # Non-urgent SMS wait this long to gather a burst to one phone into one message, and a phone gets at
    # most one non-urgent SMS per window (red lights, yellow-card, red-card and leader 督办, emergencies go at once).
    sms_bundle_seconds: float = Field(60.0, ge=0)
    # Night for everyone's phone (Shanghai time): non-urgent SMS wait until it ends; red lights, 督办 from the
    # yellow card up (it fires at the red light) and emergencies never wait. A subscription's own quiet hours
    # replace it; "" turns it off.
    sms_quiet_hours: str = Field("22:00-07:00", pattern=r"^(([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)?$")

    def quiet_hours(self) -> tuple[str, str] | None:
        start, _, end = self.sms_quiet_hours.partition("-")
        return (start, end) if start and start != end else None
    delivery_max_attempts: int = 6
    delivery_backoff_seconds: float = 1.0
    deliver_batch: int = 100
    # Sends under way at once in one deliverer (one receiver's still go one after the other), so a slow
    # provider does not hold the others up. Kept small: httpx's pool scans every connection on each request,
    # so against the local gateway 4 gave 1,100 SMS/s at 0.74 ms CPU each, 16 gave 640/s at 1.4 ms.
    deliver_concurrency: int = 4
    # Email over SMTP; the local gateway's sink listens on smtp_sink_port in development.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_from: str = "grid-notifications@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    # The local gateway (development and tests): SMS and webhooks over HTTP, an SMTP sink, one log.
    sms_gateway_host: str = "127.0.0.1"
    sms_gateway_port: int = 8025
    smtp_sink_port: int = 1025
    sms_gateway_log: str = ".run/sms-gateway.jsonl"

    def dev_secrets(self) -> list[str]:
        left = super().dev_secrets()
        if self.hotline_secret.get_secret_value() == DEV_HOTLINE_SECRET:
            left.append("NOTIFICATIONS_HOTLINE_SECRET")
        if self.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET:
            left.append("NOTIFICATIONS_WEBHOOK_SECRET")
        return left

    def signing_secrets(self) -> dict[str, SecretStr]:
        return {**super().signing_secrets(), "NOTIFICATIONS_HOTLINE_SECRET": self.hotline_secret,
                "NOTIFICATIONS_WEBHOOK_SECRET": self.webhook_secret}
