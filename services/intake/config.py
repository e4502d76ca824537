from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

DEV_HOTLINE_SECRET = "hotline-dev-secret"
DEV_OPEN311_KEY = "open311-dev-key"


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    database_url: str = "postgresql://intake:intake@127.0.0.1:5432/intake"
    http_port: int = 8001
    # What 12345 signs its work orders and events to us with (checked in entrypoints/hotline.py). Only this
    # direction: our callbacks to 12345 are signed with notifications' own NOTIFICATIONS_HOTLINE_CALLBACK_SECRET.
    hotline_secret: SecretStr = SecretStr(DEV_HOTLINE_SECRET)
    # Accepted as an Open311 api_key besides the issued ones; empty disables it. Refused in production.
    open311_dev_key: SecretStr = SecretStr(DEV_OPEN311_KEY)
    # A report of the same category this close to an open case, this soon after it, is its duplicate.
    duplicate_radius_m: float = Field(50.0, ge=0)
    duplicate_window_hours: float = Field(24.0, ge=0)
    # Group commit of reports (service_layer/group_commit.py): at most this many reports per write, and this many
    # writes under way at once per API process. One is the fastest measured (bench intake, 2 processes: 4,900
    # req/s with 1, 4,000 with 2, 3,400 with 4): the reports arriving during a write make the next one larger.
    report_batch_max: int = Field(64, ge=1, le=1000)
    report_committers: int = Field(1, ge=1, le=64)
    # The resumer (entrypoints/resumer.py): how often it looks for 挂起 whose `until` has come, and how many per pass.
    resume_poll_seconds: float = Field(1.0, gt=0, le=300)
    resume_batch: int = Field(100, ge=1, le=10_000)
    # Each Open311 api_key's share: requests a minute (429 with Retry-After beyond it).
    open311_requests_per_minute: int = Field(30, ge=1, le=100_000)

    def dev_secrets(self) -> list[str]:
        left = super().dev_secrets()
        if self.hotline_secret.get_secret_value() == DEV_HOTLINE_SECRET:
            left.append("INTAKE_HOTLINE_SECRET")
        if self.open311_dev_key.get_secret_value():
            left.append("INTAKE_OPEN311_DEV_KEY (set it empty)")
        return left

    def signing_secrets(self) -> dict[str, SecretStr]:
        return {**super().signing_secrets(), "INTAKE_HOTLINE_SECRET": self.hotline_secret}
