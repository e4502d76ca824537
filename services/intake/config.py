from __future__ import annotations

import ipaddress

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings, local_database_url

DEV_HOTLINE_SECRET = "hotline-dev-secret"
DEV_OPEN311_KEY = "open311-dev-key"


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", populate_by_name=True)

    database_url: str = local_database_url("intake")
    http_port: int = 8001
    # What 12345 signs its work orders and events to us with (checked in entrypoints/hotline.py). Only this
    # direction: our callbacks to 12345 are signed with notifications' own NOTIFICATIONS_HOTLINE_CALLBACK_SECRET.
    hotline_secret: SecretStr = SecretStr(DEV_HOTLINE_SECRET)
    # The secret 12345 signed with before the current one, accepted too while a rotation is under way (empty: none).
    hotline_secret_previous: SecretStr = SecretStr("")
    # Accepted as an Open311 api_key besides the issued ones; empty disables it. Refused in production.
    open311_dev_key: SecretStr = SecretStr(DEV_OPEN311_KEY)
    # A report of the same category this close to an open case, this soon after it, is its duplicate; 0 (either)
    # turns linking off.
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

    # ---- attachments (photos and PDFs of a case: domain/attachments.py, adapters/attachment_store.py) ----
    # Where their bytes are kept: a directory (relative to the working directory, which the launchers set to the
    # project root) or a URL obstore reads: file:///abs/dir, memory:/// (tests), s3://bucket/prefix for any
    # S3-compatible store (MinIO, Aliyun OSS, ...), its credentials from the standard AWS_ACCESS_KEY_ID and
    # AWS_SECRET_ACCESS_KEY, its endpoint and region from AWS_ENDPOINT / AWS_REGION or `attachments_store_options`
    # (obstore's store and client options as JSON, e.g. {"endpoint": "https://oss-cn-hangzhou.aliyuncs.com",
    # "virtual_hosted_style_request": "true"}; a local MinIO: {"endpoint": "http://127.0.0.1:9000",
    # "allow_http": "true"}). Every API and fetcher process of a deployment must see the same store.
    attachments_url: str = ".run/attachments"
    attachments_store_options: dict[str, str] = Field(default_factory=dict)
    # Per file (413 beyond) and per case (409 beyond; failed fetches do not count).
    attachments_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)
    attachments_max_per_case: int = Field(20, ge=1, le=1000)
    # An image declaring more pixels is refused before it is decoded (a small file can unpack to gigabytes).
    attachments_max_pixels: int = Field(50_000_000, ge=1_000_000, le=200_000_000)
    # The fetcher (`python -m services.intake fetcher`): 12345 orders' attachment URLs and Open311 `media_url`s,
    # fetched in the background through shared/egress.py (no loopback, private, link-local or metadata address; no
    # redirect; at most attachments_max_bytes; one deadline per fetch). `attachments_fetch_allow_local` lets
    # loopback and private hosts through: on by default in dev and test only, refused elsewhere;
    # `attachments_fetch_allow_networks` (CIDRs, comma-separated) opens chosen private networks in any ENV (the
    # government network a city's 12345 platform serves its files on). Plain http is fetched (a photo carries no
    # secret of ours); the address rules are what keeps a fetch from reaching inside.
    attachments_fetch_allow_local: bool | None = None
    attachments_fetch_allow_networks: str = ""
    attachments_fetch_timeout_seconds: float = Field(20.0, gt=0, le=300)
    attachments_fetch_max_attempts: int = Field(5, ge=1, le=50)
    attachments_fetch_backoff_seconds: float = Field(30.0, ge=0, le=86_400)  # doubles after each failed attempt
    attachments_fetch_poll_seconds: float = Field(1.0, gt=0, le=300)
    attachments_fetch_concurrency: int = Field(2, ge=1, le=64)

    @field_validator("attachments_fetch_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"INTAKE_ATTACHMENTS_FETCH_ALLOW_NETWORKS: {item.strip()!r} is not a CIDR "
                                     "network (e.g. 10.20.0.0/16)") from exc
        return value

    def allows_local_fetches(self) -> bool:
        """Loopback and private hosts for attachment fetches: the setting, else on in dev and test only."""
        return self.is_dev if self.attachments_fetch_allow_local is None else self.attachments_fetch_allow_local

    def fetch_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item.strip(), strict=False)
                     for item in self.attachments_fetch_allow_networks.split(",") if item.strip())

    def dev_secrets(self) -> list[str]:
        left = super().dev_secrets()
        if self.hotline_secret.get_secret_value() == DEV_HOTLINE_SECRET:
            left.append("INTAKE_HOTLINE_SECRET")
        if self.open311_dev_key.get_secret_value():
            left.append("INTAKE_OPEN311_DEV_KEY (set it empty)")
        return left

    def signing_secrets(self) -> dict[str, SecretStr]:
        previous = {"INTAKE_HOTLINE_SECRET_PREVIOUS": self.hotline_secret_previous} \
            if self.hotline_secret_previous.get_secret_value() else {}
        return {**super().signing_secrets(), "INTAKE_HOTLINE_SECRET": self.hotline_secret, **previous}

    def refusals(self) -> list[str]:
        reasons = super().refusals()
        if self.attachments_fetch_allow_local:
            reasons.append("INTAKE_ATTACHMENTS_FETCH_ALLOW_LOCAL lets attachment fetches reach loopback and private "
                           "addresses: dev and test only (open a chosen network with "
                           "INTAKE_ATTACHMENTS_FETCH_ALLOW_NETWORKS)")
        return reasons
